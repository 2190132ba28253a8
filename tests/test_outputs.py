"""Tests for tinycnn.outputs: raw network output -> the lecture's vector, and back from config."""

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.outputs import (
    Identity,
    LandmarkOutput,
    LocalizationOutput,
    output_from_config,
    sigmoid,
    softmax,
)

from strategies import raw_outputs

pytestmark = pytest.mark.filterwarnings("error")


@given(st.floats(-30, 30))
def test_sigmoid_is_the_logistic_function(z):
    assert sigmoid(np.array(z)) == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-12)


@given(raw_outputs(3, 4, bound=1000.0))
def test_sigmoid_is_symmetric_and_bounded_for_any_logit(z):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = sigmoid(z)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(sigmoid(-z), 1 - p, rtol=0, atol=1e-15)


@given(raw_outputs(3, 4, bound=1000.0), st.floats(-100, 100))
def test_softmax_sums_to_one_and_ignores_a_shift(z, shift):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(softmax(z + shift), p, rtol=0, atol=1e-12)


def test_softmax_matches_its_formula_on_small_logits():
    z = np.array([[0.5, -1.0, 2.0]])
    exponentials = [math.exp(value) for value in z[0]]
    expected = [value / sum(exponentials) for value in exponentials]
    np.testing.assert_allclose(softmax(z)[0], expected, rtol=1e-12)


@given(raw_outputs(4, 6))
def test_identity_returns_a_copy_of_raw(raw):
    out = Identity()(raw)
    np.testing.assert_array_equal(out, raw)
    assert not np.shares_memory(out, raw)


@given(st.integers(1, 5), st.data())
def test_localization_output_applies_sigmoid_keeps_the_box_and_applies_softmax(num_classes, data):
    raw = data.draw(raw_outputs(3, num_classes + 5))
    y_hat = LocalizationOutput(num_classes)(raw)
    assert y_hat.shape == raw.shape
    for row, out in zip(raw, y_hat, strict=True):
        assert out[0] == pytest.approx(1 / (1 + math.exp(-row[0])), rel=1e-12)
        assert out[1:5].tolist() == row[1:5].tolist()
        class_exponentials = [math.exp(value) for value in row[5:]]
        expected = [value / sum(class_exponentials) for value in class_exponentials]
        np.testing.assert_allclose(out[5:], expected, rtol=1e-12)


@given(raw_outputs(3, 7))
def test_landmark_output_applies_sigmoid_and_keeps_the_points(raw):
    y_hat = LandmarkOutput()(raw)
    np.testing.assert_allclose(y_hat[:, 0], [1 / (1 + math.exp(-z)) for z in raw[:, 0]], rtol=1e-12)
    np.testing.assert_array_equal(y_hat[:, 1:], raw[:, 1:])
    assert not np.shares_memory(y_hat, raw)


EVERY_OUTPUT = [(Identity(), 5), (LocalizationOutput(4), 9), (LandmarkOutput(2), 5)]
"""Each output map with a raw width it accepts."""


@pytest.mark.parametrize("output, width", EVERY_OUTPUT)
def test_outputs_keep_float32(output, width):
    raw = np.linspace(-3, 3, 2 * width, dtype=np.float32).reshape(2, width)
    assert output(raw).dtype == np.float32


