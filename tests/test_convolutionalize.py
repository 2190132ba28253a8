"""Convolutional sliding windows: one pass of `convolutionalize(model)` equals the classifier run
window by window, for any small architecture and image size; what has no such form is refused."""

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.networks import WindowOutput, convolutionalize, window_stride
from tinycnn.outputs import LocalizationOutput

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}
"""Largest difference allowed between the two ways, relative to the outputs' size: the same sums
in another order, so only rounding differs."""

ACTIVATIONS = (tc.ReLU, tc.LeakyReLU, tc.Tanh, tc.Sigmoid)


@st.composite
def classifiers(draw, dtype):
    """A small crop classifier with valid convolutions and square crops, and its crop shape.

    The crop size is built backwards from the last feature map, so that every layer uses all of
    its input (no pixel dropped by a pooling's floor)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    channels = draw(st.integers(1, 2))
    blocks = []
    in_channels = channels
    for _ in range(draw(st.integers(1, 2))):
        out_channels = draw(st.integers(1, 3))
        kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        pool = draw(st.sampled_from([None, (2, 2), (3, 2), (2, 1)]))
        blocks.append((in_channels, out_channels, kernel, stride, pool))
        in_channels = out_channels
    size = draw(st.integers(1, 3))  # the last feature map is size x size
    layers = []
    for in_c, out_c, kernel, stride, pool in reversed(blocks):
        if pool is not None:
            kinds = [tc.MaxPool2D, tc.ReLUMaxPool2D]
            if pool[1] >= pool[0]:  # windows that do not overlap
                kinds.append(
                    functools.partial(
                        _normalized, tc.BatchNormReLUMaxPool2D, out_c, rng, dtype=dtype
                    )
                )
            layers.insert(0, draw(st.sampled_from(kinds))(*pool))
            size = (size - 1) * pool[1] + pool[0]
        layers.insert(0, draw(st.sampled_from(ACTIVATIONS))())
        norm = draw(st.sampled_from([None, tc.BatchNorm2D, tc.BatchNormReLU2D]))
        if norm is not None:
            layers.insert(0, _normalized(norm, out_c, rng, dtype=dtype))
        layers.insert(0, tc.Conv2D(in_c, out_c, kernel, stride=stride, dtype=dtype, rng=rng))
        size = (size - 1) * stride + kernel
    final = _map_size(layers, (channels, size, size))
    hidden = draw(st.integers(1, 5))
    layers += [
        tc.Flatten(),
        tc.Dense(final, hidden, dtype=dtype, rng=rng),
        draw(st.sampled_from(ACTIVATIONS))(),
    ]
    if draw(st.booleans()):
        layers.append(tc.Dropout(0.5, rng=rng))
    layers.append(tc.Dense(hidden, draw(st.integers(1, 4)), dtype=dtype, rng=rng))
    return tc.Sequential(layers), (channels, size, size)


def _normalized(norm, channels, rng, *args, dtype=np.float64):
    """A batch-norm layer of kind `norm` (further arguments: its pooling) with random γ (both
    signs), β and running statistics: evaluated with them, as every window is."""
    layer = norm(channels, *args, dtype=dtype)
    layer.params["gamma"][:] = rng.choice([-1, 1], channels) * rng.uniform(0.5, 2, channels)
    layer.params["beta"][:] = rng.standard_normal(channels)
    layer.state["running_mean"][:] = rng.standard_normal(channels)
    layer.state["running_var"][:] = rng.uniform(0.5, 2, channels)
    return layer


def _map_size(layers, crop_shape):
    features = tc.Sequential(layers)
    with features.evaluation():  # batch norm's running statistics stay as drawn
        return features.forward(np.zeros((1, *crop_shape)))[0].size


def window_by_window(model, images, crop_shape, stride, rows, cols):
    """The classifier's raw output for every window, one crop at a time: (N, D, rows, cols)."""
    _, height, width = crop_shape
    with model.evaluation():
        outputs = [
            [
                model.forward(
                    images[:, :, i * stride : i * stride + height, j * stride : j * stride + width]
                )
                for j in range(cols)
            ]
            for i in range(rows)
        ]
    return np.stack([np.stack(row, axis=-1) for row in outputs], axis=-2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_one_pass_equals_the_classifier_on_every_window(dtype, data):
    model, crop_shape = data.draw(classifiers(dtype))
    stride = window_stride(model)
    extra_rows, extra_cols = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))
    leftover = data.draw(st.integers(0, stride - 1))
    height = crop_shape[1] + extra_rows * stride + leftover
    width = crop_shape[2] + extra_cols * stride
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    images = rng.random((2, crop_shape[0], height, width)).astype(dtype)
    model.train()  # Dropout on: the convolutional form must still be the evaluation-mode model
    sliding = convolutionalize(model, crop_shape)
    raw = sliding.forward(images)
    assert raw.shape == (2, model.layers[-1].out_features, extra_rows + 1, extra_cols + 1)
    assert raw.dtype == dtype
    expected = window_by_window(model, images, crop_shape, stride, extra_rows + 1, extra_cols + 1)
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(raw - expected).max() <= TOLERANCE[dtype] * scale
    assert all(layer.training for layer in model.layers), "the classifier's mode is unchanged"


