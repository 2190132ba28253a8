"""Importing tinycnn leaves BLAS on one thread, so it never fights numba's threads for the cores."""

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
