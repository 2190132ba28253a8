"""What `import tinycnn` changes in the process, and why: threads, fork safety, memory.

Four settings, all made once, at import (the first three before numba starts its threads):

1. **numba's threading layer: `workqueue`** (unless you set `NUMBA_THREADING_LAYER` yourself).
   numba runs `prange` loops on one of three thread pools, which differ in safety and speed:

   | layer       | after `fork`                          | kernels called from several threads |
   |-------------|---------------------------------------|-------------------------------------|
   | `omp` (GNU) | the child aborts ("fork() called from | safe                                |
   |             | a process already using GNU OpenMP")  |                                     |
   | `workqueue` | safe                                  | aborts, unless calls take turns     |
   | `tbb`       | safe, except a fork while another     | safe                                |
   |             | thread runs kernels: the child hung   |                                     |
   |             | in 1 run of 4 (tests/test_fork.py)    |                                     |

   Learners fork in data loaders and parameter sweeps (`multiprocessing`'s default on Linux
   before Python 3.14), and call models from thread pools: both give the right answer and never
   hang (tests/test_fork.py). Kernel calls also take turns (`one_at_a_time`, a lock around every
   kernel call), which `workqueue` needs and costs nothing otherwise: each kernel uses every
   core, so two at once would only fight. The lock is replaced in a forked child, so a fork
   taken while another thread runs a kernel cannot leave the child waiting on it.

   Speed is the price: `workqueue`'s threads sleep between kernels, and waking them took 55-90
   µs per parallel loop on a 2-core AMD EPYC Zen 4 (CPU family 25), against 1.5 µs on `tbb` or
   `omp`. tinycnn pays it where it pays off (kernels/threads.py; point 4 below): on the idle
   machine, `benchmarks/bench_train_step.py`, lesson 4's training step, each framework in its
   own process taking turns with PyTorch 2.13: `workqueue` 16.1-17.6 ms, `tbb` 13.7 ms (PyTorch
   21.7-21.9 ms in those runs, 19-31 ms over the day). Before that work `workqueue` took
   25.8-28.0 ms and `omp` 20.5 ms. On a machine busy with other jobs (load 8-14) `omp`'s
   spinning threads lost most: 258-1490 ms a step against 64-322 ms for `tbb` and 35-114 ms for
   `workqueue` (benchmarks/README.md, "Threads").

   **For speed**, if you never fork while another thread runs kernels: `pip install tbb` and set
   `NUMBA_THREADING_LAYER=tbb` before importing tinycnn (`load_tbb` then loads the wheel's
   library, which numba does not find by itself), or `NUMBA_THREADING_LAYER=omp` if you never
   fork at all.

2. **BLAS on one thread** (threadpoolctl): numba's threads do the parallel work. A spinning
   2-thread BLAS next to numba's threads on a 2-core machine stalled both for milliseconds (a
   numba kernel beside a 2-thread BLAS call fell from 50 to 9 GFLOP/s). Large products still use
   both cores, cut in halves on two Python threads (kernels/dense.py, kernels/winograd.py).

3. **glibc keeps freed memory** (`mallopt`): glibc returns freed blocks above 128 KiB to the
   operating system; a training step frees and reallocates the same few-megabyte arrays every
   time and paid about 4,500 page faults for them, a third of the step. With the thresholds
   raised (mmap 64 MiB, trim 256 MiB) faults drop to about 15 per step at no cost in peak memory.
   Linux with glibc only; elsewhere nothing happens.

4. **Each workqueue thread on its own core, and waiting its turn** (Linux; `place_threads`).
   `workqueue` cuts every parallel loop into one equal share per thread, wakes the threads one
   after the other, then sleeps until they are done. Left to the operating system, a woken
   thread often landed on the core where the other was already working and waited for it: a
   1.2 ms convolution took 1.2 ms on two threads as on one (median of 30; the best run 0.69 ms).
   Bound each to its own core (as `OMP_PROC_BIND` does for OpenMP), the median was 0.58 ms.
   One trap remained: when the thread that starts a loop (yours) shared a core with the first
   worker, the woken worker took the core at once, before the second worker had been woken, and
   the two shares ran one after the other. Lesson 8's detector step then took 24-26 ms instead
   of 17-18 ms. Scheduled as `SCHED_BATCH`, a woken worker waits for its core to be given up
   instead of taking it: 17.1-17.8 ms median wherever your thread runs (2-core AMD EPYC Zen 4,
   CPU family 25; `tbb`, whose threads spin, 13.8 ms). Done at import, which starts numba's
   threads (18 ms), and again in a forked child at its first kernel, since it starts its own.
   A weakness seen on that machine: now and then a process where a woken worker waited for
   the next scheduler tick, 4 ms, on every call of one kernel (ReLU's backward on a million
   numbers forced onto the threads: 2 processes of 10, 8 ms a call instead of 0.16; none of 12
   on a later run). A bound thread cannot move to the other core, and a `SCHED_BATCH` one does
   not take its own. Such a kernel does not stay on the threads: three calls slower than its
   serial twin was and its choice is timed again (kernels/threads.py).

**Turning 2, 3 and 4 off**: set the environment variable `TINYCNN_NO_RUNTIME_TWEAKS=1` before
importing tinycnn; BLAS, malloc and the threads' placement keep their defaults (tinycnn's
kernels still work, a training step gets slower). To choose another threading layer, set
`NUMBA_THREADING_LAYER` (its safety is then that layer's, as in the table). `APPLIED` says what
this import changed.
"""

