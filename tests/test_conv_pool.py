"""ConvReLUMaxPool2D and its kernels (kernels/conv_pool.py): bit for bit the layers it joins,
Conv2D then ReLUMaxPool2D, both ways (threads and serial); its gradients against central
differences; its arguments refused by name."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.gradcheck import check_gradients
from tinycnn.kernels import activation, conv, conv_pool, pool, threads, winograd

from strategies import conv_geometries

F32, F64 = np.float32, np.float64
TOLERANCE = 1e-6  # relative error of float64 gradients against central differences, h = 1e-6


def with_specials(rng, shape, dtype, share):
    """Normal numbers, a `share` of them NaN, inf, -inf, 0 or -0."""
    x = rng.standard_normal(shape)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
    where = rng.random(shape) < share
    x[where] = rng.choice(specials, size=int(where.sum()))
    return x.astype(dtype)


@st.composite
def fused_cases(draw):
    """(x, weights, bias, padding, dout) for the fused kernels: stride 1, k 2-5, an output of
    2x2 or more (odd sizes too: its last row or column is left out of the pooling), 1-9 output
    channels (whole blocks of 4 and not), sometimes NaN, inf and zeros of both signs."""
    k = draw(st.integers(2, 5))
    padding = draw(st.integers(0, k - 1))
    height = draw(st.integers(max(1, k + 1 - 2 * padding), 13))
    width = draw(st.integers(max(1, k + 1 - 2 * padding), 13))
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 9))
    dtype = draw(st.sampled_from([F32, F64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    share = draw(st.sampled_from([0.0, 0.0, 0.05]))
    x = with_specials(rng, (n, c_in, height, width), dtype, share)
    weights = rng.standard_normal((c_out, c_in, k, k)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    conv_h, conv_w = height + 2 * padding - k + 1, width + 2 * padding - k + 1
    dout = with_specials(rng, (n, c_out, conv_h // 2, conv_w // 2), dtype, share)
    return x, weights, bias, padding, dout


def conv_then_relu_maxpool(x, weights, bias, padding, dout, input_grad):
    """The two layers' kernels in a row (the direct road): out, argmax, dx, dweights, dbias."""
    conv_out, planes = conv.conv2d_forward(x, weights, bias, 1, padding, keep_planes=True)
    pooled, argmax = pool.maxpool2d_forward(conv_out, 2, 2)
    out = activation.relu_forward(pooled)
    dpooled = activation.relu_backward(dout, out)
    dconv = pool.maxpool2d_backward(dpooled, argmax, conv_out.shape, 2, 2)
    grads = conv.conv2d_backward(x.shape, dconv, weights, 1, padding, planes, input_grad)
    return out, argmax, *grads


@settings(max_examples=150, deadline=None)
@given(case=fused_cases(), way=st.sampled_from(["threads", "serial"]), input_grad=st.booleans())
def test_the_fused_kernels_are_conv_then_relu_maxpool_to_the_last_bit(case, way, input_grad):
    x, weights, bias, padding, dout = case
    # inf - inf in the weight gradient's sums is NaN in both ways, as it should be: no warning
    with threads.always(way), np.errstate(invalid="ignore"):
        expected = conv_then_relu_maxpool(x, weights, bias, padding, dout, input_grad)
        out, argmax, planes = conv_pool.conv_relu_maxpool_forward(x, weights, bias, padding)
        grads = conv_pool.conv_relu_maxpool_backward(
            x.shape, dout, out, argmax, weights, padding, planes, input_grad
        )
    assert argmax.dtype == np.uint8 and out.dtype == x.dtype
    for got, want in zip((out, argmax, *grads), expected, strict=True):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)
    assert not np.signbit(out[out == 0]).any()  # 0 where the ReLU clamps, never -0


