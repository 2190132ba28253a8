"""Compiling ahead (tinycnn/kernels/ahead.py): with an empty numba cache, a twin's compile sends
its parallel kernel to the helper process, which compiles it into the cache, so that this process
loads it instead of compiling it; what the helper has not started compiles here; a helper that
fails leaves everything to this process. Each case runs in a fresh process with an empty cache."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tinycnn.kernels import activation, ahead, layout, pool, taps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Two ReLU kernels, the quickest to compile: float64 so that lessons and other tests, in float32,
# have not cached them. activation.py leaves them out of compiling ahead; here they are put back.
PRELUDE = """
import gc
import json
import sys
import warnings

import numba
import numpy as np
from tinycnn.kernels import activation, ahead

x = np.linspace(-1.0, 1.0, 1000)
out, dx = np.empty_like(x), np.empty_like(x)
forward, backward = activation._relu_forward, activation._relu_backward
ahead.twins.update({forward.serial: forward.threaded, backward.serial: backward.threaded})
forward_types = (numba.typeof(x), numba.typeof(out))
backward_types = (numba.typeof(x), numba.typeof(out), numba.typeof(dx))


# A pipe or process left for the garbage collector is a ResourceWarning, made an error here and
# caught by the hook (pytest fails the test it lands in): every report lists them.
warnings.simplefilter("error", ResourceWarning)
UNRAISABLE = []
sys.unraisablehook = lambda unraisable: UNRAISABLE.append(repr(unraisable.exc_value))


# The forward kernel as threads_if_faster first runs it: its twin (which, with an empty cache,
# compiles and asks the helper), the wait, then the kernel on threads.
def run_forward():
    forward.serial(x, out)
    ahead.wait(forward.threaded)
    forward.threaded(x, out)


def report(**extra):
    gc.collect()
    print(json.dumps(extra | {"unraisable": UNRAISABLE} | {
        name: {"compiled here": bool(kernel.threaded.stats.cache_misses[types]),
               "loaded": bool(kernel.threaded.stats.cache_hits[types])}
        for name, kernel, types in (("forward", forward, forward_types),
                                    ("backward", backward, backward_types))
    } | {"failed": ahead.FAILED, "helper": ahead._helper is not None}))
"""

LOADED = {"compiled here": False, "loaded": True}  # numba found the helper's work in its cache
COMPILED_HERE = {"compiled here": True, "loaded": False}


def run_fresh(tmp_path, script, cwd=None, **environment):
    """Run PRELUDE + `script` in a fresh process with an empty numba cache, two numba threads
    and compiling ahead on, in the folder `cwd`, with `environment` on top; its JSON report."""
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
        "NUMBA_NUM_THREADS": "2",
        "PYTHONPATH": ROOT,
        "TINYCNN_COMPILE_AHEAD": "1",
        **environment,
    }
    code = PRELUDE + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-P", "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["unraisable"] == []
    return report


def test_a_twins_compile_has_the_helper_compile_its_kernel(tmp_path):
    report = run_fresh(
        tmp_path,
        """
        forward.serial(x, out)  # compiles: the helper is asked for the parallel kernel
        ahead.wait(forward.threaded)
        forward.threaded(x, out)
        report()
        """,
    )
    assert report["failed"] == []
    assert report["helper"]
    assert report["forward"] == LOADED


def test_a_kernel_left_out_compiles_here_and_starts_no_helper(tmp_path):
    report = run_fresh(
        tmp_path,
        """
        ahead.not_ahead(forward, backward)
        run_forward()  # the twin's compile asks for nothing
        report()
        """,
    )
    assert report["failed"] == []
    assert not report["helper"]
    assert report["forward"] == COMPILED_HERE


def test_relu_is_left_out_and_max_pooling_is_not():
    for kernel in (activation._relu_forward, activation._relu_backward):
        assert kernel.serial not in ahead.twins
    assert ahead.twins[pool._pool_planes_2x2.serial] is pool._pool_planes_2x2.threaded
    # run in parts on Python threads (threads.parts_if_faster): no parallel kernel to compile
    for kernel in (taps.correlate, taps.pointwise, layout._stride_one_planes):
        assert kernel.serial not in ahead.twins


def test_the_helper_imports_this_tinycnn_not_the_working_folders(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "tinycnn").mkdir(parents=True)
    (elsewhere / "tinycnn" / "__init__.py").write_text("raise ImportError('another tinycnn')")
    report = run_fresh(
        tmp_path,
        """
        run_forward()
        report()
        """,
        cwd=elsewhere,
    )
    assert report["failed"] == []
    assert report["forward"] == LOADED


def test_waiting_compiles_here_what_the_helper_has_not_started(tmp_path):
    report = run_fresh(
        tmp_path,
        """
        forward.serial(x, out)  # the helper starts on the forward kernel...
        backward.serial(x, out, dx)  # ... and the backward one waits in the queue
        ahead.wait(forward.threaded)  # meanwhile, this process takes the backward one
        forward.threaded(x, out)
        backward.threaded(x, out, dx)
        report()
        """,
    )
    assert report["failed"] == []
    assert report["forward"] == LOADED
    assert report["backward"] == COMPILED_HERE


def test_a_failing_helper_leaves_the_compile_here(tmp_path):
    report = run_fresh(
        tmp_path,
        """
        ahead.HELPER_CODE = "pass"  # a helper that exits at once
        run_forward()
        report()
        """,
    )
    assert len(report["failed"]) == 1  # exited, or could not be reached: said once
    assert report["forward"] == COMPILED_HERE


@pytest.mark.parametrize(
    "environment", [{"TINYCNN_COMPILE_AHEAD": "0"}, {"NUMBA_NUM_THREADS": "1"}], ids=str
)
def test_no_helper_when_turned_off_or_on_one_thread(tmp_path, environment):
    report = run_fresh(
        tmp_path,
        """
        run_forward()
        report()
        """,
        **environment,
    )
    assert not report["helper"]
    assert report["forward"] == COMPILED_HERE


def test_the_lesson_kernels_through_the_wrapper_load_what_the_helper_compiled(tmp_path):
    """The way lessons meet it: threads_if_faster's trials wait for the helper."""
    report = run_fresh(
        tmp_path,
        """
        x = np.linspace(-1.0, 1.0, 4_000_000)  # slow enough on one core for the trials
        out = np.empty_like(x)
        for _ in range(12):
            forward(x, out)
        report()
        """,
    )
    assert report["failed"] == []
    assert report["forward"] == LOADED


