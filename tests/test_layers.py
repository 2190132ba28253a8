"""Layers: gradients against central differences, the forward/backward contract, bad input."""

import copy
import gc
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.gradcheck import check_gradients
from tinycnn.kernels import reference

from strategies import conv_geometries

TOLERANCE = 1e-6  # relative error of float64 gradients against central differences, h = 1e-6
F64 = np.float64


@st.composite
def conv_cases(draw):
    """A Conv2D in float64 with an input it fits: kernel 1-4, stride 1-3, padding 0..k-1."""
    geometry = draw(conv_geometries(max_kernel=4, max_size=7, max_in=3, max_out=3))
    n, c_in, c_out, (height, width) = (geometry[key] for key in ("n", "c_in", "c_out", "hw"))
    k, stride, padding = geometry["k"], geometry["stride"], geometry["padding"]
    seed = draw(st.integers(0, 2**16))
    layer = tc.Conv2D(c_in, c_out, k, stride, padding, dtype=F64, rng=seed)
    layer.params["b"][:] = np.random.default_rng(seed).standard_normal(c_out)
    x = np.random.default_rng(seed + 1).standard_normal((n, c_in, height, width))
    return layer, x


@given(conv_cases())
def test_conv2d_gradients(case):
    layer, x = case
    errors = check_gradients(layer, x)
    assert max(errors.values()) < TOLERANCE, errors


@given(k=st.integers(1, 3), stride=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_maxpool2d_gradients(k, stride, seed):
    # Distinct values far apart compared with h: no window's maximum changes under a nudge.
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) * 0.1
    errors = check_gradients(tc.MaxPool2D(k, stride), x)
    assert errors["x"] < TOLERANCE


@st.composite
def pool_cases(draw):
    """(k, stride, x) with ties, zeros of both signs, NaN and mostly negative windows: where a
    ReLU before the pooling and one after it could part ways, if they ever did."""
    k, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n, channels = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    height, width = draw(st.integers(k, 7)), draw(st.integers(k, 7))
    values = st.sampled_from([-2.0, -1.0, -0.0, 0.0, 0.5, 1.0, np.nan])
    size = n * channels * height * width
    x = np.array(draw(st.lists(values, min_size=size, max_size=size)))
    return k, stride, x.reshape(n, channels, height, width)


@given(case=pool_cases(), dtype=st.sampled_from([np.float32, np.float64]))
def test_relu_maxpool_is_relu_then_maxpool_to_the_last_bit(case, dtype):
    k, stride, x = case
    x = x.astype(dtype)
    fused, relu, pool = tc.ReLUMaxPool2D(k, stride), tc.ReLU(), tc.MaxPool2D(k, stride)
    out = fused.forward(x)
    np.testing.assert_array_equal(out, pool.forward(relu.forward(x)))
    assert out.dtype == dtype and not np.signbit(out).any()  # 0, never -0, as the ReLU gives
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
    dx = fused.backward(dout)
    np.testing.assert_array_equal(dx, relu.backward(pool.backward(dout)))
    assert dx.dtype == dtype


@given(k=st.integers(1, 3), stride=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_relu_maxpool_gradients(k, stride, seed):
    # Distinct values far apart compared with h; the first sample's all negative, so its windows
    # are clamped to 0 and pass no gradient, the second's all positive, so its maxima pass.
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) * 0.1 + 0.05
    x[0] -= 100
    layer = tc.ReLUMaxPool2D(k, stride)
    out = layer.forward(x)
    assert (out[0] == 0).all() and (out[1] > 0).all()
    errors = check_gradients(layer, x)
    assert errors["x"] < TOLERANCE