@pytest.mark.parametrize("way", ["threads", "serial"])
@pytest.mark.parametrize("input_grad", [False, True])
@pytest.mark.parametrize("shape, padding", [((3, 1, 64, 64), 1), ((2, 2, 33, 31), 0)])
def test_the_backward_on_larger_maps_to_the_last_bit(way, input_grad, shape, padding):
    """On lesson 4's first block (and an odd one), the two ways of the backward: without the
    input gradient, the weight gradient builds dc a block at a time, its blocks holding whole
    rows and rows cut by their ends; with it, dc is laid out as planes. Both sum the same
    numbers in the same order as the two layers."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(F32)
    weights = rng.standard_normal((8, shape[1], 3, 3)).astype(F32)
    bias = rng.standard_normal(8).astype(F32)
    conv_h, conv_w = (size + 2 * padding - 2 for size in shape[2:])
    dout = with_specials(rng, (shape[0], 8, conv_h // 2, conv_w // 2), F32, 0.01)
    with threads.always(way), np.errstate(invalid="ignore"):
        expected = conv_then_relu_maxpool(x, weights, bias, padding, dout, input_grad)[2:]
        out, argmax, planes = conv_pool.conv_relu_maxpool_forward(x, weights, bias, padding)
        grads = conv_pool.conv_relu_maxpool_backward(
            shape, dout, out, argmax, weights, padding, planes, input_grad
        )
    for got, want in zip(grads, expected, strict=True):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)


@st.composite
def layer_cases(draw):
    """A ConvReLUMaxPool2D (any stride, padding and pooling) with an input it fits, and the
    Conv2D and ReLUMaxPool2D with the same weights."""
    geometry = draw(conv_geometries(max_kernel=4, max_size=12, max_in=3, max_out=9))
    n, c_in, c_out, (height, width) = (geometry[key] for key in ("n", "c_in", "c_out", "hw"))
    k, stride, padding = geometry["k"], geometry["stride"], geometry["padding"]
    if draw(st.booleans()):  # the usual 2x2 halving: the fused pass where the road allows
        pool_size, pool_stride = 2, None
    else:
        pool_size, pool_stride = draw(st.integers(1, 3)), draw(st.none() | st.integers(1, 3))
    conv_h = (height + 2 * padding - k) // stride + 1
    conv_w = (width + 2 * padding - k) // stride + 1
    if min(conv_h, conv_w) < pool_size:
        pool_size, pool_stride = 1, None
    dtype = draw(st.sampled_from([F32, F64]))
    seed = draw(st.integers(0, 2**16))
    fused = tc.ConvReLUMaxPool2D(
        c_in, c_out, k, stride, padding, pool_size, pool_stride, dtype=dtype, rng=seed
    )
    layers = (
        tc.Conv2D(c_in, c_out, k, stride, padding, dtype=dtype, rng=seed),
        tc.ReLUMaxPool2D(pool_size, pool_stride),
    )
    rng = np.random.default_rng(seed + 1)
    bias = rng.standard_normal(c_out).astype(dtype)
    fused.params["b"][:] = layers[0].params["b"][:] = bias
    x = rng.standard_normal((draw(st.integers(0, 1)) * n, c_in, height, width)).astype(dtype)
    return fused, layers, x


@settings(max_examples=100, deadline=None)
@given(case=layer_cases(), input_grad=st.booleans())
def test_the_layer_is_conv2d_then_relu_maxpool2d_to_the_last_bit(case, input_grad):
    """Where Conv2D would take Winograd's road, the fused pass takes the direct loops: then the
    layer equals the two layers' kernels on the direct road."""
    fused, (convolution, relu_pool), x = case
    np.testing.assert_array_equal(fused.params["W"], convolution.params["W"])
    W, b = convolution.params["W"], convolution.params["b"]
    out = fused.forward(x)
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
    dx = fused.backward(dout, input_grad)
    road = (x.shape, W.shape, fused.stride, fused.padding)
    pooling = (fused.pool_size, fused.pool_stride)
    if len(x) and winograd.chosen_for(*road) and conv_pool.chosen_for(*road, *pooling):
        expected_out, _, expected_dx, dW, db = conv_then_relu_maxpool(
            x, W, b, fused.padding, dout, input_grad
        )
    else:
        expected_out = relu_pool.forward(convolution.forward(x))
        expected_dx = convolution.backward(relu_pool.backward(dout), input_grad)
        dW, db = convolution.grads["W"], convolution.grads["b"]
    np.testing.assert_array_equal(out, expected_out)
    if input_grad:
        np.testing.assert_array_equal(dx, expected_dx)
    else:
        assert dx is None
    np.testing.assert_array_equal(fused.grads["W"], dW)
    np.testing.assert_array_equal(fused.grads["b"], db)


def test_lesson_4s_blocks_all_take_the_fused_pass():
    model = tc.networks.localizer()
    x = np.random.default_rng(0).standard_normal((4, 1, 64, 64)).astype(F32)
    model.forward(x)
    assert [layer._cache[1] for layer in model.layers[:3]] == ["fused"] * 3


@pytest.mark.parametrize(
    "arguments",
    [
        (3, 4, 3, 1, 1, 2, None),  # the fused pass
        (3, 4, 3, 2, 1, 2, None),  # stride 2: the two layers' kernels
        (3, 4, 3, 1, 0, 3, 2),  # windows that overlap
    ],
)
def test_gradients(arguments):
    layer = tc.ConvReLUMaxPool2D(*arguments, dtype=F64, rng=0)
    layer.params["b"][:] = np.random.default_rng(1).standard_normal(layer.out_channels)
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 8))
    errors = check_gradients(layer, x)
    assert max(errors.values()) < TOLERANCE, errors


