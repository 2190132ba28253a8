"""What `import tinycnn` changes in the process, and why: threads, fork safety, memory.

Three settings, all made once, at import:

1. **numba's threading layer: `workqueue`** (unless you set `NUMBA_THREADING_LAYER` yourself).
   tinycnn's kernels run in parts on threads of their own (kernels/threads.py), not on numba's
   thread pool; but asking numba how many threads to use (`numba.get_num_threads`: a kernel
   is cut into that many parts, and `numba.set_num_threads` changes it) starts that pool, and a
   learner's own `prange` loops run on it. numba has three pools, which differ in safety:

   | layer       | after `fork`                          | parallel loops from several threads |
   |-------------|---------------------------------------|-------------------------------------|
   | `omp` (GNU) | the child aborts ("fork() called from | safe                                |
   |             | a process already using GNU OpenMP")  |                                     |
   | `workqueue` | safe                                  | aborts, unless calls take turns     |
   | `tbb`       | safe, except a fork while another     | safe                                |
   |             | thread runs parallel loops: the child |                                     |
   |             | hung in 1 run of 4                    |                                     |

   Learners fork in data loaders and parameter sweeps (`multiprocessing`'s default on Linux
   before Python 3.14), and call models from thread pools: both give the right answer and never
   hang (tests/test_fork.py). Kernel calls also take turns (`one_at_a_time`, a lock around every
   kernel call): each kernel uses every core, so two at once would only fight. The lock is
   replaced in a forked child, so a fork taken while another thread runs a kernel cannot leave
   the child waiting on it. For your own `prange` loops you may choose another layer with
   `NUMBA_THREADING_LAYER` (for `tbb`, after `pip install tbb`: `load_tbb` then loads the
   wheel's library, which numba does not find by itself).

2. **BLAS on one thread** (threadpoolctl): tinycnn's kernels do the parallel work. A spinning
   2-thread BLAS next to other threads on a 2-core machine stalled both for milliseconds (a
   numba kernel beside a 2-thread BLAS call fell from 50 to 9 GFLOP/s). Large products still use
   both cores, cut in halves on two Python threads (kernels/dense.py, kernels/winograd.py).

3. **glibc keeps freed memory** (`mallopt`): glibc returns freed blocks above 128 KiB to the
   operating system; a training step frees and reallocates the same few-megabyte arrays every
   time and paid about 4,500 page faults for them, a third of the step. With the thresholds
   raised (mmap 64 MiB, trim 256 MiB) faults drop to about 15 per step at no cost in peak memory.
   Linux with glibc only; elsewhere nothing happens.

**Turning 2 and 3 off**: set the environment variable `TINYCNN_NO_RUNTIME_TWEAKS=1` before
importing tinycnn; BLAS and malloc keep their defaults (tinycnn's kernels still work, a training
step gets slower). To choose another threading layer, set `NUMBA_THREADING_LAYER` (its safety
is then that layer's, as in the table). `APPLIED` says what this import changed.
"""

import functools
import os
import sys
import threading

NO_TWEAKS_VARIABLE = "TINYCNN_NO_RUNTIME_TWEAKS"
THREADING_LAYER = "workqueue"  # fork-safe, and thread-safe when parallel loops take turns
BLAS_THREADS = 1
MMAP_THRESHOLD_BYTES = 64 << 20  # blocks below 64 MiB come from the heap, not fresh mappings
TRIM_THRESHOLD_BYTES = 256 << 20  # keep up to 256 MiB of free heap instead of returning it
M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3

APPLIED = {}
"""What this import changed: "threading_layer", "blas_threads", "keep_freed_memory"."""


def choose_threading_layer():
    """numba's threading layer: the user's NUMBA_THREADING_LAYER if set (for `tbb`, with the
    wheel's library loaded), else `workqueue` (numba.threading_layer() names the one chosen, once
    the pool has started)."""
    import numba

    chosen = os.environ.get("NUMBA_THREADING_LAYER")
    if chosen:
        if chosen == "tbb":
            load_tbb()
        return chosen
    numba.config.THREADING_LAYER = THREADING_LAYER  # read when the pool starts
    return THREADING_LAYER


def load_tbb():
    """Load the `tbb` wheel's library from the environment's lib/ folder, where numba's tbb
    layer does not look by itself; return whether it loaded."""
    import ctypes

    library = os.path.join(sys.prefix, "lib", "libtbb.so.12")
    if not os.path.exists(library):
        return False
    try:
        ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    return True


def limit_blas_threads(threads=BLAS_THREADS):
    """Limit every BLAS library loaded by numpy to `threads` threads."""
    import numpy  # noqa: F401  (loads OpenBLAS, so that threadpoolctl finds it to limit)
    from threadpoolctl import threadpool_limits

    # Imported here: at the top of this module it would load numpy before the threads are set.
    from tinycnn.checks import positive_int

    threads = positive_int(threads, "threads")

    threadpool_limits(limits=threads, user_api="blas")
    return threads


def keep_freed_memory():
    """Raise glibc's mmap and trim thresholds; return whether it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # another C library (musl, ...): no mallopt to call
        return False
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


_kernel_lock = threading.RLock()


def _after_fork_in_child():
    """A fresh lock (fork copies only the thread that called it, not one that held the lock)."""
    global _kernel_lock
    _kernel_lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    # Hold the lock across fork(), so that no kernel is half-way on the parent's threads at that
    # moment; the child gets a fresh lock.
    os.register_at_fork(
        before=lambda: _kernel_lock.acquire(),
        after_in_parent=lambda: _kernel_lock.release(),
        after_in_child=_after_fork_in_child,
    )


def one_at_a_time(kernel):
    """Decorate a kernel entry point: calls from several Python threads take turns."""

    @functools.wraps(kernel)
    def take_turns(*args, **kwargs):
        with _kernel_lock:
            return kernel(*args, **kwargs)

    return take_turns


def tweaks_on():
    """False when the user has set TINYCNN_NO_RUNTIME_TWEAKS (to anything but 0)."""
    return os.environ.get(NO_TWEAKS_VARIABLE, "") in ("", "0")


def apply():
    """Make the settings above (once per process; called by `import tinycnn`)."""
    if APPLIED:
        return APPLIED
    APPLIED["threading_layer"] = choose_threading_layer()
    if not tweaks_on():
        return APPLIED
    APPLIED["blas_threads"] = limit_blas_threads()
    APPLIED["keep_freed_memory"] = keep_freed_memory()
    return APPLIED


apply()