@pytest.mark.parametrize(
    "layer",
    [
        tc.Dense(5, 4, dtype=F64, rng=0),
        tc.ReLU(),
        tc.LeakyReLU(0.1),
        tc.Sigmoid(),
        tc.Tanh(),
        tc.Flatten(),
    ],
    ids=repr,
)
def test_gradients(layer):
    x = np.random.default_rng(1).standard_normal((3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the ReLU kink, where the derivative jumps
    errors = check_gradients(layer, x)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_leaky_relu_entry_by_entry(dtype):
    x = np.array([[-2.0, -0.0, 0.0, 3.0, np.inf, -np.inf, np.nan]], dtype=dtype)
    dout = np.full_like(x, 2.0)
    relu = tc.ReLU()
    out = relu.forward(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, [[0, 0, 0, 3, np.inf, 0, np.nan]])  # NaN stays visible
    np.testing.assert_array_equal(relu.backward(dout), [[0, 0, 0, 2, 2, 0, 0]])
    leaky = tc.LeakyReLU(0.25)
    out = leaky.forward(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, [[-0.5, 0, 0, 3, np.inf, -np.inf, np.nan]])
    np.testing.assert_array_equal(leaky.backward(dout), [[0.5, 0.5, 0.5, 2, 2, 0.5, 0.5]])


def test_relu_and_leaky_relu_match_their_formulas_on_mixed_signs():
    x = np.random.default_rng(4).standard_normal((4, 3, 16, 16)).astype(np.float32)
    dout = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)
    relu, leaky = tc.ReLU(), tc.LeakyReLU(0.1)
    np.testing.assert_array_equal(relu.forward(x), np.where(x > 0, x, 0))
    np.testing.assert_array_equal(relu.backward(dout), np.where(x > 0, dout, 0))
    slope = np.where(x > 0, np.float32(1), np.float32(0.1))
    np.testing.assert_array_equal(leaky.forward(x), x * slope)
    np.testing.assert_array_equal(leaky.backward(dout), dout * slope)


def test_dropout_gradient_with_a_fixed_mask():
    layer = tc.Dropout(0.5, rng=0)
    x = np.random.default_rng(2).standard_normal((4, 6))
    # Reseed before every forward so that each finite-difference evaluation drops the same units.
    original_forward = layer.forward

    def forward_with_fixed_mask(inputs):
        layer.rng = np.random.default_rng(3)
        return original_forward(inputs)

    layer.forward = forward_with_fixed_mask
    assert check_gradients(layer, x)["x"] < TOLERANCE


def test_dropout_training_and_evaluation():
    x = np.ones((200, 100), dtype=np.float32)
    layer = tc.Dropout(0.3, rng=0)
    out = layer.forward(x)
    kept = out != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(layer.backward(x) != 0, kept)
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(2 * x), 2 * x)


@given(conv_cases())
def test_conv2d_forward_is_the_lecture_loop(case):
    layer, x = case
    expected = reference.conv2d_forward(
        x, layer.params["W"], layer.params["b"], layer.stride, layer.padding
    )
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-10, atol=1e-12)


def test_conv2d_float32_matches_float64():
    layer64 = tc.Conv2D(3, 4, 3, padding=1, dtype=F64, rng=0)
    layer32 = tc.Conv2D(3, 4, 3, padding=1, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9))
    out32 = layer32.forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, layer64.forward(x), rtol=1e-4, atol=1e-5)
    dout = np.random.default_rng(1).standard_normal(out32.shape)
    dx32 = layer32.backward(dout.astype(np.float32))
    np.testing.assert_allclose(dx32, layer64.backward(dout), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer32.grads["W"], layer64.grads["W"], rtol=1e-4, atol=1e-4)


def test_conv2d_keeps_the_input_only_where_it_has_no_planes():
    """Backward reads x through the planes its forward laid out; x itself (the previous layer's
    output) is not kept alive, except by a 1x1 convolution, which lays out no planes."""
    rng = np.random.default_rng(0)
    for kernel_size, padding, kept in ((3, 1, False), (1, 0, True)):
        layer = tc.Conv2D(2, 4, kernel_size, padding=padding, rng=0)
        x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
        expected_dx = layer.backward(np.ones_like(layer.forward(x.copy())))
        x_ref = weakref.ref(x)
        out = layer.forward(x)
        del x
        gc.collect()
        assert (x_ref() is not None) == kept
        np.testing.assert_array_equal(layer.backward(np.ones_like(out)), expected_dx)


