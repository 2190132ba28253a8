"""to_torch: the same network in PyTorch, with the same outputs and gradients; clear errors."""

import subprocess
import sys

import numpy as np
import pytest

import tinycnn as tc
from tinycnn.interop import to_torch
from tinycnn.networks import localizer
from tinycnn.outputs import LocalizationOutput

F32_TOLERANCE = 1e-5
F64_TOLERANCE = 1e-10


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def every_layer_type(dtype):
    """One of each layer, in shapes that exercise stride, padding and overlapping pools."""
    return tc.Sequential(
        [
            tc.Conv2D(3, 4, 3, stride=2, padding=1, dtype=dtype, rng=0),
            tc.LeakyReLU(0.1),
            tc.MaxPool2D(3, stride=2),
            tc.Conv2D(4, 5, 2, dtype=dtype, rng=1),
            tc.Tanh(),
            tc.Flatten(),
            tc.Dropout(0.3, rng=2),
            tc.Dense(20, 6, dtype=dtype, rng=3),
            tc.Sigmoid(),
            tc.Dense(6, 3, dtype=dtype, rng=4),
            tc.ReLU(),
        ]
    )


CASES = {
    # name: (model, input shape, dtype, tolerance); lesson 4's network is float32 only.
    "localizer": (localizer, (4, 1, 64, 64), np.float32, F32_TOLERANCE),
    "every layer float32": (every_layer_type, (2, 3, 13, 13), np.float32, F32_TOLERANCE),
    "every layer float64": (every_layer_type, (2, 3, 13, 13), np.float64, F64_TOLERANCE),
}


@pytest.fixture(params=CASES)
def case(request):
    """(model in evaluation mode, input, tolerance), made afresh for every test."""
    make_model, shape, dtype, tolerance = CASES[request.param]
    model = make_model() if make_model is localizer else make_model(dtype)
    x = np.random.default_rng(0).random(shape).astype(dtype)
    return model.eval(), x, tolerance


def test_same_outputs_and_dtype(torch, case):
    model, x, tolerance = case
    torch_model = to_torch(model)
    out = torch_model(torch.from_numpy(x)).detach().numpy()
    assert out.dtype == x.dtype
    np.testing.assert_allclose(out, model.forward(x), rtol=tolerance, atol=tolerance)


def test_same_gradients(torch, case):
    model, x, tolerance = case
    torch_model = to_torch(model)
    x_torch = torch.from_numpy(x).requires_grad_()
    out = torch_model(x_torch)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(x.dtype)
    out.backward(torch.from_numpy(dout))
    model.forward(x)
    dx = model.backward(dout)
    np.testing.assert_allclose(x_torch.grad.numpy(), dx, rtol=tolerance, atol=tolerance)
    torch_layers = [
        module
        for module in torch_model.modules()  # within the fused layers' nn.Sequential too
        if isinstance(module, torch.nn.Conv2d) or isinstance(module, torch.nn.Linear)
    ]
    our_layers = [layer for layer in model.layers if layer.params]
    for layer, module in zip(our_layers, torch_layers, strict=True):
        weight_grad = module.weight.grad.numpy()
        if isinstance(layer, tc.Dense):
            weight_grad = weight_grad.T
        # Weight gradients sum over the whole batch: a few more roundings than the outputs.
        np.testing.assert_allclose(
            weight_grad, layer.grads["W"], rtol=10 * tolerance, atol=10 * tolerance
        )
        np.testing.assert_allclose(
            module.bias.grad.numpy(), layer.grads["b"], rtol=10 * tolerance, atol=10 * tolerance
        )


def test_output_map_is_not_carried(torch):
    model = localizer()
    model.output = LocalizationOutput(num_classes=3)
    x = np.random.default_rng(2).random((3, 1, 64, 64), dtype=np.float32)
    raw = to_torch(model).eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(raw, model.forward(x), rtol=F32_TOLERANCE, atol=F32_TOLERANCE)
    # The documented way to the lecture's vector: the tinycnn model's own map on the raw output.
    np.testing.assert_allclose(
        model.output(raw), model.predict(x), rtol=F32_TOLERANCE, atol=F32_TOLERANCE
    )


def test_training_mode_is_kept_per_layer(torch):
    model = every_layer_type(np.float32)
    assert all(module.training for module in to_torch(model))
    model.eval()
    model.layers[6].training = True  # Dropout alone in training mode
    modes = [module.training for module in to_torch(model)]
    assert modes == [index == 6 for index in range(len(model.layers))]


def test_weights_are_copied_not_shared(torch):
    model = localizer()
    torch_model = to_torch(model)
    weights_before = model.layers[0].params["W"].copy()
    with torch.no_grad():
        torch_model[0][0].weight.add_(1.0)  # the first block's nn.Conv2d
    np.testing.assert_array_equal(model.layers[0].params["W"], weights_before)
    np.testing.assert_array_equal(
        to_torch(model)[4].weight.detach().numpy(), model.layers[4].params["W"].T
    )


def test_bad_models(torch):
    with pytest.raises(TypeError, match=r"model must be a tinycnn Sequential, got list"):
        to_torch([tc.ReLU()])

    class Swish(tc.ReLU):
        pass

    with pytest.raises(
        TypeError,
        match=r"model.layers\[1\] is a Swish, which to_torch cannot "
        r"convert \(it converts Conv2D, MaxPool2D, ReLUMaxPool2D, ConvReLUMaxPool2D, Dense",
    ):
        to_torch(tc.Sequential([tc.Flatten(), Swish()]))
    mixed = tc.Sequential(
        [tc.Flatten(), tc.Dense(4, 3, rng=0), tc.Dense(3, 2, dtype=np.float64, rng=0)]
    )
    with pytest.raises(
        ValueError,
        match=r"one dtype.*float32 in layers\[1\] Dense\(4, 3\), "
        r"float64 in layers\[2\]",
    ):
        to_torch(mixed)


def test_without_torch_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "tinycnn\[torch\]"'):
        to_torch(localizer())


def test_interop_is_reached_from_the_package_without_importing_torch():
    """tc.interop.to_torch, as the package's table of contents promises; torch itself is
    imported only when to_torch is called."""
    code = "import sys, tinycnn as tc; tc.interop.to_torch; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
    assert tc.interop.to_torch is to_torch and "interop" in tc.__all__


def test_relu_keeps_nan_in_both_frameworks(torch):
    x = np.array([[np.nan, -1.0, 2.0]], dtype=np.float32)
    model = tc.Sequential([tc.ReLU()])
    ours = model.forward(x)
    theirs = to_torch(model)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert np.isnan(ours[0, 0])


def test_each_built_in_layer_says_how_it_maps_to_torch():
    from tinycnn.interop import converts

    assert all(converts(cls) for name, cls in tc.Layer.registry.items() if "." not in name)
    assert not converts(tc.Layer)


def test_params_of_the_wrong_shape_are_refused_before_converting(torch):
    model = tc.Sequential([tc.Dense(3, 2)])
    model.layers[0].params["W"] = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"params\['W'\] must have shape \(3, 2\)"):
        to_torch(model)


@pytest.mark.parametrize("layer_type", [None, "Conv2D", int, tc.layers.ReLU()])
def test_converts_names_what_is_not_a_layer_class(layer_type):
    """None gave vars()' own message; a layer instead of its class silently said False."""
    from tinycnn.interop import converts

    with pytest.raises(TypeError, match=r"^layer_type must be a tinycnn Layer class"):
        converts(layer_type)
