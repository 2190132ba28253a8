"""Kernels are safe after fork and from threads (tinycnn/runtime.py): a layer called in a forked
child, in a fork-started multiprocessing pool and in a thread pool gives the lecture's answer
and never hangs. Each case runs in its own interpreter under a timeout, so that a hang fails the
test instead of stalling the suite."""

import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 120  # seconds; each case takes about 2 s when the kernels are cached

SETUP = """
import os, threading, multiprocessing
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import tinycnn as tc
from tinycnn.kernels import reference, threads

threads.SIDE_BY_SIDE_MULTIPLY_ADDS = 0  # Winograd's halves always on two threads (side_by_side)
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 3, 12, 12))
conv = tc.Conv2D(3, 5, 3, 1, 1, dtype=np.float64, rng=1)
pool = tc.MaxPool2D(2, 2)
relu = tc.ReLU()
small = tc.Conv2D(5, 2, 3, 1, 1, dtype=np.float64, rng=2)  # on 6x6 maps: Winograd's way

def step(scale=1.0):
    '''Forward and backward through conv, ReLU, pool and small: (output, dx, dW).'''
    out = small.forward(pool.forward(relu.forward(conv.forward(scale * x))))
    dx = conv.backward(relu.backward(pool.backward(small.backward(np.ones_like(out)))))
    return out, dx, conv.grads["W"].copy()

def expected(scale=1.0):
    '''The same step with the lecture's loops.'''
    pre = reference.conv2d_forward(scale * x, conv.params["W"], conv.params["b"], 1, 1)
    act = reference.relu_forward(pre)
    pooled, argmax = reference.maxpool2d_forward(act, 2, 2)
    out = reference.conv2d_forward(pooled, small.params["W"], small.params["b"], 1, 1)
    d_pooled = reference.conv2d_backward_input(
        np.ones_like(out), small.params["W"], pooled.shape, 1, 1
    )
    d_act = reference.maxpool2d_backward(d_pooled, argmax, act.shape, 2, 2)
    d_pre = reference.relu_backward(d_act, act)
    dx = reference.conv2d_backward_input(d_pre, conv.params["W"], x.shape, 1, 1)
    dw, _ = reference.conv2d_backward_params(scale * x, d_pre, 3, 1, 1)
    return out, dx, dw

def same(got, want):
    return all(np.allclose(a, b, rtol=1e-10, atol=1e-10) for a, b in zip(got, want, strict=True))

def forward_only(scale):
    '''In a pool worker (no shared layer cache between calls): the forward output.'''
    return small.forward(pool.forward(relu.forward(conv.forward(scale * x))))

assert same(step(), expected())  # the parent has run every kernel: its thread pool is up
"""

CASES = {
    "fork": """
pid = os.fork()
if pid == 0:
    os._exit(0 if same(step(), expected()) else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
""",
    "fork pool": """
scales = [0.5, 1.0, 2.0, 3.0]
with multiprocessing.get_context("fork").Pool(2) as workers:
    results = workers.map(forward_only, scales)
for scale, got in zip(scales, results, strict=True):
    assert np.allclose(got, expected(scale)[0], rtol=1e-10, atol=1e-10)
""",
    "thread pool": """
def own_layers(scale):
    # Each thread its own layers (a layer keeps its forward cache for backward), shared kernels.
    conv_t = tc.Conv2D(3, 5, 3, 1, 1, dtype=np.float64, rng=1)
    pool_t, relu_t = tc.MaxPool2D(2, 2), tc.ReLU()
    small_t = tc.Conv2D(5, 2, 3, 1, 1, dtype=np.float64, rng=2)
    out = small_t.forward(pool_t.forward(relu_t.forward(conv_t.forward(scale * x))))
    dx = conv_t.backward(relu_t.backward(pool_t.backward(small_t.backward(np.ones_like(out)))))
    return out, dx, conv_t.grads["W"].copy()

scales = [0.5 + 0.25 * i for i in range(24)]
with ThreadPoolExecutor(4) as threads:
    results = list(threads.map(own_layers, scales))
for scale, got in zip(scales, results, strict=True):
    assert same(got, expected(scale)), scale
""",
    "fork while a thread runs kernels": """
stop = threading.Event()
def busy():
    while not stop.is_set():
        step()
worker = threading.Thread(target=busy)
worker.start()
try:
    for _ in range(5):
        pid = os.fork()
        if pid == 0:
            os._exit(0 if same(step(), expected()) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
finally:
    stop.set()
    worker.join()
""",
}


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_kernels_after_fork_and_from_threads(case):
    script = textwrap.dedent(SETUP) + textwrap.dedent(case) + "\nprint('done')\n"
    try:
        completed = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for {TIMEOUT} s")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().endswith("done")
