"""What `import tinycnn` changes in the process, and why: threads, fork safety, memory.

Three settings, all made once, at import, before numba starts its threads:

1. **numba's threading layer: a fork-safe one** (unless you set `NUMBA_THREADING_LAYER`
   yourself): numba's "forksafe" choice, which is `tbb` when the `tbb` package is installed,
   else `workqueue` on Linux (a fork-safe OpenMP on macOS and Windows).
   numba runs `prange` loops on one of three thread pools, which differ in safety:

   | layer       | after `fork`                          | kernels called from several threads |
   |-------------|---------------------------------------|-------------------------------------|
   | `omp` (GNU) | the child aborts ("fork() called from | safe                                |
   |             | a process already using GNU OpenMP")  |                                     |
   | `workqueue` | safe                                  | aborts, unless calls take turns     |
   | `tbb`       | safe                                  | safe, but needs the `tbb` package   |

   Without `tbb`, that is `workqueue`, which is not thread-safe: so tinycnn's kernels take turns
   (`one_at_a_time`, a lock around every kernel call; each kernel uses every core anyway, so
   two at once would only fight).
   Learners fork in data loaders and parameter sweeps (`multiprocessing`'s default on Linux
   before Python 3.14), and call models from thread pools: both give the right answer and
   never hang (tests/test_fork.py). The lock is replaced in a forked child, so a fork taken
   while another thread runs a kernel cannot leave the child waiting on it.

   Measured (AMD EPYC Zen 4, 2 cores, shared with other jobs: load average 12-14, so the
   absolute times are several times an idle machine's; benchmarks/README.md, "Threads"), the
   median training step of lesson 4 took 35-62 ms on `workqueue`, 244-322 ms on `tbb` and
   1250-1490 ms on `omp`: `workqueue`'s threads sleep at once instead of spinning against
   everyone else's. The price is latency per kernel launch, as a sleeping thread must be woken:
   the forward pass of one image took 1.0-1.5 ms (one outlier 15 ms) against 0.18-0.32 ms on
   `omp` and `tbb`. At a load average near 8, `tbb` trained as fast as `workqueue` (64-140 ms
   against 80-114 ms; `omp` 258-381 ms) and kept most of its low latency. On an idle machine
   of this kind, a process exited in 0.09 s with `workqueue` against 0.5 s with `omp`. So
   `tbb` is the better layer where it is installed (`pip install tbb`, which makes it numba's
   default for every numba user in that environment), and tinycnn does not require it.

2. **BLAS on one thread** (threadpoolctl): numba's threads do the parallel work. A spinning
   2-thread BLAS next to numba's threads on a 2-core machine stalled both for milliseconds (a
   numba kernel beside a 2-thread BLAS call fell from 50 to 9 GFLOP/s).

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
THREADING_LAYER = "forksafe"  # numba picks tbb if installed, else workqueue (Linux)
BLAS_THREADS = 1
MMAP_THRESHOLD_BYTES = 64 << 20  # blocks below 64 MiB come from the heap, not fresh mappings
TRIM_THRESHOLD_BYTES = 256 << 20  # keep up to 256 MiB of free heap instead of returning it
M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3

APPLIED = {}
"""What this import changed: "threading_layer", "blas_threads", "keep_freed_memory"."""


def choose_threading_layer():
    """numba's threading layer: the user's NUMBA_THREADING_LAYER if set, else a fork-safe one
    (numba.threading_layer() names the one chosen, once a parallel kernel has run)."""
    import numba

    if os.environ.get("NUMBA_THREADING_LAYER"):
        return os.environ["NUMBA_THREADING_LAYER"]
    numba.config.THREADING_LAYER = THREADING_LAYER  # read when the first parallel loop runs
    return THREADING_LAYER


def limit_blas_threads(threads=BLAS_THREADS):
    """Limit every BLAS library loaded by numpy to `threads` threads."""
    import numpy  # noqa: F401  (loads OpenBLAS, so that threadpoolctl finds it to limit)
    from threadpoolctl import threadpool_limits

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


def _new_lock_in_child():
    global _kernel_lock
    _kernel_lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    # Hold the lock across fork(), so that no kernel is half-way in the parent's thread pool at
    # that moment, and give the child a fresh lock.
    os.register_at_fork(
        before=lambda: _kernel_lock.acquire(),
        after_in_parent=lambda: _kernel_lock.release(),
        after_in_child=_new_lock_in_child,
    )


def one_at_a_time(kernel):
    """Decorate a kernel entry point: calls from several Python threads take turns."""

    @functools.wraps(kernel)
    def take_turns(*args, **kwargs):
        with _kernel_lock:
            return kernel(*args, **kwargs)

    return take_turns


def apply():
    """Make the settings above (once per process; called by `import tinycnn`)."""
    if APPLIED:
        return APPLIED
    APPLIED["threading_layer"] = choose_threading_layer()
    if os.environ.get(NO_TWEAKS_VARIABLE, "") not in ("", "0"):
        return APPLIED
    APPLIED["blas_threads"] = limit_blas_threads()
    APPLIED["keep_freed_memory"] = keep_freed_memory()
    return APPLIED


apply()
