"""tinycnn.checks: one rule for every argument, wrong type -> TypeError, wrong value -> ValueError,
the message naming the argument and what was expected."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn import checks


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(200)])
def test_positive_int_gives_a_python_int(value):
    result = checks.positive_int(value, "n")
    assert result == value and type(result) is int


@pytest.mark.parametrize("value", [0, -1, np.int32(-5)])
def test_positive_int_refuses_values_below_one(value):
    with pytest.raises(ValueError, match=r"n must be a positive integer, got"):
        checks.positive_int(value, "n")


@pytest.mark.parametrize("value", [2.0, 2.5, "3", None, True, np.bool_(True), [1], np.array(3)])
def test_positive_int_refuses_what_is_not_an_integer_with_a_type_error(value):
    with pytest.raises(TypeError, match=r"n must be a positive integer, got"):
        checks.positive_int(value, "n")


def test_non_negative_int_and_integer():
    assert checks.non_negative_int(0, "padding") == 0
    with pytest.raises(ValueError, match=r"padding must be a non-negative integer, got -1"):
        checks.non_negative_int(-1, "padding")
    with pytest.raises(TypeError, match=r"padding must be a non-negative integer"):
        checks.non_negative_int(1.0, "padding")
    assert checks.integer(16, "image_size", minimum=16) == 16
    with pytest.raises(ValueError, match=r"image_size must be an integer >= 16, got 8"):
        checks.integer(8, "image_size", minimum=16)
    with pytest.raises(TypeError, match=r"image_size must be an integer, got 'big'"):
        checks.integer("big", "image_size", minimum=16)


@pytest.mark.parametrize(
    "low, high, low_open, high_open, inside, outside",
    [
        (0.0, 1.0, False, False, [0.0, 0.5, 1.0], [-1e-9, 1.5]),
        (0.0, 1.0, False, True, [0.0, 0.999], [1.0, -0.1]),
        (0.0, None, True, False, [1e-300, 5.0, 1e300], [0.0, -1.0]),
        (None, None, False, False, [-1e300, 0.0, 3], []),
    ],
)
def test_real_number_ranges(low, high, low_open, high_open, inside, outside):
    for value in inside:
        assert checks.real_number(value, "a", low, high, low_open, high_open) == value
    for value in outside:
        with pytest.raises(ValueError, match=r"a must be a "):
            checks.real_number(value, "a", low, high, low_open, high_open)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32(np.nan), 10**400])
def test_real_number_refuses_what_is_not_finite(value):
    with pytest.raises(ValueError, match="lr must be a finite number"):
        checks.real_number(value, "lr")
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        checks.probability(value, "threshold")


@pytest.mark.parametrize("value", ["0.5", None, True, [0.5], np.array([0.5]), 1j, object()])
def test_real_number_refuses_other_types(value):
    with pytest.raises(TypeError, match="rate must be a real number"):
        checks.real_number(value, "rate", low=0.0)


def test_flag():
    assert checks.flag(np.bool_(False), "clutter") is False
    with pytest.raises(TypeError, match="clutter must be True or False, got 1"):
        checks.flag(1, "clutter")


@pytest.mark.parametrize("dtype", [np.float32, "float64", np.dtype(np.float32), float])
def test_float_dtype_accepts_the_two_float_dtypes(dtype):
    assert checks.float_dtype(dtype) in checks.FLOAT_DTYPES


@pytest.mark.parametrize(
    "dtype", [int, np.int8, bool, np.complex64, np.float16, None, "junk", 3, np.zeros(2)]
)
def test_float_dtype_refuses_everything_else(dtype):
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        checks.float_dtype(dtype)


def test_float_array():
    x = np.zeros((2, 3), np.float32)
    assert checks.float_array(x, "x", ndim=2) is x
    with pytest.raises(TypeError, match="x must be a numpy array, got list"):
        checks.float_array([[0.0]], "x")
    with pytest.raises(TypeError, match="x must be float32 or float64, got int64"):
        checks.float_array(np.zeros(2, np.int64), "x")
    with pytest.raises(ValueError, match=r"x must be 4-dimensional \(N, C, H, W\), got shape"):
        checks.float_array(x, "x", ndim=4, layout="(N, C, H, W)")
    # Floats in the other byte order (read from a file written elsewhere): said, with the fix.
    foreign = x.astype(x.dtype.newbyteorder("S"))
    with pytest.raises(TypeError, match=r"byte order, got [<>]f4 \(x.astype\(np.float32\)"):
        checks.float_array(foreign, "x")


def test_shape():
    assert checks.shape([1, 64, 64], "input_shape") == (1, 64, 64)
    with pytest.raises(TypeError, match="input_shape must be a tuple of positive integers"):
        checks.shape(64, "input_shape")
    with pytest.raises(ValueError, match=r"input_shape\[2\] must be a positive integer, got -3"):
        checks.shape((1, 2, -3), "input_shape")
    with pytest.raises(ValueError, match=r"input_shape must hold 3 sizes"):
        checks.shape((1, 2), "input_shape", ndim=3)


def test_rng():
    generator = np.random.default_rng(0)
    assert checks.rng(generator) is generator
    assert checks.rng(3).random() == np.random.default_rng(3).random()
    assert isinstance(checks.rng(None), np.random.Generator)
    with pytest.raises(TypeError, match="rng must be a numpy Generator, an int seed or None"):
        checks.rng("seed")
    with pytest.raises(TypeError, match="rng must be"):
        checks.rng(True)
    with pytest.raises(ValueError, match=r"rng \(a seed\) must be a non-negative integer"):
        checks.rng(-1)


@given(st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.none(), st.booleans()))
def test_every_check_either_returns_or_raises_the_rule_s_errors(value):
    for check in (
        checks.positive_int,
        checks.non_negative_int,
        checks.probability,
        checks.flag,
        checks.real_number,
    ):
        try:
            check(value, "argument")
        except (TypeError, ValueError) as error:
            assert "argument" in str(error)


def test_one_example_without_its_batch_axis_is_told_how_to_add_it():
    with pytest.raises(ValueError, match=r"got shape \(1, 4, 4\): .* batch of one, x\[None\]"):
        checks.float_array(np.zeros((1, 4, 4), np.float32), "x", ndim=4, layout="(N, C, H, W)")


def test_one_number_takes_a_real_number_in_any_numpy_wrapping_and_nothing_else():
    for value in (2, 2.5, np.float32(2.5), np.int64(2), np.array(2.5), np.array([[2.5]])):
        assert checks.one_number(value) == float(np.asarray(value).item())
        assert type(checks.one_number(value)) is float
    for value in (True, np.bool_(False), np.array([True]), "2", None, [2.5], np.zeros(2)):
        assert checks.one_number(value) is None


def test_memory_bytes_is_this_machine_s_memory_at_most():
    memory = checks.memory_bytes()
    assert isinstance(memory, int) and 2**28 <= memory
    try:
        import os

        assert memory <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        assert memory <= checks.FALLBACK_MEMORY


def test_memory_bytes_falls_back_where_the_system_does_not_say(monkeypatch):
    import os

    def no_sysconf(name):
        raise ValueError(f"unknown {name}")

    monkeypatch.setattr(os, "sysconf", no_sysconf)
    checks._machine_memory.cache_clear()
    try:
        assert 0 < checks.memory_bytes() <= checks.FALLBACK_MEMORY
    finally:
        monkeypatch.undo()
        checks._machine_memory.cache_clear()


def test_memory_bytes_counts_what_is_left_of_an_address_space_limit():
    # ulimit -v in a child process: what the process already took counts against it
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS and /proc/self/statm are Linux's")
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30)); "
        "from tinycnn import checks; print(checks.memory_bytes())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    left = int(result.stdout)
    assert 0 < left < 6 * 2**30


def test_fits_in_memory_refuses_more_than_the_machine_holds_by_name(monkeypatch):
    monkeypatch.setattr(checks, "memory_bytes", lambda: 10**9)
    assert checks.fits_in_memory(10**9, "n", "images") == 10**9
    with pytest.raises(ValueError, match=r"^n is too large: images \(5, 64\) would need 1.5 GB, "):
        checks.fits_in_memory(1_500_000_000, "n", "images (5, 64)")
    with pytest.raises(ValueError, match=r"would need 2.0 MB, more than this machine can hold"):
        monkeypatch.setattr(checks, "memory_bytes", lambda: 10**6)
        checks.fits_in_memory(2 * 10**6, "n", "images")
    # sizes far past int64 and float64 are counted in Python ints and still worded
    with pytest.raises(ValueError, match=r"^hidden is too large: .* about 10\^400 bytes"):
        checks.fits_in_memory(10**400, "hidden", "weights")


# --- the checks' own bounds (audit4 LOW bag): a slip in the calling code is named too ------------


@pytest.mark.parametrize("bound", ["a", 2.5, [3], True])
def test_integer_bounds_must_be_integers(bound):
    with pytest.raises(TypeError, match=r"^positive_int's maximum must be an integer or None"):
        checks.positive_int(3, "n", maximum=bound)
    with pytest.raises(TypeError, match=r"^integer's minimum must be an integer or None"):
        checks.integer(5, "i", minimum=bound)


@pytest.mark.parametrize("bound", ["a", [0], True, 1j])
def test_real_number_bounds_must_be_real_numbers(bound):
    with pytest.raises(TypeError, match=r"^real_number's low must be a real number or None"):
        checks.real_number(0.5, "x", low=bound)
    with pytest.raises(TypeError, match=r"^real_number's high must be a real number or None"):
        checks.real_number(0.5, "x", high=bound)


@given(low=st.floats(-10, 10), high=st.floats(-10, 10))
def test_real_number_refuses_a_range_that_nothing_can_pass(low, high):
    if low <= high:
        assert checks.real_number(low, "x", low=low, high=high) == low
    else:
        with pytest.raises(ValueError, match=r"^real_number's low must be <= its high"):
            checks.real_number(0.5, "x", low=low, high=high)


@pytest.mark.parametrize(
    "arguments, error, match",
    [
        ({"ndim": "a"}, TypeError, "ndim must be a non-negative integer"),
        ({"ndim": -1}, ValueError, "ndim must be a non-negative integer"),
        ({"min_ndim": 1.0}, TypeError, "min_ndim must be a non-negative integer"),
        ({"ndim": 2, "layout": 2}, TypeError, "layout must be a string or None"),
        ({"layout": "(N, D)"}, ValueError, "layout describes ndim or min_ndim"),
    ],
)
def test_float_array_names_its_own_bad_arguments(arguments, error, match):
    with pytest.raises(error, match=rf"^float_array's {match}"):
        checks.float_array(np.zeros((2, 2)), "x", **arguments)


@pytest.mark.parametrize("value", [[1.0, 2.0], [[1, 2], [3, 4]], np.zeros((2, 3)), 5, "ab"])
def test_as_array_gives_what_numpy_makes_of_the_value(value):
    np.testing.assert_array_equal(checks.as_array(value, "x"), np.asarray(value))


@pytest.mark.parametrize("value", [[[1.0, 2.0], [3.0]], [[0.5], 0.5], [np.zeros(2), np.zeros(3)]])
def test_as_array_names_a_list_whose_rows_differ_in_length(value):
    """numpy's ValueError ("inhomogeneous shape") named no argument."""
    with pytest.raises(TypeError, match=r"^boxes must be an array of numbers, got a list whose"):
        checks.as_array(value, "boxes")


