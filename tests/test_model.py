"""Sequential: end-to-end gradients, parameters, predict's output map, summary."""

import copy

import numpy as np
import pytest

import tinycnn as tc
from tinycnn.gradcheck import check_gradients
from tinycnn.kernels import conv
from tinycnn.losses import LocalizationLoss

F64 = np.float64


def small_cnn(dtype=F64, outputs=8):
    return tc.Sequential(
        [
            tc.Conv2D(1, 3, 3, padding=1, dtype=dtype, rng=0),
            tc.ReLU(),
            tc.MaxPool2D(2),
            tc.Conv2D(3, 4, 3, stride=2, padding=1, dtype=dtype, rng=1),
            tc.LeakyReLU(0.1),
            tc.Flatten(),
            tc.Dense(4 * 2 * 2, 6, dtype=dtype, rng=2),
            tc.Tanh(),
            tc.Dense(6, outputs, dtype=dtype, rng=3),
        ]
    )


def test_whole_network_gradient():
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8))
    errors = check_gradients(small_cnn(), x)
    assert len(errors) == 1 + 2 * 4  # dx, and W and b of four layers
    assert max(errors.values()) < 1e-6, errors


def test_whole_network_gradient_through_a_loss():
    model = small_cnn()
    loss = LocalizationLoss(num_classes=3)
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    y = np.array(
        [
            [1, 0.5, 0.5, 0.2, 0.3, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [1, 0.3, 0.6, 0.4, 0.4, 1, 0, 0],
        ],
        dtype=F64,
    )
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    dense_weights = model.layers[-1].params["W"]
    numeric = tc.gradcheck.numerical_gradient(
        lambda: loss.forward(model.forward(x), y), dense_weights
    )
    assert tc.gradcheck.rel_error(model.layers[-1].grads["W"], numeric) < 1e-6


def test_parameters_in_order():
    model = small_cnn()
    x = np.zeros((1, 1, 8, 8))
    model.backward(np.ones_like(model.forward(x)))
    entries = list(model.parameters())
    assert [name for _, name, _, _ in entries] == ["W", "b"] * 4
    assert entries[0][0] is model.layers[0]
    for layer, name, param, grad in entries:
        assert param is layer.params[name] and grad is layer.grads[name]
        assert grad.shape == param.shape


def test_predict_applies_the_output_map_in_evaluation_mode():
    model = tc.Sequential(
        [tc.Flatten(), tc.Dropout(0.5, rng=0), tc.Dense(4, 8, rng=0)],
        output=LocalizationLoss(3).output,
    )
    x = np.random.default_rng(0).standard_normal((5, 1, 2, 2)).astype(np.float32)
    y_pred = model.predict(x, batch_size=2)
    assert y_pred.shape == (5, 8)
    assert np.all((y_pred[:, 0] > 0) & (y_pred[:, 0] < 1))
    np.testing.assert_allclose(y_pred[:, 5:].sum(axis=1), 1, rtol=1e-6)
    model.eval()
    raw = model.forward(x)
    np.testing.assert_allclose(y_pred[:, 1:5], raw[:, 1:5], rtol=1e-6)
    assert model.train().layers[1].training  # predict gave back the mode it found


def test_predict_keeps_nothing_for_a_backward():
    """A prediction has no backward: what each batch's forward kept is dropped at once (lesson
    4's network, 2048 images at batch 256: the peak memory of predict fell from 127 to 23 MiB)."""
    model = small_cnn(np.float32)
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    model.predict(x, batch_size=2)
    assert all(layer._cache is None for layer in model.layers)
    with pytest.raises(ValueError, match="backward called before forward"):
        model.backward(np.ones((5, 8), np.float32))


def test_summary(capsys):
    total = small_cnn(np.float32).summary((1, 8, 8))
    printed = capsys.readouterr().out
    assert total == (9 * 1 + 1) * 3 + (9 * 3 + 1) * 4 + (16 + 1) * 6 + (6 + 1) * 8
    assert "(4, 2, 2)" in printed and "(16,)" in printed and f"{total:,}" in printed


def test_bad_layers():
    with pytest.raises(ValueError, match="at least one layer"):
        tc.Sequential([])
    with pytest.raises(TypeError, match=r"layers\[1\] must be a tinycnn layer, got ufunc"):
        tc.Sequential([tc.ReLU(), np.tanh])


def test_backward_without_the_input_gradient_gives_the_same_grads():
    model = tc.Sequential([tc.ReLU(), *small_cnn().layers])  # the lowest layer with params is 2nd
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8))
    dout = np.random.default_rng(1).standard_normal(model.forward(x).shape)
    model.backward(dout)
    full = [grad.copy() for _, _, _, grad in model.parameters()]
    model.forward(x)
    assert model.backward(dout, input_grad=False) is None
    for expected, (_, _, _, grad) in zip(full, model.parameters(), strict=True):
        np.testing.assert_array_equal(grad, expected)
    assert tc.Sequential([tc.ReLU()]).backward(np.ones((1, 2)), input_grad=False) is None