def test_the_course_shaped_classifier_and_its_predict():
    """Three valid conv blocks and a localization head: predict gives the lecture's vectors for
    every window, exactly what the classifier's predict gives for each crop."""
    rng = np.random.default_rng(0)
    layers = []
    for in_c, out_c in ((1, 4), (4, 8)):
        layers += [tc.Conv2D(in_c, out_c, 3, rng=rng), tc.ReLU(), tc.MaxPool2D(2)]
    layers += [tc.Flatten(), tc.Dense(8 * 6 * 6, 16, rng=rng), tc.ReLU(), tc.Dense(16, 8, rng=rng)]
    model = tc.Sequential(layers, output=LocalizationOutput(3))
    crop_shape = (1, 30, 30)
    sliding = convolutionalize(model, crop_shape)
    assert isinstance(sliding.output, WindowOutput)
    assert [type(layer).__name__ for layer in sliding.layers[-3:]] == ["Conv2D", "ReLU", "Conv2D"]
    assert sliding.layers[-3].kernel_size == 6 and sliding.layers[-1].kernel_size == 1
    assert window_stride(model) == 4
    scene = np.random.default_rng(1).random((1, 1, 46, 38)).astype(np.float32)
    vectors = sliding.predict(scene)
    assert vectors.shape == (1, 8, 5, 3)
    for i in range(5):
        for j in range(3):
            crop = scene[:, :, 4 * i : 4 * i + 30, 4 * j : 4 * j + 30]
            np.testing.assert_allclose(vectors[:, :, i, j], model.predict(crop), atol=1e-5)
    assert np.all((vectors[:, 0] > 0) & (vectors[:, 0] < 1)), "p_c is a probability"
    np.testing.assert_allclose(vectors[:, 5:].sum(axis=1), 1, atol=1e-6)
    # On the crop itself: one window, the classifier's own output.
    crop = scene[:, :, :30, :30]
    np.testing.assert_allclose(sliding.forward(crop)[:, :, 0, 0], model.forward(crop), atol=1e-5)


def test_save_and_load_keep_the_convolutional_form(tmp_path):
    model = tc.Sequential(
        [tc.Conv2D(1, 2, 3, rng=0), tc.ReLU(), tc.Flatten(), tc.Dense(2 * 4 * 4, 6, rng=0)],
        output=LocalizationOutput(1),
    )
    sliding = convolutionalize(model, (1, 6, 6))
    tc.save(sliding, tmp_path / "sliding.npz")
    loaded = tc.load(tmp_path / "sliding.npz")
    assert loaded.output == sliding.output
    image = np.random.default_rng(0).random((1, 1, 9, 11)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(image), sliding.predict(image))


def test_the_weights_are_copied_not_shared():
    model = tc.Sequential(
        [tc.Conv2D(1, 2, 3, rng=0), tc.ReLU(), tc.Flatten(), tc.Dense(2 * 4 * 4, 3, rng=0)]
    )
    sliding = convolutionalize(model, (1, 6, 6))
    sliding.layers[0].params["W"][...] = 0
    sliding.layers[-1].params["W"][...] = 0
    assert np.any(model.layers[0].params["W"] != 0) and np.any(model.layers[-1].params["W"] != 0)


def plain(head=(), conv_padding=0, pool=None):
    layers = [tc.Conv2D(1, 2, 3, padding=conv_padding, rng=0), tc.ReLU()]
    if pool:
        layers.append(tc.MaxPool2D(2))
    return tc.Sequential(layers + [tc.Flatten(), *head])


@pytest.mark.parametrize(
    "model, crop_shape, message",
    [
        (plain([tc.Dense(2 * 8 * 8, 3)], conv_padding=1), (1, 8, 8), "padding"),
        (plain([tc.Dense(2 * 4 * 4, 3), tc.MaxPool2D(1)]), (1, 6, 6), "after the Flatten"),
        (plain([tc.Dense(2 * 4 * 4, 3), tc.Flatten()]), (1, 6, 6), "exactly one Flatten"),
        (tc.Sequential([tc.Conv2D(1, 2, 3), tc.ReLU()]), (1, 6, 6), "exactly one Flatten"),
        (plain([tc.ReLU()]), (1, 6, 6), "no Dense"),
        (plain([tc.Dense(2 * 4 * 5, 3)]), (1, 6, 7), "square"),
        (plain([tc.Dense(2 * 4 * 4, 3)]), (1, 8, 8), "crops it was built for"),
        (plain([tc.Dense(2 * 4 * 4, 3)]), (2, 6, 6), "does not fit"),
        (plain([tc.Dense(2 * 4 * 4, 3)]), (1, 2, 2), "does not fit"),
    ],
)
def test_what_has_no_convolutional_form_is_refused(model, crop_shape, message):
    with pytest.raises(ValueError, match=message):
        convolutionalize(model, crop_shape)


