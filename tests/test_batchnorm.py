"""Tests for BatchNorm2D and its kernels: against the NumPy twins, central differences, PyTorch."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.gradcheck import check_gradients
from tinycnn.kernels import batchnorm
from tinycnn.layers import BatchNorm2D, BatchNormReLU2D, GridLayout, ReLU

pytestmark = pytest.mark.filterwarnings("error")


@st.composite
def batches(draw, dtype=np.float64):
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 5)),
        draw(st.integers(1, 5)),
        draw(st.integers(1, 5)),
    )
    if shape[0] * shape[2] * shape[3] < 2:
        shape = (2, *shape[1:])
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    scale = draw(st.sampled_from([1e-3, 1.0, 100.0]))
    offset = draw(st.sampled_from([0.0, 5.0, -1000.0]))
    return (offset + scale * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_kernels_equal_their_numpy_twins(dtype, relu, data):
    x = data.draw(batches(dtype))
    rng = np.random.default_rng(0)
    channels = x.shape[1]
    gamma, beta = (
        rng.standard_normal(channels).astype(dtype),
        rng.standard_normal(channels).astype(dtype),
    )
    dout = rng.standard_normal(x.shape).astype(dtype)
    out, mean, inv_std = batchnorm.batchnorm_forward(x, gamma, beta, 1e-5, relu=relu)
    ref_out, ref_mean, ref_inv_std = batchnorm.reference_batchnorm_forward(
        x, gamma, beta, 1e-5, relu=relu
    )
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-9}
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref_out, **tol)
    np.testing.assert_allclose(
        mean,
        ref_mean,
        rtol=1e-6 if dtype == np.float32 else 1e-12,
        atol=1e-9 * np.abs(ref_mean).max(),
    )
    np.testing.assert_allclose(inv_std, ref_inv_std, rtol=1e-4 if dtype == np.float32 else 1e-9)
    if relu:  # the twin finds the clamped values with its own statistics: give it the kernel's
        ref_mean, ref_inv_std = mean, inv_std
    grads = batchnorm.batchnorm_backward(x, dout, mean, inv_std, gamma, relu=relu, beta=beta)
    ref_grads = batchnorm.reference_batchnorm_backward(
        x, dout, ref_mean, ref_inv_std, gamma, relu=relu, beta=beta
    )
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        scale = max(1.0, np.abs(ref_grad).max())
        np.testing.assert_allclose(grad, ref_grad, rtol=tol["rtol"], atol=tol["atol"] * scale)


@given(
    samples=st.integers(2, 64),
    length=st.integers(1, 64),
    offset=st.sampled_from([0.0, 1e3, -1e6]),
    outlier=st.sampled_from([1e-3, 1.0, 1e3, 1e6]),
    seed=st.integers(0, 2**16),
)
def test_statistics_keep_their_digits_when_the_first_value_lies_far_off(
    samples, length, offset, outlier, seed
):
    """The kernels' statistics are sums around each channel's first value x_0
    (`_channel_statistics`): the subtraction amplifies the sums' rounding (at most M ulps each)
    by at most M + 1 however far x_0 lies off the mean, and not at all by the values' distance
    from 0. Sums around 0 would miss by 1e12 ulps where the offset is -1e6."""
    rng = np.random.default_rng(seed)
    x = offset + rng.standard_normal((samples, 2, 1, length))
    x[0, :, 0, 0] += outlier * np.array([1.0, -1.0])
    _, mean, inv_std = batchnorm.batchnorm_forward(x, np.ones(2), np.zeros(2), 1e-300)
    values = [x[:, c].ravel() for c in range(2)]
    exact_mean = np.array([math.fsum(v) / v.size for v in values])
    exact_variance = np.array(
        [math.fsum((v - m) ** 2) / v.size for v, m in zip(values, exact_mean, strict=True)]
    )
    count, ulp = samples * length, 2.0**-52
    spread = max(np.abs(v - v[0]).max() for v in values)
    np.testing.assert_allclose(mean, exact_mean, rtol=2 * ulp, atol=2 * count * ulp * spread)
    np.testing.assert_allclose(
        1 / inv_std**2, exact_variance, rtol=2 * count * (count + 1) * ulp + 8 * ulp
    )


@given(batches())
def test_training_mode_normalises_each_channel(x):
    layer = BatchNorm2D(x.shape[1], dtype=np.float64)
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-9)
    variance = x.var(axis=(0, 2, 3))
    expected = variance / (variance + layer.eps)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_central_differences(training):
    rng = np.random.default_rng(1)
    layer = BatchNorm2D(3, dtype=np.float64)
    layer.params["gamma"][:] = rng.uniform(0.5, 2, 3)
    layer.params["beta"][:] = rng.standard_normal(3)
    layer.state["running_mean"][:] = rng.standard_normal(3)
    layer.state["running_var"][:] = rng.uniform(0.5, 2, 3)
    layer.training = training
    x = 3 + 2 * rng.standard_normal((4, 3, 3, 5))
    for name, error in check_gradients(layer, x).items():
        assert error < 1e-7, name


def test_running_statistics_follow_pytorch_and_serve_evaluation():
    rng = np.random.default_rng(2)
    layer = BatchNorm2D(2, momentum=0.25, dtype=np.float64)
    batches_seen = [5 + 3 * rng.standard_normal((4, 2, 3, 3)) for _ in range(3)]
    running_mean, running_var = np.zeros(2), np.ones(2)
    for x in batches_seen:
        layer.forward(x)
        running_mean = 0.75 * running_mean + 0.25 * x.mean(axis=(0, 2, 3))
        running_var = 0.75 * running_var + 0.25 * x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.state["running_mean"], running_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.state["running_var"], running_var, rtol=1e-10)
    layer.training = False
    kept = layer.state["running_mean"].copy()
    x = rng.standard_normal((2, 2, 3, 3))
    expected = (x - running_mean[:, None, None]) / np.sqrt(running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-10)
    np.testing.assert_array_equal(layer.state["running_mean"], kept)  # not updated


def test_matches_pytorch_forward_and_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    layer = BatchNorm2D(3)
    module = torch.nn.BatchNorm2d(3)
    x_torch = torch.from_numpy(x).requires_grad_()
    out_torch = module(x_torch)
    out_torch.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(layer.forward(x), out_torch.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.backward(dout), x_torch.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(
        layer.grads["gamma"], module.weight.grad.numpy(), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(layer.state["running_var"], module.running_var.numpy(), rtol=1e-5)


def _twins(channels, dtype, rng):
    """A BatchNormReLU2D and a BatchNorm2D with the same random γ, β and running statistics."""
    gamma, beta = rng.uniform(0.5, 2, channels), rng.standard_normal(channels)
    running_mean, running_var = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    layers = BatchNormReLU2D(channels, dtype=dtype), BatchNorm2D(channels, dtype=dtype)
    for layer in layers:
        layer.params["gamma"][:], layer.params["beta"][:] = gamma, beta
        layer.state["running_mean"][:], layer.state["running_var"][:] = running_mean, running_var
    return layers


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(x=batches(), seed=st.integers(0, 2**16))
def test_batchnorm_relu_is_batchnorm_then_relu(dtype, training, x, seed):
    """The fused layer gives BatchNorm2D then ReLU's output and running statistics to the last
    bit (the kernels clamp the very values batch norm alone writes), and their gradients up to
    rounding (the backward's sums may add their terms in another order)."""
    rng = np.random.default_rng(seed)
    x = x.astype(dtype)
    fused, batchnorm_layer = _twins(x.shape[1], dtype, rng)
    relu = ReLU()
    for layer in (fused, batchnorm_layer):
        layer.training = training
    out = fused.forward(x)
    np.testing.assert_array_equal(out, relu.forward(batchnorm_layer.forward(x)))
    assert out.dtype == dtype
    dout = rng.standard_normal(x.shape).astype(dtype)
    grads = {"x": fused.backward(dout), **fused.grads}
    expected = {"x": batchnorm_layer.backward(relu.backward(dout)), **batchnorm_layer.grads}
    rounding = 1e-6 if dtype == np.float32 else 1e-12
    for name, grad in grads.items():
        scale = max(1.0, float(np.abs(expected[name]).max()))
        np.testing.assert_allclose(grad, expected[name], rtol=rounding, atol=rounding * scale)
    for name in ("running_mean", "running_var"):
        np.testing.assert_array_equal(fused.state[name], batchnorm_layer.state[name])


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_relu_gradients_match_central_differences(training):
    rng = np.random.default_rng(4)
    layer, _ = _twins(3, np.float64, rng)
    layer.training = training
    x = layer.state["running_mean"][:, None, None] + 2 * rng.standard_normal((4, 3, 3, 5))
    assert 0.2 < (layer.forward(x) == 0).mean() < 0.8  # the ReLU clamps a good share
    for name, error in check_gradients(layer, x).items():
        assert error < 1e-7, name


def test_batchnorm_relu_matches_pytorch_and_converts():
    rng = np.random.default_rng(5)
    layer, _ = _twins(3, np.float32, rng)
    assert_matches_pytorch(layer, rng.standard_normal((4, 3, 5, 5)).astype(np.float32), rng)


def assert_matches_pytorch(layer, x, rng):
    """A fused batch-norm layer (float32) against `to_torch`'s nn.Sequential of its modules, the
    first of them nn.BatchNorm2d: output, input gradient, dγ and the running variance."""
    torch = pytest.importorskip("torch")
    from tinycnn.interop import to_torch
    from tinycnn.model import Sequential

    module = to_torch(Sequential([layer]))
    x_torch = torch.from_numpy(x).requires_grad_()
    out_torch = module(x_torch)
    dout = rng.standard_normal(tuple(out_torch.shape)).astype(np.float32)
    out_torch.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(layer.forward(x), out_torch.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.backward(dout), x_torch.grad.numpy(), atol=1e-4)
    batchnorm_module = module[0][0]
    np.testing.assert_allclose(
        layer.grads["gamma"], batchnorm_module.weight.grad.numpy(), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        layer.state["running_var"], batchnorm_module.running_var.numpy(), rtol=1e-5
    )


def test_relu_arguments_of_the_kernels_are_checked():
    x = np.ones((2, 3, 2, 2), np.float32)
    ones, zeros = np.ones(3), np.zeros(3)
    with pytest.raises(TypeError, match=r"relu must be True or False, got 'yes' \(str\)"):
        batchnorm.batchnorm_forward(x, ones, zeros, 1e-5, relu="yes")
    with pytest.raises(TypeError, match="relu must be True or False"):
        batchnorm.batchnorm_inference(x, ones, zeros, zeros, ones, relu=1)
    with pytest.raises(TypeError, match="beta must be given with relu=True"):
        batchnorm.batchnorm_backward(x, x, zeros, ones, ones, relu=True)
    with pytest.raises(ValueError, match=r"beta must have the shape of the channels of x: \(3,\)"):
        batchnorm.batchnorm_backward(x, x, zeros, ones, ones, relu=True, beta=np.zeros(2))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        BatchNorm2D(0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm2D(2, momentum=2)
    with pytest.raises(ValueError, match="3 channels"):
        BatchNorm2D(3).forward(np.zeros((2, 2, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="more than one value per channel"):
        BatchNorm2D(3).forward(np.zeros((1, 3, 1, 1), dtype=np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        BatchNorm2D(3).forward(np.zeros((2, 3, 2, 2), dtype=np.int64))


def test_grid_layout_puts_each_anchor_vector_in_its_cell():
    x = np.arange(2 * 6 * 3 * 4, dtype=np.float64).reshape(2, 6, 3, 4)  # B = 2 anchors, D = 3
    layer = GridLayout(2)
    out = layer.forward(x)
    assert out.shape == (2, 3, 4, 2, 3)
    assert out[1, 2, 3, 1, 0] == x[1, 3, 2, 3]  # anchor 1, entry 0 is channel 1 * 3 + 0
    np.testing.assert_array_equal(layer.backward(out), x)
    errors = check_gradients(layer, np.random.default_rng(0).standard_normal(x.shape))
    assert errors["x"] < 1e-8
    with pytest.raises(ValueError, match="multiple of num_anchors=4"):
        GridLayout(4).forward(x)


def test_save_and_load_keep_the_running_statistics(tmp_path):
    import tinycnn as tc
    from tinycnn.detection import GridLoss

    loss = GridLoss([[0.4, 0.2], [0.2, 0.4]], 3)
    model = tc.networks.detector(image_size=32, channels=(4, 4, 8, 8, 8), output=loss.output)
    images = np.random.default_rng(0).random((4, 1, 32, 32), dtype=np.float32)
    model.forward(images)  # training mode: the running statistics move
    tc.save(model, tmp_path / "detector.npz")
    loaded = tc.load(tmp_path / "detector.npz")
    assert loaded.output == model.output
    for layer, twin in zip(model.layers, loaded.layers, strict=True):
        for name, array in layer.state.items():
            np.testing.assert_array_equal(twin.state[name], array)
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))


def test_from_config_allocates_nothing():
    layer = BatchNorm2D.from_config(BatchNorm2D(5, eps=1e-3, momentum=0.2).get_config())
    assert layer.params == {} and layer.state == {}
    assert layer.param_shapes() == {"gamma": (5,), "beta": (5,)}
    assert layer.state_shapes() == {"running_mean": (5,), "running_var": (5,)}
