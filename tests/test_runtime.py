"""What `import tinycnn` changes in the process (tinycnn/runtime.py), and the switch that turns
it off. Each case runs in a fresh interpreter, as a learner's script would."""

import json
import os
import subprocess
import sys

import pytest

REPORT = (
    "import json, sys; {imports}; from threadpoolctl import threadpool_info; "
    "print(json.dumps({{'blas': [p['num_threads'] for p in threadpool_info() "
    "if p['user_api'] == 'blas'], 'applied': {applied}}}))"
)


def run_fresh(imports, applied="None", **env):
    script = REPORT.format(imports=imports, applied=applied)
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={key: value for key, value in {**os.environ, **env}.items() if value is not None},
        check=True,
    )
    return json.loads(completed.stdout)


def without(*names):
    """Environment variables to leave out of the fresh interpreter's environment."""
    return dict.fromkeys(names)


def test_import_limits_blas_to_one_thread_and_keeps_freed_memory():
    report = run_fresh(
        "import tinycnn", "tinycnn.runtime.APPLIED", **without("TINYCNN_NO_RUNTIME_TWEAKS")
    )
    assert report["blas"] and all(threads == 1 for threads in report["blas"])
    assert report["applied"]["blas_threads"] == 1
    assert report["applied"]["keep_freed_memory"] == sys.platform.startswith("linux")
    assert report["applied"]["threading_layer"] == "workqueue"


def test_switch_leaves_blas_and_malloc_alone():
    # BLAS's own default (one thread per core, or OPENBLAS_NUM_THREADS) without tinycnn ...
    untouched = run_fresh("import numpy", OPENBLAS_NUM_THREADS="2")["blas"]
    assert untouched and 1 not in untouched  # so that the test could fail
    report = run_fresh(
        "import tinycnn",
        "tinycnn.runtime.APPLIED",
        TINYCNN_NO_RUNTIME_TWEAKS="1",
        OPENBLAS_NUM_THREADS="2",
    )
    # ... is what BLAS keeps when tinycnn is imported with the switch on.
    assert report["blas"] == untouched
    assert report["applied"] == {"threading_layer": "workqueue"}


def test_users_threading_layer_is_kept():
    report = run_fresh(
        "import tinycnn, numba; numba.config.THREADING_LAYER",
        "[tinycnn.runtime.APPLIED['threading_layer'], numba.config.THREADING_LAYER]",
        NUMBA_THREADING_LAYER="omp",
    )
    assert report["applied"] == ["omp", "omp"]


def test_the_layer_chosen_is_fork_safe():
    report = run_fresh(
        "import tinycnn, numba, numpy as np; "
        "tinycnn.ReLU().forward(np.ones((2, 3), np.float32))",  # asks numba for its threads
        "numba.threading_layer()",
        **without("NUMBA_THREADING_LAYER"),
    )
    assert report["applied"] in ("tbb", "workqueue") + (() if sys.platform == "linux" else ("omp",))


def test_keep_freed_memory_only_where_glibc_is(monkeypatch):
    from tinycnn import runtime

    monkeypatch.setattr(sys, "platform", "darwin")
    assert runtime.keep_freed_memory() is False


@pytest.mark.parametrize(
    "threads, error", [("a", TypeError), (1.5, TypeError), (True, TypeError), (0, ValueError)]
)
def test_limit_blas_threads_names_a_bad_count(threads, error):
    from tinycnn import runtime

    with pytest.raises(error, match="threads"):
        runtime.limit_blas_threads(threads)