@pytest.mark.parametrize("layer", [tc.LeakyReLU(0.1), tc.Dropout(0.5, rng=0)], ids=repr)
def test_masking_layers_keep_a_mask_of_bytes(layer):
    """Between forward and backward, a layer that multiplies by one of two numbers keeps which
    one as a boolean mask (1 byte per entry), not the float factors (4 or 8)."""
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    out = layer.forward(x)
    mask = layer._cache[0]
    assert mask.dtype == np.bool_ and mask.shape == x.shape
    dx = layer.backward(np.ones_like(out))
    np.testing.assert_array_equal(x * dx, out)  # dx = dout * the factor that forward applied


def test_maxpool_output_size_and_first_maximum():
    x = np.zeros((1, 1, 5, 5))
    out = tc.MaxPool2D(2).forward(x)  # floor((5 - 2) / 2) + 1 = 2
    assert out.shape == (1, 1, 2, 2)
    layer = tc.MaxPool2D(3, stride=1)
    layer.forward(np.zeros((1, 1, 4, 4)))
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    # All windows tie; each sends its gradient to its own top-left entry.
    np.testing.assert_array_equal(
        dx[0, 0], [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    )


def test_grads_are_overwritten_and_dout_is_left_alone():
    layer = tc.Dense(3, 2, dtype=F64, rng=0)
    x = np.ones((4, 3))
    dout = np.ones((4, 2))
    dout_before = dout.copy()
    layer.forward(x)
    layer.backward(dout)
    first = layer.grads["W"].copy()
    layer.forward(x)
    layer.backward(dout)
    np.testing.assert_array_equal(layer.grads["W"], first)
    np.testing.assert_array_equal(dout, dout_before)


@pytest.mark.parametrize("layer_class", [tc.Conv2D, tc.MaxPool2D, tc.ReLU])
def test_backward_leaves_dout_alone_for_every_layer_kind(layer_class):
    layer = {
        tc.Conv2D: lambda: tc.Conv2D(2, 3, 3, padding=1, rng=0),
        tc.MaxPool2D: lambda: tc.MaxPool2D(2),
        tc.ReLU: tc.ReLU,
    }[layer_class]()
    out = layer.forward(np.random.default_rng(0).standard_normal((2, 2, 6, 6)).astype(np.float32))
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    dout_before = dout.copy()
    layer.backward(dout)
    np.testing.assert_array_equal(dout, dout_before)


def test_he_initialisation_scale():
    weights = tc.Conv2D(16, 32, 3, rng=0).params["W"]
    assert weights.dtype == np.float32
    assert abs(weights.std() - np.sqrt(2 / (16 * 9))) < 0.01
    assert not tc.Conv2D(16, 32, 3, rng=0).params["b"].any()
    np.testing.assert_array_equal(
        weights, tc.Conv2D(16, 32, 3, rng=np.random.default_rng(0)).params["W"]
    )


def test_non_contiguous_input():
    layer = tc.Conv2D(2, 3, 3, stride=2, padding=1, dtype=F64, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 7, 9, 2)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(layer.forward(x), layer.forward(np.ascontiguousarray(x)))


@pytest.mark.parametrize(
    "make_layer, x, message",
    [
        (lambda: tc.Conv2D(1, 2, 3), np.zeros((1, 8, 8)), r"x must be 4-dimensional"),
        (
            lambda: tc.Conv2D(1, 2, 3),
            np.zeros((1, 3, 8, 8)),
            r"x must have 1 channel \(x.shape\[1\]\)",
        ),
        (
            lambda: tc.Conv2D(1, 2, 5, padding=1),
            np.zeros((1, 1, 2, 8)),
            r"kernel_size 5 is larger "
            r"than the padded input 4x10",
        ),
        (
            lambda: tc.MaxPool2D(3),
            np.zeros((1, 1, 2, 8)),
            r"kernel_size 3 is larger than the input",
        ),
        (lambda: tc.Dense(4, 2), np.zeros((2, 5)), r"x must have 4 features"),
        (lambda: tc.Dense(4, 2), np.zeros((2, 2, 2)), r"Flatten"),
    ],
)
def test_bad_input_shapes(make_layer, x, message):
    with pytest.raises(ValueError, match=message):
        make_layer().forward(x)


def test_bad_input_types():
    with pytest.raises(TypeError, match=r"x must be float32 or float64, got uint8"):
        tc.Conv2D(1, 2, 3).forward(np.zeros((1, 1, 8, 8), dtype=np.uint8))
    with pytest.raises(TypeError, match=r"x must be a numpy array, got list"):
        tc.ReLU().forward([[1.0]])
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64"):
        tc.Dense(2, 2, dtype=np.int32)
    with pytest.raises(TypeError, match=r"rng must be"):
        tc.Dense(2, 2, rng="seed")


@pytest.mark.parametrize(
    "make_layer, message",
    [
        (lambda: tc.Conv2D(0, 2, 3), r"in_channels must be a positive integer, got 0"),
        (lambda: tc.Conv2D(1, -1, 3), r"out_channels must be a positive integer"),
        (lambda: tc.Conv2D(1, 2, 0), r"kernel_size must be a positive integer"),
        (lambda: tc.Conv2D(1, 2, 3, stride=0), r"stride must be a positive integer, got 0"),
        (lambda: tc.Conv2D(1, 2, 3, padding=-1), r"padding must be a non-negative integer"),
        (lambda: tc.MaxPool2D(2, stride=0), r"stride must be a positive integer"),
        (lambda: tc.Dense(0, 2), r"in_features must be a positive integer"),
        (
            lambda: tc.Dropout(1.0),
            r"p \(the probability of dropping a unit\) must be a number in "
            r"\[0, 1\)",
        ),
        (lambda: tc.LeakyReLU(-0.1), r"negative_slope must be a number in \[0, 1\)"),
        (lambda: tc.LeakyReLU(np.inf), r"negative_slope must be a number in \[0, 1\)"),
    ],
)
def test_bad_constructor_arguments(make_layer, message):
    with pytest.raises(ValueError, match=message):
        make_layer()


@pytest.mark.parametrize(
    "make_layer, message",
    [
        (lambda: tc.Conv2D(1, 2, 2.5), r"kernel_size must be a positive integer, got 2.5"),
        (lambda: tc.Conv2D(1, 2, 3, padding=None), r"padding must be a non-negative integer"),
        (lambda: tc.Dense("3", 2), r"in_features must be a positive integer, got '3'"),
        (
            lambda: tc.Dropout("0.5"),
            r"p \(the probability of dropping a unit\) must be a real number",
        ),
        (lambda: tc.LeakyReLU(None), r"negative_slope must be a real number, got None"),
        (lambda: tc.LeakyReLU(np.array([0.1])), r"negative_slope must be a real number"),
    ],
)
def test_constructor_arguments_of_the_wrong_type(make_layer, message):
    with pytest.raises(TypeError, match=message):
        make_layer()


@pytest.mark.parametrize(
    "layer",
    [
        tc.Conv2D(1, 2, 3),
        tc.MaxPool2D(2),
        tc.Dense(2, 2),
        tc.ReLU(),
        tc.Flatten(),
        tc.Sigmoid(),
        tc.Dropout(),
    ],
    ids=repr,
)
def test_backward_before_forward(layer):
    with pytest.raises(ValueError, match=r"backward called before forward"):
        layer.backward(np.zeros((1, 2), dtype=np.float32))


@pytest.mark.parametrize("layer", [tc.Conv2D(2, 2, 1, rng=0), tc.ReLU(), tc.Flatten()], ids=repr)
def test_backward_uses_up_the_cache(layer):
    """One backward per forward, as in PyTorch: the arrays kept for backward are freed by it."""
    out = layer.forward(np.ones((1, 2, 1, 1), dtype=np.float32))
    layer.backward(np.ones_like(out))
    assert layer._cache is None
    with pytest.raises(ValueError, match=r"uses up what its forward kept"):
        layer.backward(np.ones_like(out))


def test_dout_of_the_wrong_shape():
    layer = tc.Conv2D(1, 2, 3, rng=0)
    layer.forward(np.zeros((2, 1, 6, 6), dtype=np.float32))
    with pytest.raises(
        ValueError,
        match=r"dout must have the shape of the last forward output "
        r"\(2, 2, 4, 4\), got \(2, 2, 6, 6\)",
    ):
        layer.backward(np.zeros((2, 2, 6, 6), dtype=np.float32))


# --- the layer contract -------------------------------------------------------------------------


def every_layer():
    """One of each built-in layer in float64, with an input (N=2) it fits."""
    x4 = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    x2 = np.random.default_rng(1).standard_normal((2, 5))
    return [
        (tc.Conv2D(2, 3, 3, padding=1, dtype=F64, rng=0), x4),
        (tc.MaxPool2D(2), x4),
        (tc.ReLUMaxPool2D(2), x4),
        (tc.ConvReLUMaxPool2D(2, 3, 3, padding=1, dtype=F64, rng=0), x4),
        (tc.Dense(5, 4, dtype=F64, rng=0), x2),
        (tc.Flatten(), x4),
        (tc.ReLU(), x2),
        (tc.LeakyReLU(0.1), x2),
        (tc.Sigmoid(), x2),
        (tc.Tanh(), x2),
        (tc.Dropout(0.5, rng=0), x2),
        (tc.BatchNorm2D(2, dtype=F64), x4),
        (tc.BatchNormReLU2D(2, dtype=F64), x4),
        (tc.BatchNormReLUMaxPool2D(2, dtype=F64), x4),
        (tc.GridLayout(num_anchors=2), x4),
    ]


def test_every_built_in_layer_is_registered_exported_and_tested_here():
    names = [type(layer).__name__ for layer, _ in every_layer()]
    assert sorted(names) == sorted(tc.LAYERS)  # each generic test below runs on every layer
    for name in names:
        assert tc.Layer.registry[name] is getattr(tc, name)
        assert name in tc.__all__


def test_a_user_layer_named_like_a_built_in_registers_under_its_own_module():
    class ReLU(tc.Layer):
        def forward(self, x):
            return x

        def backward(self, dout, input_grad=True):
            return dout

    assert ReLU.type_name == f"{__name__}.{ReLU.__qualname__}"
    assert tc.Layer.registry["ReLU"] is tc.ReLU
    assert tc.Layer.registry[ReLU.type_name] is ReLU


def test_the_base_class_declares_forward_and_backward():
    class Unfinished(tc.Layer):
        pass

    with pytest.raises(NotImplementedError, match="Unfinished must define forward"):
        Unfinished().forward(np.zeros((1, 1)))
    with pytest.raises(NotImplementedError, match="Unfinished must define backward"):
        Unfinished().backward(np.zeros((1, 1)))


@pytest.mark.parametrize("layer, x", every_layer(), ids=lambda value: repr(value)[:20])
def test_input_grad_false_returns_none_and_the_same_grads(layer, x):
    out = layer.forward(x)
    twin = copy.deepcopy(layer)  # the same cache (and Dropout mask): one backward each
    dout = np.random.default_rng(2).standard_normal(out.shape)
    dx = layer.backward(dout)
    assert dx.shape == x.shape
    assert twin.backward(dout, input_grad=False) is None
    assert twin.grads.keys() == layer.params.keys()
    for name, grad in layer.grads.items():
        np.testing.assert_array_equal(twin.grads[name], grad)


@pytest.mark.parametrize("layer, x", every_layer(), ids=lambda value: repr(value)[:20])
def test_a_refused_backward_changes_nothing_and_the_corrected_call_works(layer, x):
    """A backward refused for its arguments (dout of another shape or dtype, input_grad not a
    bool) keeps the forward's cache: the corrected call gives what it gives without the mistake,
    and uses the cache up."""
    out = layer.forward(x)
    twin = copy.deepcopy(layer)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    mistakes = [
        (dout[:1], ValueError),
        (dout.astype(np.int64), TypeError),
        (dout.tolist(), TypeError),
    ]
    for wrong, error in mistakes:
        with pytest.raises(error, match="dout"):
            layer.backward(wrong)
    with pytest.raises(TypeError, match="input_grad"):
        layer.backward(dout, input_grad="no")
    np.testing.assert_array_equal(layer.backward(dout), twin.backward(dout))
    for name, grad in twin.grads.items():
        np.testing.assert_array_equal(layer.grads[name], grad)
    with pytest.raises(ValueError, match="backward called before forward"):
        layer.backward(dout)


@pytest.mark.parametrize("layer, x", every_layer(), ids=lambda value: repr(value)[:20])
def test_from_config_builds_the_same_layer_without_weights(layer, x):
    rebuilt = type(layer).from_config(layer.get_config())
    assert repr(rebuilt) == repr(layer)
    assert rebuilt.params == {} and rebuilt.state == {}
    assert rebuilt.param_shapes() == {name: param.shape for name, param in layer.params.items()}
    assert rebuilt.state_shapes() == {name: array.shape for name, array in layer.state.items()}
    rebuilt.params = {name: param.copy() for name, param in layer.params.items()}
    rebuilt.state = {name: array.copy() for name, array in layer.state.items()}
    layer.training = rebuilt.training = False
    np.testing.assert_array_equal(rebuilt.forward(x), layer.forward(x))


def test_from_config_of_a_huge_layer_allocates_nothing():
    import tracemalloc

    tracemalloc.start()
    layer = tc.Dense.from_config({"in_features": 30000, "out_features": 30000})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert layer.param_shapes()["W"] == (30000, 30000)
    assert peak < 1_000_000  # 3.6 GB of weights, had they been drawn
    with pytest.raises(TypeError, match="config must be a dict"):
        tc.Dense.from_config([30000, 30000])
    with pytest.raises(TypeError, match="unexpected keyword"):
        tc.Dense.from_config({"in_features": 3, "out_features": 2, "bias": False})


@pytest.mark.parametrize(
    "name, value, error, match",
    [
        ("W", np.zeros((3, 2, 5, 5)), ValueError, r"params\['W'\] must have shape \(3, 2, 3, 3\)"),
        ("b", np.zeros(4), ValueError, r"params\['b'\] must have shape \(3,\), got \(4,\)"),
        (
            "W",
            np.zeros((3, 2, 3, 3), np.float32),
            TypeError,
            r"params\['W'\] must be of dtype float64",
        ),
        ("W", [[0.0]], TypeError, r"params\['W'\] must be a numpy array, got list"),
        ("extra", np.zeros(3), ValueError, r"params must hold exactly \['W', 'b'\]"),
    ],
)
def test_params_are_checked_against_their_layer_in_forward_and_backward(name, value, error, match):
    layer, x = every_layer()[0]
    out = layer.forward(x)
    saved = layer.params.get(name)
    layer.params[name] = value
    with pytest.raises(error, match=match):
        layer.forward(x)
    with pytest.raises(error, match=match):
        layer.backward(np.ones_like(out))
    if saved is None:
        del layer.params[name]
    else:
        layer.params[name] = saved
    layer.forward(x)


def test_dense_params_are_checked_too():
    layer = tc.Dense(3, 2)
    layer.params["W"] = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"Dense\(3, 2\): params\['W'\] must have shape \(3, 2\)"):
        layer.forward(np.zeros((1, 3), np.float32))
    del layer.params["b"]
    with pytest.raises(ValueError, match=r"params must hold exactly \['W', 'b'\], got \['W'\]"):
        layer.forward(np.zeros((1, 3), np.float32))