class _Unreadable:
    """An object whose array interface fails: numpy's TypeError names no argument."""

    def __array__(self, dtype=None, copy=None):
        raise TypeError("no array here")


def test_as_array_names_an_object_numpy_cannot_read():
    with pytest.raises(TypeError, match=r"^x must be an array of numbers, got a _Unreadable"):
        checks.as_array(_Unreadable(), "x")


@pytest.mark.parametrize("value", [[1, 2], [[0.5], [1.5]], np.arange(3, dtype=np.float32), 7])
def test_real_array_is_a_new_float64_array_of_the_numbers(value):
    array = checks.real_array(value, "x")
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, np.asarray(value))


def test_real_array_copies_even_a_float64_array():
    value = np.zeros(3)
    checks.real_array(value, "x")[0] = 1.0
    assert value[0] == 0.0


@pytest.mark.parametrize(
    "value, got",
    [
        (None, "None"),
        ("12", r"'12' \(str\)"),
        ({"a": 1}, r"\{'a': 1\} \(dict\)"),
        ([True, False], r"\[True, False\] \(list\)"),
        (np.array([1j]), "an ndarray of dtype complex128"),
        (np.array([True]), "an ndarray of dtype bool"),
    ],
)
def test_real_array_names_what_holds_no_real_numbers(value, got):
    with pytest.raises(TypeError, match=rf"^weights must be an array of real numbers, got {got}$"):
        checks.real_array(value, "weights")
