"""BatchNormReLUMaxPool2D and its kernels: against their NumPy twins, against BatchNormReLU2D then
MaxPool2D, central differences, PyTorch, refused arguments."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_batchnorm import assert_matches_pytorch

import tinycnn as tc
from tinycnn.gradcheck import check_gradients
from tinycnn.kernels import batchnorm_pool

pytestmark = pytest.mark.filterwarnings("error")

KERNEL = batchnorm_pool  # the kernels, and their twins named reference_...


@st.composite
def cases(draw, dtype=np.float64):
    """(x, gamma, beta, k, s): a batch with windows that do not overlap (s >= k), values of
    several scales and offsets, γ of both signs (a window's smallest x wins where γ < 0)."""
    k = draw(st.integers(1, 3))
    stride = k + draw(st.integers(0, 1))
    n, channels = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    height, width = draw(st.integers(k, 7)), draw(st.integers(k, 7))
    if n * height * width < 2:
        n = 2
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    scale = draw(st.sampled_from([1e-3, 1.0, 100.0]))
    offset = draw(st.sampled_from([0.0, 5.0, -1000.0]))
    x = offset + scale * rng.standard_normal((n, channels, height, width))
    gamma = rng.choice([-1.0, 1.0], channels) * rng.uniform(0.5, 2.0, channels)
    beta = rng.standard_normal(channels)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), k, stride


