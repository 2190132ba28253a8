"""The dense layer's products in halves (kernels/dense.py) against NumPy's whole products."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn.kernels import dense, threads

NEVER, ALWAYS = 10**18, 0  # values of threads.SIDE_BY_SIDE_MULTIPLY_ADDS


def problem(n_samples, in_features, out_features, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, in_features)).astype(dtype)
    weights = rng.standard_normal((in_features, out_features)).astype(dtype)
    bias = rng.standard_normal(out_features).astype(dtype)
    dout = rng.standard_normal((n_samples, out_features)).astype(dtype)
    return x, weights, bias, dout


def both_passes(x, weights, bias, dout, input_grad=True):
    out = dense.dense_forward(x, weights, bias)
    return (out, *dense.dense_backward(x, dout, weights, input_grad))


@given(
    n_samples=st.integers(0, 9),
    in_features=st.integers(1, 9),
    out_features=st.integers(1, 6),
    dtype=st.sampled_from([np.float32, np.float64]),
    input_grad=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
@pytest.mark.parametrize("split", [ALWAYS, NEVER], ids=["in halves", "whole"])
def test_equal_to_the_formulas(
    split, n_samples, in_features, out_features, dtype, input_grad, seed
):
    """out = x W + b, dW = xᵀ dout, db = Σ_n dout[n], dx = dout Wᵀ (None without input_grad),
    cut in halves or not, down to one sample, one feature and an empty batch."""
    x, weights, bias, dout = problem(n_samples, in_features, out_features, dtype, seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "SIDE_BY_SIDE_MULTIPLY_ADDS", split)
        out, dweights, dbias, dx = both_passes(x, weights, bias, dout, input_grad)
    tolerance = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}
    x64, w64, d64 = (a.astype(np.float64) for a in (x, weights, dout))
    np.testing.assert_allclose(out, x64 @ w64 + bias, **tolerance)
    np.testing.assert_allclose(dweights, x64.T @ d64, **tolerance)
    np.testing.assert_allclose(dbias, d64.sum(axis=0), **tolerance)
    if input_grad:
        np.testing.assert_allclose(dx, d64 @ w64.T, **tolerance)
    else:
        assert dx is None
    assert {a.dtype for a in (out, dweights, dbias)} == {np.dtype(dtype)}


def test_one_thread_or_two_give_the_same_bits(monkeypatch):
    """The cut depends on the shapes alone; threads only decide where the halves run."""
    monkeypatch.setattr(threads, "SIDE_BY_SIDE_MULTIPLY_ADDS", ALWAYS)
    arrays = problem(7, 33, 5, np.float32, 0)  # odd sizes: halves of unequal length
    two_threads = both_passes(*arrays)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one_thread = both_passes(*arrays)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(two_threads, one_thread, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "n_samples, split", [(64, True), (1, False)], ids=["lesson 4's batch", "one image"]
)
def test_large_products_run_side_by_side(monkeypatch, n_samples, split):
    """Lesson 4's 2048 -> 128 layer at batch 64 hands half of each pass to the other thread;
    one image's products are too small to pay for its wake-up."""
    calls = []

    def side_by_side(first, second):
        calls.append("side by side")
        return first(), second()

    monkeypatch.setattr(dense, "side_by_side", side_by_side)
    x, weights, bias, dout = problem(n_samples, 2048, 128, np.float32, 1)
    out, dweights, _, dx = both_passes(x, weights, bias, dout)
    assert calls == (["side by side"] * 2 if split else [])
    np.testing.assert_allclose(out, x @ weights + bias, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dweights, x.T @ dout, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, dout @ weights.T, rtol=1e-4, atol=1e-4)


X, W, B = np.ones((3, 4)), np.ones((4, 2)), np.zeros(2)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: dense.dense_forward(X[0], W, B), ValueError, r"^x must be 2-dimensional"),
        (lambda: dense.dense_forward(X, W.T, B), ValueError, r"^weights take 2 input features"),
        (lambda: dense.dense_forward(X, W, np.zeros(3)), ValueError, r"^bias must have the shape"),
        (lambda: dense.dense_forward(X, W.astype(np.float32), B), TypeError, r"^weights must have"),
        (lambda: dense.dense_forward(X, W, B.astype(np.float32)), TypeError, r"^bias must have"),
        (lambda: dense.dense_backward(X, np.ones((3, 3)), W), ValueError, r"^dout must have"),
        (lambda: dense.dense_backward(X, np.ones(2), W), ValueError, r"^dout must be 2-dim"),
        (
            lambda: dense.dense_backward(X, np.ones((3, 2), np.float32), W),
            TypeError,
            r"^dout must have the dtype of x",
        ),
        (lambda: dense.dense_backward(X, np.ones((3, 2)), W, "no"), TypeError, r"input_grad"),
    ],
    ids=[
        "x 1-d",
        "weights' rows",
        "bias",
        "weights' dtype",
        "bias' dtype",
        "dout's shape",
        "dout 1-d",
        "dout's dtype",
        "input_grad a string",
    ],
)
def test_wrong_arguments_are_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()
