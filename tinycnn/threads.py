"""Who runs in parallel: numba's `prange` loops, and nothing else.

numba's OpenMP pool and OpenBLAS's threads both spin while they wait. On a 2-core machine two
spinning pools stall each other for milliseconds at a time (a numba kernel beside a 2-thread BLAS
call fell from 50 to 9 GFLOP/s), so tinycnn keeps BLAS on one thread and binds the OpenMP threads
to cores. This module runs once, when `tinycnn` is imported, before numba starts its threads.
"""

import os

# Setdefault: a user who sets these in the shell keeps their choice.
os.environ.setdefault("OMP_PROC_BIND", "true")
os.environ.setdefault("OMP_PLACES", "cores")

import numpy  # noqa: E402,F401  (loads OpenBLAS, so that threadpoolctl finds it to limit)
from threadpoolctl import threadpool_limits  # noqa: E402

BLAS_THREADS = 1

threadpool_limits(limits=BLAS_THREADS, user_api="blas")
