"""1x1 convolutions as matrix products (kernels/pointwise_blas.py): equal to the lecture's loops
to rounding, central differences through Conv2D, and clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.gradcheck import check_gradients
from tinycnn.kernels import pointwise_blas, reference

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}  # relative to the largest |value|


def assert_close(got, want, dtype):
    scale = max(np.abs(want).max(), 1.0)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 8), st.integers(1, 8)),
    n_out=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_forward_and_backward_equal_the_lectures_loops(dtype, shape, n_out, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    weights = rng.standard_normal((n_out, shape[1], 1, 1)).astype(dtype)
    bias = rng.standard_normal(n_out).astype(dtype)
    out, kept = pointwise_blas.pointwise_forward(x, weights, bias)
    assert_close(out, reference.conv2d_forward(x, weights, bias, 1, 0), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dweights, dbias = pointwise_blas.pointwise_backward(dout, kept, weights)
    assert_close(dx, reference.conv2d_backward_input(dout, weights, x.shape, 1, 0), dtype)
    expected_dweights, expected_dbias = reference.conv2d_backward_params(x, dout, 1, 1, 0)
    assert_close(dweights, expected_dweights, dtype)
    assert_close(dbias, expected_dbias, dtype)
    assert pointwise_blas.pointwise_backward(dout, kept, weights, input_grad=False)[0] is None


def test_a_1x1_conv2d_on_a_small_map_passes_central_differences():
    layer = tc.Conv2D(3, 2, 1, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    layer.forward(x)
    assert isinstance(layer._cache[1], pointwise_blas.Inputs)  # this layer takes the products
    errors = check_gradients(layer, x)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize(
    "x_shape, kernel_size, stride, padding, chosen",
    [
        ((32, 128, 4, 4), 1, 1, 0, True),
        ((32, 128, 8, 8), 1, 1, 0, True),
        ((1, 1, 1, 1), 1, 1, 0, True),
        ((32, 128, 7, 9), 1, 1, 0, True),
        ((32, 128, 9, 8), 1, 1, 0, False),  # larger than MAX_PIXELS: numba's pointwise loops
        ((32, 128, 8, 8), 1, 2, 0, False),
        ((32, 128, 8, 8), 3, 1, 1, False),
        ((0, 128, 8, 8), 1, 1, 0, False),  # an empty batch
    ],
)
def test_conv2d_takes_the_products_for_1x1_convolutions_on_small_maps(
    x_shape, kernel_size, stride, padding, chosen
):
    weights_shape = (16, x_shape[1], kernel_size, kernel_size)
    assert pointwise_blas.chosen_for(x_shape, weights_shape, stride, padding) is chosen


X = np.zeros((2, 3, 4, 4), np.float32)
W = np.zeros((5, 3, 1, 1), np.float32)
B = np.zeros(5, np.float32)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((X, np.zeros((5, 3, 3, 3), np.float32), B), ValueError, r"weights must be 1x1 kernels"),
        ((X, W.astype(np.float64), B), TypeError, r"weights must have the dtype of x"),
        ((X, W[:, :2], B), ValueError, r"weights take 2 input channels"),
        ((X, W, B[:2]), ValueError, r"^bias must have the shape"),
        ((X.astype(int), W, B), TypeError, r"^x must be"),
    ],
)
def test_forward_names_what_it_cannot_take(args, error, match):
    with pytest.raises(error, match=match):
        pointwise_blas.pointwise_forward(*args)


def test_backward_names_what_it_cannot_take():
    out, kept = pointwise_blas.pointwise_forward(X, W, B)
    with pytest.raises(TypeError, match=r"^kept must be the Inputs pointwise_forward returned"):
        pointwise_blas.pointwise_backward(out, X, W)
    with pytest.raises(ValueError, match=r"^dout must have the shape of the convolution's"):
        pointwise_blas.pointwise_backward(out[:1], kept, W)
    with pytest.raises(TypeError, match=r"^dout must have the dtype of x"):
        pointwise_blas.pointwise_backward(out.astype(np.float64), kept, W)
    with pytest.raises(ValueError, match=r"weights must be 1x1 kernels"):  # a 3x3's dout
        three_by_three = np.zeros((5, 3, 3, 3), np.float32)
        pointwise_blas.pointwise_backward(out[:, :, :2, :2], kept, three_by_three)
    with pytest.raises(TypeError, match=r"^input_grad must be True or False"):
        pointwise_blas.pointwise_backward(out, kept, W, input_grad="no")