def test_a_first_conv_skips_its_input_gradient(monkeypatch):
    model = small_cnn()
    model.backward(np.ones_like(model.forward(np.zeros((1, 1, 8, 8)))))
    calls = []
    monkeypatch.setattr(
        conv,
        "conv2d_backward_input",
        lambda *arguments: calls.append(arguments) or np.zeros(arguments[2]),
    )
    model.forward(np.zeros((1, 1, 8, 8)))
    model.backward(np.ones((1, 8)), input_grad=False)
    assert len(calls) == 1  # the second conv's, which the first conv's grads need


@pytest.mark.parametrize("layers", [None, tc.ReLU(), "ReLU", {"a": tc.ReLU()}, iter([tc.ReLU()])])
def test_layers_must_be_a_list(layers):
    with pytest.raises(TypeError, match="layers must be a list of tinycnn layers"):
        tc.Sequential(layers)


def test_one_layer_instance_used_twice_is_refused():
    relu = tc.ReLU()
    with pytest.raises(
        ValueError, match=r"layers\[2\] is the same ReLU\(\) instance as layers\[0\]"
    ):
        tc.Sequential([relu, tc.Dense(2, 2), relu])


@pytest.mark.parametrize(
    "input_shape, error, match",
    [
        (64, TypeError, "input_shape must be a tuple of positive integers, got 64"),
        ("1, 8, 8", TypeError, "input_shape must be a tuple"),
        ((1, 0, 8), ValueError, r"input_shape\[1\] must be a positive integer, got 0"),
        ((1, 8, -8), ValueError, r"input_shape\[2\] must be a positive integer, got -8"),
        ((1, 8, 8.0), TypeError, r"input_shape\[2\] must be a positive integer"),
        ((1, 1, 1), ValueError, r"kernel_size 2 is larger than the input 1x1"),
        (
            (8, 8),
            ValueError,
            r"^input_shape \(8, 8\) does not fit the model .* whose x is the model's input",
        ),
        ((8, 8, 1), ValueError, r"^input_shape \(8, 8, 1\) does not fit .* must have 1 channel"),
        (
            (1, 16, 16),
            ValueError,
            r"^input_shape \(1, 16, 16\) does not fit .*\(in model.layers\[6\], Dense\(16, 6",
        ),
    ],
)
def test_summary_refuses_bad_shapes_clearly(input_shape, error, match):
    with pytest.raises(error, match=match):
        small_cnn(np.float32).summary(input_shape)


def test_the_output_map_must_fit_the_last_layer():
    with pytest.raises(
        ValueError,
        match=r"reads raw output of shape \(N, 8\), but the network's "
        r"Dense\(6, 7, dtype=float64\) gives \(N, 7\)",
    ):
        tc.Sequential(small_cnn(outputs=7).layers, output=LocalizationLoss(3).output)
    model = tc.Sequential([tc.Dense(4, 8), tc.Sigmoid()], output=LocalizationLoss(3).output)
    with pytest.raises(ValueError, match="do not match"):
        model.output = LocalizationLoss(4).output
    assert model.output == LocalizationLoss(3).output  # a refused assignment changes nothing
    with pytest.raises(TypeError, match="output must be a tinycnn output map"):
        model.output = np.tanh
    model.output = None
    assert model.output == tc.outputs.Identity()


def test_a_grid_output_map_must_fit_the_detectors_head():
    """Anchors, classes and the grid itself are checked where the model is built, as a Dense
    network's width is: a mismatch would otherwise show only at predict, or never."""
    from tinycnn.detection import DEFAULT_ANCHORS, GridLoss, SquaredGridLoss

    three_anchors = np.array([[0.2, 0.1], [0.1, 0.2], [0.3, 0.3]])
    detector_layers = tc.networks.detector(3, len(DEFAULT_ANCHORS)).layers
    for output, wanted in [
        (LocalizationLoss(3).output, r"\(N, 8\)"),
        (GridLoss(three_anchors, 3).output, r"\(N, any, any, 3, 8\)"),
        (GridLoss(DEFAULT_ANCHORS, 2).output, r"\(N, any, any, 2, 7\)"),
    ]:
        with pytest.raises(ValueError, match=rf"shape {wanted}, but the network's GridLayout"):
            tc.Sequential(detector_layers, output=output)
    for output in (GridLoss(DEFAULT_ANCHORS, 3).output, SquaredGridLoss(3).output):
        assert tc.networks.detector(3, len(DEFAULT_ANCHORS), output=output).output == output
    with pytest.raises(ValueError, match=r"\(N, any, any, 2, 8\), but the network's Dense"):
        tc.Sequential(tc.networks.localizer(3).layers, output=GridLoss(DEFAULT_ANCHORS, 3).output)
    layout = tc.networks.detector(3, 2).output_layout()
    assert layout == (None, None, 2, 8)