def _twins(channels, dtype, rng, **pooling):
    """A BatchNormReLUMaxPool2D and BatchNormReLU2D then MaxPool2D, with the same random γ
    (both signs), β and running statistics."""
    fused = tc.BatchNormReLUMaxPool2D(channels, **pooling, dtype=dtype)
    batch_norm = tc.BatchNormReLU2D(channels, dtype=dtype)
    values = {
        "gamma": rng.choice([-1.0, 1.0], channels) * rng.uniform(0.5, 2, channels),
        "beta": rng.standard_normal(channels) - 0.5,  # about half the windows clamped (2x2)
        "running_mean": rng.standard_normal(channels),
        "running_var": rng.uniform(0.5, 2, channels),
    }
    for layer in (fused, batch_norm):
        for name, value in values.items():
            arrays = layer.params if name in layer.params else layer.state
            arrays[name][:] = value
    return fused, tc.Sequential([batch_norm, tc.MaxPool2D(fused.kernel_size, fused.stride)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_kernels_equal_their_numpy_twins(dtype, data):
    x, gamma, beta, k, stride = data.draw(cases(dtype))
    out, argmax, mean, inv_std = KERNEL.batchnorm_relu_maxpool_forward(
        x, gamma, beta, 1e-5, k, stride
    )
    ref_out, ref_argmax, ref_mean, ref_inv_std = KERNEL.reference_batchnorm_relu_maxpool_forward(
        x, gamma, beta, 1e-5, k, stride
    )
    assert out.dtype == dtype and argmax.dtype == np.min_scalar_type(k * k - 1)
    np.testing.assert_array_equal(argmax, ref_argmax)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12, atol=1e-9 * np.abs(ref_mean).max())
    tol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(inv_std, ref_inv_std, rtol=tol)
    np.testing.assert_allclose(out, ref_out, rtol=tol, atol=tol)
    # with the same statistics, the same arithmetic: the same numbers
    inference = KERNEL.batchnorm_relu_maxpool_inference(x, gamma, beta, mean, inv_std, k, stride)
    np.testing.assert_array_equal(inference[0], out)
    np.testing.assert_array_equal(inference[1], argmax)
    reference = KERNEL.reference_batchnorm_relu_maxpool_inference(
        x, gamma, beta, mean, inv_std, k, stride
    )
    np.testing.assert_array_equal(reference[0], out)
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
    for batch_statistics in (True, False):
        arguments = (x, dout, argmax, mean, inv_std, gamma, beta, k, stride, batch_statistics)
        grads = KERNEL.batchnorm_relu_maxpool_backward(*arguments)
        ref_grads = KERNEL.reference_batchnorm_relu_maxpool_backward(*arguments)
        for grad, ref_grad in zip(grads, ref_grads, strict=True):
            scale = max(1.0, np.abs(ref_grad).max())
            np.testing.assert_allclose(grad, ref_grad, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(
    seed=st.integers(0, 2**16),
    pooling=st.sampled_from([(2, None), (3, 3), (2, 3), (1, 2)]),
    size=st.sampled_from([(7, 8), (4, 4), (3, 5)]),
)
def test_the_fused_layer_is_batchnorm_relu_then_maxpool(dtype, training, seed, pooling, size):
    """Outputs and running statistics to the last bit; gradients to rounding (the sums add their
    terms in another order). The values are far apart compared with their rounding, so that no
    two outputs of a window tie after it, where the two may choose different places. Maps of
    16 values or fewer (batchnorm.SHORT_ROWS) take their statistics sample by sample."""
    rng = np.random.default_rng(seed)
    k, stride = pooling
    x = (3 + 2 * rng.standard_normal((3, 3, *size))).astype(dtype)
    fused, three = _twins(3, dtype, rng, kernel_size=k, stride=stride)
    fused.training = three.layers[0].training = training
    out = fused.forward(x)
    np.testing.assert_array_equal(out, three.forward(x))
    assert out.dtype == dtype
    for name in ("running_mean", "running_var"):
        np.testing.assert_array_equal(fused.state[name], three.layers[0].state[name])
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = {"x": fused.backward(dout), **fused.grads}
    expected = {"x": three.backward(dout), **three.layers[0].grads}
    rounding = 1e-5 if dtype == np.float32 else 1e-12
    for name, grad in grads.items():
        scale = max(1.0, float(np.abs(expected[name]).max()))
        np.testing.assert_allclose(grad, expected[name], rtol=rounding, atol=rounding * scale)


@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_central_differences(training):
    rng = np.random.default_rng(4)
    layer, _ = _twins(3, np.float64, rng)
    layer.training = training
    # Distinct values, far apart compared with h: no window's chosen place moves under a nudge.
    # Each channel spread like its running statistics, and β = -0.8 |γ|: in both modes about
    # four windows in ten clamped, for γ of either sign.
    x = rng.permutation(4 * 3 * 6 * 6).reshape(4, 3, 6, 6).astype(np.float64)
    x = (x - x.mean(axis=(0, 2, 3))[:, None, None]) / x.std(axis=(0, 2, 3))[:, None, None]
    x = x * np.sqrt(layer.state["running_var"])[:, None, None]
    x += layer.state["running_mean"][:, None, None]
    layer.params["gamma"][:] = [1.5, -0.7, 1.1]
    layer.params["beta"][:] = -0.8 * np.abs(layer.params["gamma"])
    out = layer.forward(x)
    assert 0.2 < (out == 0).mean() < 0.8  # the ReLU clamps a good share
    for name, error in check_gradients(layer, x).items():
        assert error < 1e-7, name


def test_a_channel_with_negative_gamma_keeps_its_smallest_input():
    gamma, beta = np.array([1.0, -1.0]), np.zeros(2)
    window = np.array([[0.0, 3.0], [1.0, 2.0]])
    x = np.stack([np.stack([window, window]), np.stack([-window, -window])])  # (2, 2, 2, 2)
    out, argmax, _, _ = batchnorm_pool.batchnorm_relu_maxpool_forward(x, gamma, beta, 1e-5, 2, 2)
    # channel 0 (γ > 0), the largest x: 3 at place 1 in sample 0, -0 at place 0 in sample 1
    assert argmax[0, 0, 0, 0] == 1 and argmax[1, 0, 0, 0] == 0
    # channel 1 (γ < 0), the smallest x: 0 at place 0 in sample 0, -3 at place 1 in sample 1
    assert argmax[0, 1, 0, 0] == 0 and argmax[1, 1, 0, 0] == 1
    # each the window's largest output, as batch norm then ReLU then max-pooling give it
    three = tc.Sequential([tc.BatchNormReLU2D(2, dtype=np.float64), tc.MaxPool2D(2)])
    three.layers[0].params["gamma"][:] = gamma
    np.testing.assert_array_equal(out, three.forward(x))
    assert out[0, 0, 0, 0] > 0 and out[1, 1, 0, 0] > 0


def test_matches_pytorch_and_converts():
    rng = np.random.default_rng(5)
    layer, _ = _twins(3, np.float32, rng)
    assert_matches_pytorch(layer, rng.standard_normal((4, 3, 6, 6)).astype(np.float32), rng)


def test_the_detector_pools_in_its_batch_norm_layers():
    model = tc.networks.detector()
    kinds = [type(layer).__name__ for layer in model.layers]
    block = ["Conv2D", "BatchNormReLUMaxPool2D"]
    assert kinds == block * 4 + ["Conv2D", "BatchNormReLU2D", "Conv2D", "GridLayout"]
    assert tc.detection.network_stride(model) == 16


def test_bad_arguments_are_refused_by_name():
    x = np.ones((2, 3, 4, 4), np.float32)
    ones, zeros = np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match=r"stride must be at least kernel_size 2 .* got 1"):
        tc.BatchNormReLUMaxPool2D(3, 2, 1)
    with pytest.raises(ValueError, match=r"stride must be at least kernel_size 3"):
        batchnorm_pool.batchnorm_relu_maxpool_forward(x, ones, zeros, 1e-5, 3, 2)
    with pytest.raises(ValueError, match=r"kernel_size 5 is larger than the input 4x4"):
        tc.BatchNormReLUMaxPool2D(3, 5).forward(x)
    with pytest.raises(ValueError, match=r"x must hold values to take statistics of"):
        batchnorm_pool.batchnorm_relu_maxpool_forward(x[:0], ones, zeros, 1e-5, 2, 2)
    out, argmax, mean, inv_std = batchnorm_pool.batchnorm_relu_maxpool_forward(
        x, ones, zeros, 1e-5, 2, 2
    )
    backward = batchnorm_pool.batchnorm_relu_maxpool_backward
    with pytest.raises(ValueError, match=r"dout must have the shape of the pooled output"):
        backward(x, x, argmax, mean, inv_std, ones, zeros, 2, 2)
    with pytest.raises(ValueError, match=r"argmax must hold places in a 2x2 window"):
        backward(x, out, argmax + 4, mean, inv_std, ones, zeros, 2, 2)
    with pytest.raises(TypeError, match=r"batch_statistics must be True or False"):
        backward(x, out, argmax, mean, inv_std, ones, zeros, 2, 2, "yes")
    with pytest.raises(ValueError, match=r"beta must have the shape of the channels of x"):
        backward(x, out, argmax, mean, inv_std, ones, np.zeros(2), 2, 2)
    with pytest.raises(ValueError, match="more than one value per channel"):
        tc.BatchNormReLUMaxPool2D(3, 1).forward(np.ones((1, 3, 1, 1), np.float32))


def test_an_empty_batch_gives_empty_outputs_and_gradients():
    layer = tc.BatchNormReLUMaxPool2D(3)
    out = layer.forward(np.zeros((0, 3, 4, 4), np.float32))
    assert out.shape == (0, 3, 2, 2)
    assert layer.backward(out).shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(layer.state["running_var"], 1)  # not moved


def test_save_and_load_keep_the_pooling(tmp_path):
    model = tc.Sequential([tc.BatchNormReLUMaxPool2D(2, 3, 4, eps=1e-3, momentum=0.2)])
    model.forward(np.random.default_rng(0).random((2, 2, 9, 9), dtype=np.float32))
    tc.save(model, tmp_path / "m.npz")
    loaded = tc.load(tmp_path / "m.npz").layers[0]
    assert loaded.get_config() == model.layers[0].get_config()
    assert (loaded.kernel_size, loaded.stride, loaded.eps) == (3, 4, 1e-3)
    np.testing.assert_array_equal(
        loaded.state["running_mean"], model.layers[0].state["running_mean"]
    )


@pytest.mark.parametrize("stride", [10**9, 2**63])
def test_a_stride_past_the_image_gives_its_one_window(stride):
    """Each row and column then holds one window, at 0, as with the smallest such stride (6 for
    2x2 windows on 7x7 images); numba takes no integer beyond int64."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 7, 7))
    gamma, beta = np.array([1.0, -1.0, 2.0]), np.zeros(3)
    dout = rng.standard_normal((2, 3, 1, 1))
    for forward, backward in [
        (
            batchnorm_pool.batchnorm_relu_maxpool_forward,
            batchnorm_pool.batchnorm_relu_maxpool_backward,
        ),
        (
            batchnorm_pool.reference_batchnorm_relu_maxpool_forward,
            batchnorm_pool.reference_batchnorm_relu_maxpool_backward,
        ),
    ]:
        far = forward(x, gamma, beta, 1e-5, 2, stride)
        near = forward(x, gamma, beta, 1e-5, 2, 6)
        for got, expected in zip(far, near, strict=True):
            np.testing.assert_array_equal(got, expected)
        _, argmax, mean, inv_std = near
        grads = [backward(x, dout, argmax, mean, inv_std, gamma, beta, 2, s) for s in (stride, 6)]
        for got, expected in zip(*grads, strict=True):
            np.testing.assert_array_equal(got, expected)
    layer = tc.BatchNormReLUMaxPool2D(3, 2, 10**9, dtype=np.float64)
    assert layer.forward(x).shape == (2, 3, 1, 1)
    assert layer.backward(dout).shape == x.shape
