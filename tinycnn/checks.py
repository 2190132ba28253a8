"""Argument checks: the one place where tinycnn says what it accepts.

One rule for all of them: an argument of the wrong type raises `TypeError`, an argument of the right
type with a wrong value raises `ValueError`, and the message names the argument and what was
expected. Each check returns the value in the form the caller keeps (an int, a float, a dtype, ...),
so a constructor reads `self.stride = positive_int(stride, "stride")`.

Everything public checks, the compiled loops assume: every public function checks its arguments
with these before any loop runs (the public kernels too, through `tinycnn.kernels.arguments`), and
the numba loops inside the kernels trust what they are given.
"""

import functools
import math
import numbers
import os

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
"""The dtypes tinycnn computes in: images, weights and gradients are float32 or float64."""

FALLBACK_MEMORY = 64 * 2**30
"""The memory `memory_bytes` assumes where the system does not say (os.sysconf is missing on
Windows): 64 GiB, so that a size refused there is one no laptop could hold anyway."""

MAX_SIZE = 2**31 - 1
"""Largest kernel size or stride a layer accepts, so that every index the kernels compute fits in
their 64-bit integers."""


def integer(value, name, minimum=None):
    """Return value as an int; TypeError unless it is an integer (not a bool), ValueError if it is
    below `minimum`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    if minimum is not None and value < _bound(minimum, "integer's minimum", numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive_int(value, name, maximum=None):
    """Return value as an int; TypeError unless it is an integer, ValueError unless it is >= 1
    (and <= maximum, if given)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {_describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if maximum is not None and value > _bound(maximum, "positive_int's maximum", numbers.Integral):
        raise ValueError(f"{name} must be a positive integer <= {maximum}, got {value!r}")
    return int(value)


def non_negative_int(value, name):
    """Return value as an int; TypeError unless it is an integer, ValueError unless it is >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative integer, got {_describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def real_number(value, name, low=None, high=None, low_open=False, high_open=False):
    """Return value as a float; TypeError unless it is a real number (not a bool, a string or an
    array), ValueError unless it is finite and in the range [low, high] (an end is left out with
    low_open / high_open; None means unbounded on that side)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    if low is not None or high is not None:
        _check_range(low, high)
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf if value > 0 else -math.inf
    if not math.isfinite(number) or _outside(number, low, high, low_open, high_open):
        # "a number in [0, 1]" says finite already; "a finite number >= 0" must say it
        bounded = low is not None and high is not None
        allowed = _range(low, high, low_open, high_open)
        expected = f"a number {allowed}" if bounded else f"a finite number {allowed}".rstrip()
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return number


def probability(value, name):
    """Return value as a float; TypeError unless it is a real number, ValueError unless it is in
    [0, 1]. For thresholds, fractions and rates."""
    return real_number(value, name, low=0.0, high=1.0)


def flag(value, name):
    """Return value as a bool; TypeError unless it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_describe(value)}")
    return bool(value)


def one_number(value):
    """value as a float if it is one real number (not a bool; a numpy scalar or an array of
    size 1 counts), None otherwise: for results a function must return, whose message the
    caller words."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def float_dtype(dtype, name="dtype"):
    """Return dtype as a numpy dtype; TypeError unless it names float32 or float64."""
    if dtype is None or isinstance(dtype, (bool, int, float, np.ndarray)):
        raise TypeError(f"{name} must be float32 or float64, got {_describe(dtype)}")
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from error
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype}")
    return dtype