def test_a_helper_that_prints_before_it_serves_is_still_heard(tmp_path):
    report = run_fresh(
        tmp_path,
        """
        ahead.HELPER_CODE = "print('not an answer'); " + ahead.HELPER_CODE
        run_forward()
        report()
        """,
    )
    assert report["failed"] == []
    assert report["forward"] == LOADED


def test_a_forked_child_has_its_own_helper_or_none(tmp_path):
    report = run_fresh(
        tmp_path,
        """
        import os
        forward.serial(x, out)  # the parent's helper takes the forward kernel
        pid = os.fork()
        if pid == 0:  # the child: nothing of the parent's helper, and kernels that work
            clean = ahead._helper is None and ahead._compiling is None and not ahead._queue
            backward.serial(x, out, dx)
            ahead.wait(backward.threaded)
            backward.threaded(x, out, dx)
            os._exit(0 if clean and ahead.FAILED == [] else 1)
        _, status = os.waitpid(pid, 0)
        ahead.wait(forward.threaded)
        forward.threaded(x, out)
        report(child_exit_status=status)
        """,
    )
    assert report["child_exit_status"] == 0
    assert report["failed"] == []
    assert report["forward"] == LOADED


def test_an_idle_helper_exits_and_the_next_request_starts_another(tmp_path):
    report = run_fresh(
        tmp_path,
        """
        import time
        ahead.HELPER_CODE = (
            "from tinycnn.kernels import ahead; ahead.IDLE_SECONDS = 0.5; ahead.serve()"
        )
        forward.serial(x, out)
        ahead.wait(forward.threaded)
        first = ahead._helper
        deadline = time.monotonic() + 60
        while first.returncode is None and time.monotonic() < deadline:  # not polled here
            time.sleep(0.05)
        # forgotten, its pipes closed and its exit collected: nothing left for the collector
        gone = ahead._helper is None and first.returncode == 0
        gone = gone and first.stdin.closed and first.stdout.closed
        backward.serial(x, out, dx)  # a new helper
        second = ahead._helper
        ahead.wait(backward.threaded)
        forward.threaded(x, out)
        backward.threaded(x, out, dx)
        report(first_gone=gone, second_started=second is not None and second is not first)
        """,
    )
    assert report["first_gone"] and report["second_started"]
    assert report["failed"] == []
    assert report["forward"] == LOADED
    assert report["backward"] == LOADED