def test_the_network_stride_counts_both_strides():
    model = tc.Sequential([tc.ConvReLUMaxPool2D(1, 2, 3, 2, 1, 2), tc.Conv2D(2, 2, 1)])
    assert tc.detection.network_stride(model) == 4


def test_the_layer_refuses_a_pooling_larger_than_the_convolutions_output():
    layer = tc.ConvReLUMaxPool2D(1, 2, 3, pool_size=3)
    with pytest.raises(ValueError, match="pool_size 3 is larger than the convolution's output"):
        layer.forward(np.zeros((1, 1, 4, 4), F32))
    with pytest.raises(ValueError, match="pool_stride"):
        tc.ConvReLUMaxPool2D(1, 2, 3, pool_stride=0)
    with pytest.raises(TypeError, match="pool_size"):
        tc.ConvReLUMaxPool2D(1, 2, 3, pool_size=2.5)


def fused_arguments():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(F32)
    weights = rng.standard_normal((4, 3, 3, 3)).astype(F32)
    out, argmax, planes = conv_pool.conv_relu_maxpool_forward(x, weights, None, 1)
    return x, weights, out, argmax, planes


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"weights": np.ones((4, 3, 1, 1), F32)}, ValueError, "kernels of 2x2 or more"),
        ({"x": np.ones((2, 3, 3, 4), F32), "padding": 0}, ValueError, "2x2 or more to pool"),
        ({"x": np.ones((2, 2, 8, 8), F32)}, ValueError, "input channels"),
        ({"weights": np.ones((4, 3, 3, 3), F64)}, TypeError, "weights"),
        ({"padding": -1}, ValueError, "padding"),
    ],
)
def test_the_forward_kernel_refuses_by_name(change, error, words):
    x, weights, *_ = fused_arguments()
    given_arguments = {"x": x, "weights": weights, "bias": None, "padding": 1, **change}
    with pytest.raises(error, match=words):
        conv_pool.conv_relu_maxpool_forward(**given_arguments)


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"dout": np.ones((2, 4, 3, 4), F32)}, ValueError, "dout"),
        ({"out": np.ones((2, 4, 4, 4), F64)}, TypeError, "out"),
        ({"argmax": np.full((2, 4, 4, 4), 4, np.uint8)}, ValueError, "argmax"),
        ({"argmax": np.zeros((2, 4, 4, 4), F32)}, TypeError, "argmax"),
        ({"planes": np.ones(7, F32)}, ValueError, "planes"),
        ({"planes": None}, ValueError, "planes"),
        ({"x_shape": (2, 3, 10, 8)}, ValueError, "dout"),
        ({"x_shape": (2, 3, 9, 8)}, ValueError, "planes"),
        ({"input_grad": "no"}, TypeError, "input_grad"),
    ],
)
def test_the_backward_kernel_refuses_by_name(change, error, words):
    x, weights, out, argmax, planes = fused_arguments()
    given_arguments = {
        "x_shape": x.shape,
        "dout": np.ones(out.shape, F32),
        "out": out,
        "argmax": argmax,
        "weights": weights,
        "padding": 1,
        "planes": planes,
        **change,
    }
    with pytest.raises(error, match=words):
        conv_pool.conv_relu_maxpool_backward(**given_arguments)


def test_the_blocks_convolution_alone_shares_its_weights():
    block = tc.ConvReLUMaxPool2D(1, 4, 3, padding=1, rng=0)
    convolution = block.convolution()
    assert type(convolution) is tc.Conv2D and convolution.params["W"] is block.params["W"]
    x = np.random.default_rng(0).standard_normal((2, 1, 10, 10))  # not Winograd's road.astype(F32)
    np.testing.assert_array_equal(
        block.forward(x), tc.ReLUMaxPool2D(2).forward(convolution.forward(x))
    )


@pytest.mark.parametrize("stride", [1, 2])  # the fused pass, and the two layers' passes
def test_a_refused_dout_keeps_the_cache_and_drop_cache_drops_all_of_it(stride):
    layer = tc.ConvReLUMaxPool2D(1, 4, 3, stride, 1, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 1, 12, 12)).astype(F32)
    out = layer.forward(x)
    with pytest.raises(ValueError, match="ConvReLUMaxPool2D.backward: dout must have the shape"):
        layer.backward(np.ones((2, 4, 1, 1), F32))
    with pytest.raises(TypeError, match="input_grad"):
        layer.backward(np.ones(out.shape, F32), input_grad="no")
    assert layer.backward(np.ones(out.shape, F32)).shape == x.shape
    layer.forward(x)
    layer.drop_cache()
    assert layer._cache is None and layer._pooling._cache is None
    with pytest.raises(ValueError, match="backward called before forward"):
        layer.backward(np.ones(out.shape, F32))