import functools
import os
import sys
import threading

NO_TWEAKS_VARIABLE = "TINYCNN_NO_RUNTIME_TWEAKS"
THREADING_LAYER = "workqueue"  # fork-safe, and thread-safe with one_at_a_time
BLAS_THREADS = 1
MMAP_THRESHOLD_BYTES = 64 << 20  # blocks below 64 MiB come from the heap, not fresh mappings
TRIM_THRESHOLD_BYTES = 256 << 20  # keep up to 256 MiB of free heap instead of returning it
M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3

APPLIED = {}
"""What this import changed: "threading_layer", "blas_threads", "keep_freed_memory",
"threads_on_own_cores" (how many of numba's threads were bound to a core, as SCHED_BATCH)."""


def choose_threading_layer():
    """numba's threading layer: the user's NUMBA_THREADING_LAYER if set (for `tbb`, with the
    wheel's library loaded), else `workqueue` (numba.threading_layer() names the one chosen, once
    a parallel kernel has run)."""
    import numba

    chosen = os.environ.get("NUMBA_THREADING_LAYER")
    if chosen:
        if chosen == "tbb":
            load_tbb()
        return chosen
    numba.config.THREADING_LAYER = THREADING_LAYER  # read when the first parallel loop runs
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
    """A fresh lock, and threads of the child's own to place (fork copies only the thread that
    called it)."""
    global _kernel_lock, _threads_placed
    _kernel_lock = threading.RLock()
    _threads_placed = False


if hasattr(os, "register_at_fork"):
    # Hold the lock across fork(), so that no kernel is half-way in the parent's thread pool at
    # that moment; the child gets a fresh lock, and places its own threads at its first kernel.
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


_threads_placed = False  # in this process (a flag, not a pid check: it is read on every call)


def place_threads():
    """Start numba's threads, bind each to its own core (in turn over the cores this process may
    use) and schedule it as SCHED_BATCH (woken, it does not take the core from the thread that
    woke it); once per process (a forked child starts threads of its own), and only for the
    `workqueue` layer on Linux. Threads that numba had started before are left as they are.
    Returns how many threads were placed."""
    global _threads_placed
    if _threads_placed:
        return 0
    _threads_placed = True
    import numba

    tasks = f"/proc/{os.getpid()}/task"
    if not tweaks_on() or numba.config.THREADING_LAYER != "workqueue" or not os.path.isdir(tasks):
        return 0
    before = set(os.listdir(tasks))
    numba.set_num_threads(numba.get_num_threads())  # starts numba's threads if not running
    started = sorted(int(task) for task in set(os.listdir(tasks)) - before)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return 0
    for index, thread in enumerate(started):
        try:
            os.sched_setaffinity(thread, {cores[index % len(cores)]})
            os.sched_setscheduler(thread, os.SCHED_BATCH, os.sched_param(0))
        except OSError:  # the thread has ended meanwhile
            continue
    APPLIED["threads_on_own_cores"] = len(started)
    return len(started)


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
    place_threads()
    return APPLIED


apply()