def test_localization_output_is_stable_for_huge_logits():
    raw = np.array(
        [
            [1000.0, 0.5, 0.5, 0.2, 0.2, 1000.0, -1000.0, 0.0],
            [-1000.0, 0.5, 0.5, 0.2, 0.2, -1000.0, -1000.0, -1000.0],
        ]
    )
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y_hat = LocalizationOutput(3)(raw)
    assert y_hat[0, 0] == 1.0 and y_hat[1, 0] == 0.0
    np.testing.assert_array_equal(y_hat[0, 5:], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(y_hat[1, 5:], [1 / 3] * 3)


@pytest.mark.parametrize("output, width", EVERY_OUTPUT)
def test_config_survives_json_and_rebuilds_the_same_map(output, width):
    config = json.loads(json.dumps(output.get_config()))
    assert config["name"] == type(output).__name__
    rebuilt = output_from_config(config)
    assert type(rebuilt) is type(output)
    raw = np.linspace(-2, 2, 3 * width).reshape(3, width)
    np.testing.assert_array_equal(rebuilt(raw), output(raw))


@pytest.mark.parametrize("config", [{"name": "Softmax"}, {"num_classes": 3}])
def test_output_from_config_rejects_unknown_configs(config):
    with pytest.raises(ValueError, match="config must be a dict whose 'name' is one of"):
        output_from_config(config)


@pytest.mark.parametrize("config", ["Identity", None, ["Identity"], 3, object()])
def test_output_from_config_names_a_config_that_is_no_dict(config):
    with pytest.raises(TypeError, match="config must be a dict whose 'name' is one of .* got"):
        output_from_config(config)


@pytest.mark.parametrize("name", [None, 3, ["Identity"], object()])
def test_output_from_config_names_a_name_that_is_no_string(name):
    with pytest.raises(TypeError, match=r"^config\['name'\] must be a string, one of"):
        output_from_config({"name": name})


@pytest.mark.parametrize(
    "output, raw, match",
    [
        (LocalizationOutput(3), np.zeros((2, 7)), r"raw must have shape \(N, 8\), got \(2, 7\)"),
        (LocalizationOutput(3), np.zeros(8), r"raw must have shape \(N, 8\), got \(8,\)"),
        (LandmarkOutput(3), np.zeros((2, 8)), r"raw must have shape \(N, 7\), got \(2, 8\)"),
    ],
)
def test_outputs_reject_raw_of_the_wrong_shape(output, raw, match):
    with pytest.raises(ValueError, match=match):
        output(raw)


def test_outputs_reject_raw_that_is_not_a_float_array():
    with pytest.raises(TypeError, match="raw must be a numpy float array"):
        LandmarkOutput()(np.zeros((2, 7), dtype=int))


@pytest.mark.parametrize("make", [lambda: LocalizationOutput(0), lambda: LandmarkOutput(-1)])
def test_outputs_need_positive_counts(make):
    with pytest.raises(ValueError, match="must be a positive integer"):
        make()


def test_output_maps_compare_by_config():
    assert LocalizationOutput(3) == LocalizationOutput(3)
    assert LocalizationOutput(3) != LocalizationOutput(4)
    assert LocalizationOutput(3) != LandmarkOutput(3)
    assert Identity() == Identity() and Identity() != "Identity"
    assert len({LocalizationOutput(3), LocalizationOutput(3), Identity()}) == 2


@pytest.mark.parametrize(
    "config",
    [
        {"name": "LocalizationOutput", "num_classes": "3"},
        {"name": "Identity", "extra": 1},
        {"name": "LandmarkOutput", "num_landmarks": 0},
    ],
)
def test_output_from_config_refuses_bad_arguments_with_a_value_error(config):
    with pytest.raises(ValueError):
        output_from_config(config)


def test_outputs_keep_nan_and_take_empty_batches():
    raw = np.full((1, 8), np.nan)
    assert np.isnan(LocalizationOutput(3)(raw)).all()
    assert LocalizationOutput(3)(np.zeros((0, 8))).shape == (0, 8)


def test_without_an_output_map_predict_gives_the_raw_output_of_any_shape():
    """Identity, the map of a network built without one, passes a detector's grid or a feature
    map through as it is (it refused all but (N, D), so predict failed on the course's own
    detector built with its defaults)."""
    import tinycnn as tc

    x = np.random.default_rng(0).random((2, 1, 64, 64), dtype=np.float32)
    detector = tc.networks.detector()
    np.testing.assert_array_equal(detector.predict(x), detector.raw_output(x))
    assert detector.predict(x).shape == (2, 4, 4, 2, 8)
    features = tc.Sequential([tc.Conv2D(1, 2, 3, rng=0)])
    assert features.predict(x).shape == (2, 2, 62, 62)
    with pytest.raises(TypeError, match="raw must be a numpy array"):
        Identity()(1.0)
    with pytest.raises(TypeError, match="raw must be float32 or float64"):
        Identity()(np.zeros(3, np.int64))