@pytest.mark.parametrize("layer, x", every_layer(), ids=lambda value: repr(value)[:20])
def test_an_empty_batch_gives_empty_outputs_and_gradients(layer, x):
    empty = x[:0]
    out = layer.forward(empty)
    assert out.shape[0] == 0 and out.shape[1:] == layer.forward(x).shape[1:]
    layer.forward(empty)
    dx = layer.backward(np.zeros(out.shape))
    assert dx.shape == empty.shape
    for name, param in layer.params.items():
        np.testing.assert_array_equal(layer.grads[name], np.zeros_like(param))


def test_relu_keeps_nan_as_torch_does():
    out = tc.ReLU().forward(np.array([[np.nan, -1.0, 2.0]]))
    assert np.isnan(out[0, 0]) and out[0, 1] == 0 and out[0, 2] == 2


@pytest.mark.parametrize(
    "make_layer",
    [
        lambda: tc.MaxPool2D(2, stride=2**63),
        lambda: tc.MaxPool2D(10**30),
        lambda: tc.Conv2D(1, 1, 3, stride=2**40),
    ],
)
def test_sizes_beyond_the_kernels_integers_are_refused(make_layer):
    with pytest.raises(ValueError, match=r"must be a positive integer <= 2147483647"):
        make_layer()