def test_predict_of_an_empty_batch_is_empty():
    model = tc.Sequential(
        [tc.Conv2D(1, 2, 3, rng=0), tc.MaxPool2D(2), tc.Flatten(), tc.Dense(8, 8, rng=0)],
        output=LocalizationLoss(3).output,
    )
    assert model.predict(np.zeros((0, 1, 6, 6), np.float32)).shape == (0, 8)
    with pytest.raises(TypeError, match="x must be a numpy array"):
        model.predict([[0.0]])


def test_a_summary_or_a_prediction_between_forward_and_backward_changes_no_gradient(capsys):
    model = small_cnn(np.float64)
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    twin = copy.deepcopy(model)
    dout = np.ones_like(model.forward(x))
    twin.forward(x)
    model.summary((1, 8, 8))
    model.predict(x[:1])
    model.backward(dout)
    twin.backward(dout)
    for (_, name, _, grad), (_, _, _, expected) in zip(
        model.parameters(), twin.parameters(), strict=True
    ):
        np.testing.assert_array_equal(grad, expected, err_msg=name)


def test_layers_edited_after_building_are_checked_again_by_fit_and_save(tmp_path):
    """The constructor's checks, again where a network is trained or written: a layer appended
    twice, a non-layer, or a last layer that no longer fits the output map."""
    loss = LocalizationLoss(3)
    model = tc.Sequential([tc.Dense(4, 6, rng=0), tc.ReLU(), tc.Dense(6, 8, rng=1)], loss.output)
    model.layers[-1] = tc.Dense(6, 5, rng=2)
    with pytest.raises(ValueError, match=r"reads raw output of shape \(N, 8\).*gives \(N, 5\)"):
        tc.save(model, tmp_path / "m")
    assert not list(tmp_path.iterdir())
    x, y = np.zeros((4, 4), np.float32), np.zeros((4, 8), np.float32)
    with pytest.raises(ValueError, match=r"gives \(N, 5\)"):
        tc.train.fit(model, loss, tc.optim.SGD(model), x, y, 1, progress=False)
    model.layers[-1] = tc.Dense(6, 8, rng=2)
    model.layers.append(model.layers[1])
    with pytest.raises(ValueError, match=r"model.layers\[3\] is the same ReLU\(\) instance"):
        model.check()
    model.layers[3] = "relu"
    with pytest.raises(TypeError, match=r"model.layers\[3\] must be a tinycnn layer, got str"):
        tc.save(model, tmp_path / "m")


def test_a_layers_error_says_which_layer_raised_it_and_where_its_input_came_from():
    """Images of the wrong size reach the Dense layer as too few features; the error names the
    layer's own `x`, and its note names the layer, its input's source and the model's input."""
    model = tc.networks.localizer(image_size=64)
    with pytest.raises(ValueError, match="x must have 2048 features") as error:
        model.predict(np.zeros((2, 1, 32, 32), np.float32))
    assert error.value.__notes__ == [
        "in model.layers[4], Dense(2048, 128), whose x is the output of model.layers[3], of "
        "shape (2, 512); the model's input has shape (2, 1, 32, 32)"
    ]
    with pytest.raises(ValueError, match="x must have 1 channel ") as error:
        model.forward(np.zeros((2, 3, 64, 64), np.float32))
    assert error.value.__notes__ == [
        f"in model.layers[0], {model.layers[0]!r}, whose x is the model's input, of shape "
        "(2, 3, 64, 64)"
    ]


@pytest.mark.parametrize("position", range(4))
def test_the_note_names_the_layer_at_every_position_in_both_passes(position):
    """A layer that refuses every input, at each position of a model: forward names the layer
    before it (or the model's input), backward the layer after it (or the loss)."""

    class Refuses(tc.Layer):
        elementwise = True

        def forward(self, x):
            raise ValueError("refused x")

        def backward(self, dout, input_grad=True):
            raise ValueError("refused dout")

    layers = [tc.ReLU(), tc.Tanh(), tc.ReLU()]
    layers.insert(position, Refuses())
    model = tc.Sequential(layers)
    x = np.ones((2, 3), F64)
    with pytest.raises(ValueError, match="refused x") as error:
        model.forward(x)
    source = "the model's input" if position == 0 else f"the output of model.layers[{position - 1}]"
    assert error.value.__notes__[0].startswith(
        f"in model.layers[{position}], Refuses(), whose x is {source}, of shape (2, 3)"
    )
    for layer in model.layers[position + 1 :]:  # the layers after it run, for a backward
        x = layer.forward(x)
    with pytest.raises(ValueError, match="refused dout") as error:
        model.backward(np.ones((2, 3), F64))
    last = position == len(layers) - 1
    source = "the loss" if last else f"model.layers[{position + 1}]"
    assert error.value.__notes__ == [
        f"in model.layers[{position}], Refuses(), whose dout is the gradient from {source}, "
        "of shape (2, 3)"
    ]