def float_array(x, name, ndim=None, layout=None, min_ndim=None):
    """Return x unchanged; TypeError unless it is a float32 or float64 numpy array, ValueError
    unless it has `ndim` dimensions (described by `layout`, e.g. "(N, C, H, W)"), or at least
    `min_ndim`."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if ndim is not None or min_ndim is not None or layout is not None:
        _check_dimensions(ndim, layout, min_ndim)
    if x.dtype not in FLOAT_DTYPES:
        if x.dtype.kind == "f" and x.dtype.newbyteorder("=") in FLOAT_DTYPES:
            native = x.dtype.newbyteorder("=").name
            raise TypeError(
                f"{name} must be float32 or float64 in this machine's byte order, got "
                f"{x.dtype.str} ({name}.astype(np.{native}) converts it)"
            )
        raise TypeError(
            f"{name} must be float32 or float64, got {x.dtype} "
            "(convert images to floats in [0, 1] first)"
        )
    if ndim is not None and x.ndim != ndim:
        hint = ""
        if x.ndim == ndim - 1 and layout and layout.startswith("(N"):
            hint = f": for a single example, pass a batch of one, {name}[None]"
        layout = f" {layout}" if layout else ""
        raise ValueError(f"{name} must be {ndim}-dimensional{layout}, got shape {x.shape}{hint}")
    if min_ndim is not None and x.ndim < min_ndim:
        layout = f" {layout}" if layout else ""
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions{layout}, got shape {x.shape}"
        )
    return x


def as_array(value, name):
    """Return np.asarray(value); TypeError naming `name` where numpy can make no array of it: a
    nested list whose rows differ in length (numpy's own ValueError names no argument), or an
    object numpy cannot read. The caller checks the dtype and shape it needs."""
    try:
        return np.asarray(value)
    except ValueError as error:
        raise TypeError(
            f"{name} must be an array of numbers, got a {type(value).__name__} whose rows differ "
            "in length (no array)"
        ) from error
    except TypeError as error:
        raise TypeError(
            f"{name} must be an array of numbers, got a {type(value).__name__} numpy cannot read "
            f"as an array ({error})"
        ) from error


def real_array(value, name, expected="an array of real numbers"):
    """value (an array, or nested lists, of real numbers) as a new float64 array; TypeError naming
    `name` (which must be `expected`) for anything else, showing the value as given: numpy would
    read True as 1.0, None as NaN, a string of digits as its number, and a complex number without
    its imaginary part."""
    array = as_array(value, name)
    if array.dtype.kind not in "iuf":
        if isinstance(value, np.ndarray):
            raise TypeError(f"{name} must be {expected}, got an ndarray of dtype {array.dtype}")
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}")
    return array.astype(np.float64)


def shape(value, name, ndim=None):
    """Return value as a tuple of positive ints (an array's shape without the batch axis, say);
    TypeError unless it is a tuple or list of integers, ValueError for a size below 1 or a
    length other than ndim."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of positive integers, got {_describe(value)}")
    if ndim is not None and len(value) != ndim:
        raise ValueError(f"{name} must hold {ndim} sizes, got {tuple(value)!r}")
    return tuple(positive_int(size, f"{name}[{index}]") for index, size in enumerate(value))


def memory_bytes():
    """The most memory, in bytes, this process can still take: this machine's physical memory
    (os.sysconf), or less where a container's limit (cgroup memory.max) or what is left of the
    process's address-space limit (RLIMIT_AS, as `ulimit -v` sets it) says so;
    FALLBACK_MEMORY where the system does not say."""
    return min(_machine_memory(), _address_space_left())


@functools.cache
def _machine_memory():
    try:
        limits = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    except (AttributeError, ValueError, OSError):
        limits = [FALLBACK_MEMORY]
    try:
        with open("/sys/fs/cgroup/memory.max") as file:
            limits.append(int(file.read()))
    except (OSError, ValueError):  # no cgroup v2, or "max": no limit
        pass
    return min(limit for limit in limits if limit > 0)


def _address_space_left():
    try:
        import resource

        soft_limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):
        return math.inf
    if soft_limit == resource.RLIM_INFINITY:
        return math.inf
    try:  # the address space already taken counts against the limit
        with open("/proc/self/statm") as file:
            taken = int(file.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        taken = 0
    return max(soft_limit - taken, 0)


def fits_in_memory(n_bytes, name, what):
    """Return n_bytes; ValueError naming the argument `name` if `what` (e.g. "images (10, 1, 64,
    64) float32") would need n_bytes, more than this machine can hold (`memory_bytes`).

    Call it with the size computed from the arguments (Python ints: no overflow, whatever their
    size), BEFORE allocating or looping: a mistaken size is refused at once, not after gigabytes
    were taken, nor by numpy's own messages that name no argument. name may be "a and b" when
    two sizes are at fault together."""
    limit = memory_bytes()
    if n_bytes > limit:
        verb = "are" if " and " in name else "is"
        raise ValueError(
            f"{name} {verb} too large: {what} would need {_bytes(n_bytes)}, more than this "
            f"machine can hold ({_bytes(limit)} of memory)"
        )
    return n_bytes


def _bytes(n_bytes):
    """A number of bytes as a person reads it: "2.5 GB", "0.4 MB", or a power of ten."""
    if n_bytes >= 10**18:
        return f"about 10^{len(str(n_bytes)) - 1} bytes"
    if n_bytes >= 10**8:
        return f"{n_bytes / 1e9:,.1f} GB"
    return f"{n_bytes / 1e6:.1f} MB"


def rng(value, name="rng"):
    """Return a numpy Generator: value itself, or a new one seeded by value (an int >= 0 or None).
    TypeError for anything else."""
    if isinstance(value, np.random.Generator):
        return value
    if value is None:
        return np.random.default_rng()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be a numpy Generator, an int seed or None, got {_describe(value)}"
        )
    return np.random.default_rng(non_negative_int(value, f"{name} (a seed)"))


def _bound(bound, what, kind):
    """A bound given to a check (a slip in tinycnn's own code, not a user's argument): returned
    if it is a number of `kind`, TypeError otherwise."""
    if isinstance(bound, (bool, np.bool_)) or not isinstance(bound, kind):
        expected = "an integer" if kind is numbers.Integral else "a real number"
        raise TypeError(f"{what} must be {expected} or None, got {_describe(bound)}")
    return bound


def _check_range(low, high):
    """real_number's low and high: numbers or None, low <= high (else nothing could pass)."""
    for bound, what in ((low, "low"), (high, "high")):
        if bound is not None:
            _bound(bound, f"real_number's {what}", numbers.Real)
    if low is not None and high is not None and low > high:
        raise ValueError(f"real_number's low must be <= its high, got low={low}, high={high}")


def _check_dimensions(ndim, layout, min_ndim):
    """float_array's ndim and min_ndim (non-negative ints or None) and layout (a string shown
    with one of them)."""
    for bound, what in ((ndim, "ndim"), (min_ndim, "min_ndim")):
        if bound is not None:
            non_negative_int(bound, f"float_array's {what}")
    if layout is not None:
        if not isinstance(layout, str):
            raise TypeError(
                f"float_array's layout must be a string or None, got {_describe(layout)}"
            )
        if ndim is None and min_ndim is None:
            raise ValueError(
                "float_array's layout describes ndim or min_ndim: give one of them with it, "
                f"got layout={layout!r} alone"
            )


def _outside(value, low, high, low_open, high_open):
    if low is not None and (value <= low if low_open else value < low):
        return True
    return high is not None and (value >= high if high_open else value > high)


def _range(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def _describe(value):
    """A short description of a wrong value: its repr if short, else its type."""
    if value is None:
        return "None"
    text = repr(value)
    return f"{text} ({type(value).__name__})" if len(text) <= 40 else f"a {type(value).__name__}"