@pytest.mark.parametrize("layer, x", every_layer(), ids=lambda value: repr(value)[:20])
def test_input_grad_must_be_true_or_false(layer, x):
    """A string such as "no" is truthy: taken as given, it would compute dL/dx after all."""
    for wrong in ("no", 0, None):
        out = layer.forward(x)
        with pytest.raises(TypeError, match=r"input_grad must be True or False, got"):
            layer.backward(np.zeros(out.shape), input_grad=wrong)
    model = tc.Sequential([layer])
    out = model.forward(x)
    with pytest.raises(TypeError, match=r"input_grad must be True or False, got 'no'"):
        model.backward(np.zeros(out.shape), input_grad="no")


@given(st.integers(40, 400))
@pytest.mark.parametrize(
    "build",
    [
        lambda size: tc.Dense(size, 4),
        lambda size: tc.Dense(4, size),
        lambda size: tc.Conv2D(size, 2, 3),
        lambda size: tc.Conv2D(2, 2, size),
        lambda size: tc.BatchNorm2D(size),
    ],
)
def test_a_layer_too_large_for_memory_is_refused_before_anything_is_drawn(build, exponent):
    """Sizes from 2^40 up (past int64 too) give one ValueError naming the layer, counted before
    any array is drawn: never numpy's 'Maximum allowed dimension exceeded' or a MemoryError."""
    with pytest.raises(ValueError, match=r"'s size is too large: .* more than this machine"):
        build(2**exponent)


# --- he_normal's arguments (audit4 LOW bag) ------------------------------------------------------


@pytest.mark.parametrize(
    "fan_in, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError), (None, TypeError)]
)
def test_he_normal_names_a_bad_fan_in(fan_in, error):
    """fan_in = 0 divided by zero, and -1 gave NaN weights."""
    with pytest.raises(error, match=r"^fan_in must be a positive integer"):
        tc.layers.he_normal((2, 3), fan_in, np.float64, np.random.default_rng(0))


@pytest.mark.parametrize("rng", ["a", 1.5, [1]])
def test_he_normal_names_a_bad_rng(rng):
    with pytest.raises(TypeError, match=r"^rng must be a numpy Generator, an int seed or None"):
        tc.layers.he_normal((2, 3), 3, np.float64, rng)


def test_he_normal_takes_a_seed_as_the_layers_do():
    weights = tc.layers.he_normal((2, 3), 3, np.float64, 7)
    expected = np.random.default_rng(7).standard_normal((2, 3)) * np.sqrt(2.0 / 3)
    np.testing.assert_array_equal(weights, expected)
    assert tc.layers.he_normal([2, 3], 3, np.float32, None).dtype == np.float32