def test_layers_that_mix_positions_before_the_flatten_are_refused():
    class Shuffle(tc.ReLU):
        """Not a layer convolutionalize knows to act alike everywhere."""

    model = tc.Sequential(
        [tc.Conv2D(1, 2, 3, rng=0), Shuffle(), tc.Flatten(), tc.Dense(2 * 4 * 4, 3, rng=0)]
    )
    with pytest.raises(ValueError, match="layers\\[1\\]"):
        convolutionalize(model, (1, 6, 6))


@pytest.mark.parametrize(
    "crop_shape, error",
    [
        ((1, 6), ValueError),
        ([1, 6, 6, 1], ValueError),
        ((1, 0, 6), ValueError),
        ("1x6x6", TypeError),
        ((1, 6.0, 6), TypeError),
        ((1, True, 6), TypeError),
        (None, TypeError),
    ],
)
def test_input_shape_must_be_three_positive_ints(crop_shape, error):
    with pytest.raises(error, match="input_shape"):
        convolutionalize(plain([tc.Dense(2 * 4 * 4, 3)]), crop_shape)


def test_model_must_be_a_sequential():
    with pytest.raises(TypeError, match="model"):
        convolutionalize([tc.Flatten(), tc.Dense(4, 2)], (1, 2, 2))
    with pytest.raises(TypeError, match="model"):
        window_stride("not a model")


def test_a_crop_whose_last_row_a_pooling_drops():
    """Crop 11: conv 3 -> 9 -> pool 2 -> 4, the crop's last row and column unused. Every window
    inside the image still matches; a last window may reach one unused pixel past the edge."""
    rng = np.random.default_rng(2)
    model = tc.Sequential(
        [
            tc.Conv2D(1, 2, 3, rng=rng),
            tc.ReLU(),
            tc.MaxPool2D(2),
            tc.Flatten(),
            tc.Dense(2 * 4 * 4, 3, rng=rng),
        ]
    )
    image = rng.random((1, 1, 16, 18)).astype(np.float32)
    raw = convolutionalize(model, (1, 11, 11)).forward(image)
    assert raw.shape == (1, 3, 4, 5)  # the last windows start at row 6 and column 8
    for i in range(3):
        for j in range(4):
            crop = image[:, :, 2 * i : 2 * i + 11, 2 * j : 2 * j + 11]
            if crop.shape[2:] == (11, 11):
                np.testing.assert_allclose(raw[:, :, i, j], model.forward(crop), atol=1e-5)
            else:  # one pixel past the edge: the classifier ignores that pixel anyway
                padded = np.pad(
                    crop,
                    ((0, 0), (0, 0), (0, 11 - crop.shape[2]), (0, 11 - crop.shape[3])),
                    constant_values=np.nan,
                )
                np.testing.assert_allclose(raw[:, :, i, j], model.forward(padded), atol=1e-5)


def test_window_output_refuses_a_map_that_reads_no_vectors():
    """A window map of a window map, or of a YOLO grid map, was accepted: nonsense compositions."""
    vector_map = tc.outputs.LocalizationOutput(3)
    with pytest.raises(ValueError, match=r"^output must be a classifier's output map"):
        WindowOutput(WindowOutput(vector_map))
    grid_map = tc.detection.GridOutput(np.array([[0.2, 0.3]]), 3)
    with pytest.raises(ValueError, match=r"^output must be a classifier's output map"):
        WindowOutput(grid_map)
    assert WindowOutput(vector_map).width == vector_map.width


def test_window_output_names_raw_of_another_type_or_shape():
    window_map = WindowOutput(tc.outputs.LocalizationOutput(3))
    with pytest.raises(
        TypeError, match=r"raw must be a numpy array \(N, D, rows, cols\), got list"
    ):
        window_map([[1.0]])
    with pytest.raises(ValueError, match=r"raw must be a numpy array .* got shape \(2, 8\)"):
        window_map(np.zeros((2, 8), np.float32))


@pytest.mark.parametrize(
    "raw", [np.array(None), np.zeros((1, 8, 2, 2), np.float16), np.zeros(3, int)]
)
def test_window_output_names_raw_of_a_dtype_it_does_not_compute_in(raw):
    window_map = WindowOutput(tc.outputs.LocalizationOutput(3))
    with pytest.raises(TypeError, match=r"raw must be a numpy float array \(float32 or float64\)"):
        window_map(raw)


@pytest.mark.parametrize(
    "config, error",
    [({"num_classes": 3}, ValueError), ({"name": "Softmax"}, ValueError), ({"name": 3}, TypeError)],
)
def test_window_output_names_output_when_its_config_names_no_map(config, error):
    with pytest.raises(error, match=r"^output, a config dict, names no output map: config"):
        WindowOutput(config)
