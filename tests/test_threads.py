"""The runtime set-up on import: BLAS on one thread (no fight with numba), freed memory kept."""

import json
import subprocess
import sys


def test_import_limits_blas_to_one_thread():
    # A fresh interpreter, as a learner's script: numpy is not yet loaded when tinycnn is imported.
    script = ("import tinycnn, json; from threadpoolctl import threadpool_info; "
              "print(json.dumps([pool['num_threads'] for pool in threadpool_info() "
              "if pool['user_api'] == 'blas']))")
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True).stdout
    blas_threads = json.loads(printed)
    assert blas_threads and all(threads == 1 for threads in blas_threads)


def test_freed_memory_is_kept_where_glibc_allows(monkeypatch):
    from tinycnn.allocator import keep_freed_memory

    assert keep_freed_memory() == (sys.platform.startswith("linux") and _has_glibc())
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_memory() is False


def _has_glibc():
    import ctypes

    try:
        ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return True
