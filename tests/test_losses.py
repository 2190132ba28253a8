"""Tests for tinycnn.losses: values against the formulas written per image, gradients against
central differences, the "don't care" entries, stability and input checks."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.gradcheck import numerical_gradient, rel_error
from tinycnn.losses import (
    LandmarkLoss,
    LocalizationLoss,
    SquaredLandmarkLoss,
    SquaredLocalizationLoss,
)
from tinycnn.outputs import Identity, LandmarkOutput, LocalizationOutput
from tinycnn.targets import NO_OBJECT, encode_localization_batch

from strategies import junk, landmark_targets, localization_targets, raw_outputs

pytestmark = pytest.mark.filterwarnings("error")

GRADIENT_TOLERANCE = 1e-7
"""Largest rel_error accepted between backward and central differences (float64, h = 1e-6)."""


def localization_losses(num_classes):
    return [
        SquaredLocalizationLoss(num_classes),
        LocalizationLoss(num_classes),
        LocalizationLoss(num_classes, box_weight=0.5, class_weight=2.0),
    ]


def landmark_losses(num_landmarks):
    return [
        SquaredLandmarkLoss(num_landmarks),
        LandmarkLoss(num_landmarks),
        LandmarkLoss(num_landmarks, landmark_weight=0.25),
    ]


def every_loss():
    """Each loss with the targets of a batch that holds both branches (flag 0 and flag 1 rows)."""
    rng = np.random.default_rng(0)
    labels = np.array([0, NO_OBJECT, 2, NO_OBJECT, 1, 2])
    boxes = rng.uniform(0.1, 0.9, size=(len(labels), 4))
    scene_targets = encode_localization_batch(labels, boxes, num_classes=3, dtype=np.float64)
    face_targets = np.zeros((5, 7))
    face_targets[[0, 2, 3], 0] = 1.0
    face_targets[[0, 2, 3], 1:] = rng.uniform(0, 1, size=(3, 6))
    return [(loss, scene_targets) for loss in localization_losses(3)] + [
        (loss, face_targets) for loss in landmark_losses(3)
    ]


def loss_id(case):
    loss, _ = case
    return type(loss).__name__


EVERY_LOSS = every_loss()


# --- the formulas, one image at a time, as written on the slide ------------------------------


def lecture_squared_loss(y_hat, y):
    """L = Σ_k (ŷ_k - y_k)² if y_1 = 1, else (ŷ_1 - y_1)²; averaged over the images."""
    total = 0.0
    for predicted, target in zip(y_hat, y, strict=True):
        if target[0] == 1:
            total += sum((p - t) ** 2 for p, t in zip(predicted, target, strict=True))
        else:
            total += (predicted[0] - target[0]) ** 2
    return total / len(y)


def log_loss(logit, flag):
    """-[y log p + (1 - y) log(1 - p)] with p = 1 / (1 + e^(-logit)), for moderate logits."""
    p = 1 / (1 + math.exp(-logit))
    return -(flag * math.log(p) + (1 - flag) * math.log(1 - p))


def practical_localization_loss(y_hat, y, box_weight, class_weight):
    """BCE(p_c) + y_1 [box_weight Σ box errors² + class_weight (-log softmax(true class))]."""
    total = 0.0
    for predicted, target in zip(y_hat, y, strict=True):
        total += log_loss(predicted[0], target[0])
        if target[0] == 1:
            total += box_weight * sum(
                (p - t) ** 2 for p, t in zip(predicted[1:5], target[1:5], strict=True)
            )
            exponentials = [math.exp(logit) for logit in predicted[5:]]
            true_class = list(target[5:]).index(1)
            total -= class_weight * math.log(exponentials[true_class] / sum(exponentials))
    return total / len(y)


def practical_landmark_loss(y_hat, y, landmark_weight):
    """BCE(is_face) + y_1 landmark_weight Σ point errors²."""
    total = 0.0
    for predicted, target in zip(y_hat, y, strict=True):
        total += log_loss(predicted[0], target[0])
        if target[0] == 1:
            total += landmark_weight * sum(
                (p - t) ** 2 for p, t in zip(predicted[1:], target[1:], strict=True)
            )
    return total / len(y)


def reference_loss(loss, y_hat, y):
    if isinstance(loss, (SquaredLocalizationLoss, SquaredLandmarkLoss)):
        return lecture_squared_loss(y_hat, y)
    if isinstance(loss, LocalizationLoss):
        return practical_localization_loss(y_hat, y, loss.box_weight, loss.class_weight)
    return practical_landmark_loss(y_hat, y, loss.landmark_weight)


@st.composite
def losses_with_batches(draw, junk_when_empty=False, bound=10.0):
    """Any of the four losses (sizes drawn too), with targets y and a raw output y_hat."""
    if draw(st.booleans()):
        num_classes = draw(st.integers(1, 4))
        loss = draw(st.sampled_from(localization_losses(num_classes)))
        y = draw(localization_targets(num_classes, junk_when_empty=junk_when_empty))
    else:
        num_landmarks = draw(st.integers(1, 4))
        loss = draw(st.sampled_from(landmark_losses(num_landmarks)))
        y = draw(landmark_targets(num_landmarks, junk_when_empty=junk_when_empty))
    y_hat = draw(raw_outputs(len(y), y.shape[1], bound=bound))
    return loss, y_hat, y


@given(losses_with_batches())
def test_forward_is_the_formula_written_one_image_at_a_time(case):
    loss, y_hat, y = case
    assert loss.forward(y_hat, y) == pytest.approx(reference_loss(loss, y_hat, y), rel=1e-12)


@given(losses_with_batches(bound=1e3))
def test_loss_is_never_negative(case):
    loss, y_hat, y = case
    assert loss.forward(y_hat, y) >= 0


def test_the_squared_loss_is_the_slide_on_a_worked_example():
    y = np.array(
        [[1.0, 0.5, 0.5, 0.25, 0.5, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.00, 0.0, 0.0, 0.0, 0.0]]
    )
    y_hat = y + 0.125  # every entry off by 1/8, exact in binary
    loss = SquaredLocalizationLoss(num_classes=3)
    # Image 1 has an object: all 8 errors count. Image 2 has none: only p_c's error counts.
    assert loss.forward(y_hat, y) == (8 * 0.125**2 + 0.125**2) / 2


# --- gradients -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", EVERY_LOSS, ids=loss_id)
def test_backward_matches_central_differences(case):
    loss, y = case
    y_hat = np.random.default_rng(1).normal(size=y.shape)
    loss.forward(y_hat, y)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(y_hat, y), y_hat)
    assert rel_error(analytic, numeric) < GRADIENT_TOLERANCE


@pytest.mark.parametrize(
    "case", [case for case in EVERY_LOSS if type(case[0].output) is not Identity], ids=loss_id
)
def test_backward_matches_central_differences_at_saturated_logits(case):
    loss, y = case
    rng = np.random.default_rng(2)
    y_hat = rng.normal(size=y.shape)
    logit_columns = [0] + (list(range(5, y.shape[1])) if isinstance(loss, LocalizationLoss) else [])
    # σ(±25) is within 1e-11 of 0 or 1: the flat ends where a naive log(σ) would lose everything.
    y_hat[:, logit_columns] = 25.0 * rng.choice([-1.0, 1.0], size=(len(y), len(logit_columns)))
    loss.forward(y_hat, y)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(y_hat, y), y_hat)
    assert rel_error(analytic, numeric) < GRADIENT_TOLERANCE


def test_localization_loss_is_exact_and_quiet_at_logits_of_1000():
    y = np.array(
        [[1.0, 0.5, 0.5, 0.2, 0.2, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    )
    y_hat = np.array(
        [
            [-1000.0, 0.5, 0.5, 0.2, 0.2, 1000.0, -1000.0, 0.0],
            [1000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    loss = LocalizationLoss(num_classes=3)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss.forward(y_hat, y)
        gradient = loss.backward()
    # BCE(z, p) = log(1 + e^z) - p z ≈ |z| for a confident wrong p_c: 1000 in both images.
    # CE = log Σ e^z - z_true ≈ 1000 - (-1000) for the confident wrong class of image 1.
    assert value == (1000 + loss.class_weight * 2000 + 1000) / 2
    # dBCE/dz = σ(z) - p: 0 - 1 in image 1, 1 - 0 in image 2; dCE/dz = softmax(z) - c.
    assert gradient[:, 0].tolist() == [-1 / 2, 1 / 2]
    assert gradient[0, 5:].tolist() == [loss.class_weight / 2, -loss.class_weight / 2, 0.0]
    assert np.all(gradient[1, 1:] == 0)


def test_landmark_loss_is_exact_and_quiet_at_logits_of_1000():
    y = np.array([[1.0, 0.25, 0.5, 0.75, 0.5, 0.5, 0.75], [0.0] * 7])
    y_hat = np.array([[1000.0, 0.25, 0.5, 0.75, 0.5, 0.5, 0.75], [-1000.0] + [0.0] * 6])
    loss = LandmarkLoss()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss.forward(y_hat, y)
        gradient = loss.backward()
    # Both is_face logits are confidently right, and the points are exact: nothing to pay.
    assert value == 0.0
    assert np.all(gradient == 0)


@pytest.mark.parametrize("case", EVERY_LOSS, ids=loss_id)
def test_backward_has_the_shape_and_dtype_of_y_hat(case):
    loss, y = case
    y_hat = np.random.default_rng(3).normal(size=y.shape).astype(np.float32)
    loss.forward(y_hat, y.astype(np.float32))
    gradient = loss.backward()
    assert gradient.shape == y_hat.shape
    assert gradient.dtype == np.float32


def test_the_squared_loss_gradient_is_2_over_n_times_the_error():
    y = np.array([[1.0, 0.5, 0.5, 0.25, 0.5, 1.0], [0.0] * 6])
    y_hat = np.array([[0.5, 0.5, 0.25, 0.25, 0.5, 0.0], [0.75, 9.0, 9.0, 9.0, 9.0, 9.0]])
    loss = SquaredLocalizationLoss(num_classes=1)
    loss.forward(y_hat, y)
    expected = np.vstack([2 * (y_hat[0] - y[0]) / 2, [2 * 0.75 / 2, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(loss.backward(), expected)


# --- the "don't care" entries of an empty image ----------------------------------------------


@given(losses_with_batches(), st.data())
def test_empty_rows_ignore_what_sits_after_the_flag(case, data):
    loss, y_hat, y = case
    empty = np.flatnonzero(y[:, 0] == 0)
    value = loss.forward(y_hat, y)
    gradient = loss.backward()
    assert np.all(gradient[empty, 1:] == 0)

    other_y_hat, other_y = y_hat.copy(), y.copy()
    for row in empty:
        rest = y.shape[1] - 1
        other_y[row, 1:] = data.draw(st.lists(junk(), min_size=rest, max_size=rest))
        other_y_hat[row, 1:] = data.draw(
            st.lists(st.floats(-1e3, 1e3), min_size=rest, max_size=rest)
        )
    assert loss.forward(other_y_hat, other_y) == value
    np.testing.assert_array_equal(loss.backward(), gradient)


# --- the output maps ---------------------------------------------------------------------------


def test_each_loss_carries_the_output_map_that_matches_it():
    assert type(SquaredLocalizationLoss(3).output) is Identity
    assert type(SquaredLandmarkLoss().output) is Identity
    assert LocalizationLoss(4).output.get_config() == LocalizationOutput(4).get_config()
    assert LandmarkLoss(2).output.get_config() == LandmarkOutput(2).get_config()


@given(localization_targets(num_classes=3), st.data())
def test_localization_loss_is_the_negative_log_likelihood_of_what_predict_shows(y, data):
    y_hat = data.draw(raw_outputs(len(y), 8))
    loss = LocalizationLoss(num_classes=3, box_weight=1.0, class_weight=1.0)
    probabilities = loss.output(y_hat)
    expected = 0.0
    for shown, target in zip(probabilities, y, strict=True):
        if target[0] == 1:
            true_class = list(target[5:]).index(1)
            expected += (
                -math.log(shown[0])
                + sum((shown[1:5] - target[1:5]) ** 2)
                - math.log(shown[5 + true_class])
            )
        else:
            expected += -math.log(1 - shown[0])
    assert loss.forward(y_hat, y) == pytest.approx(expected / len(y), rel=1e-9)


# --- order of calls and arguments ------------------------------------------------------------


@pytest.mark.parametrize("loss", localization_losses(3) + landmark_losses(3), ids=repr)
def test_backward_before_forward_is_an_error(loss):
    with pytest.raises(ValueError, match=f"{type(loss).__name__}.backward called before forward"):
        loss.backward()


@pytest.mark.parametrize("case", EVERY_LOSS, ids=loss_id)
def test_a_forward_that_raises_leaves_no_gradient_behind(case):
    loss, y = case
    loss.forward(np.zeros(y.shape), y)
    with pytest.raises(ValueError, match="y_hat must be finite"):
        loss.forward(np.full(y.shape, np.nan), y)
    with pytest.raises(ValueError, match="backward called before forward"):
        loss.backward()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SquaredLocalizationLoss(0), "num_classes must be a positive integer"),
        (lambda: LocalizationLoss(3, box_weight=-1.0), "box_weight must be a finite number >= 0"),
        (lambda: LocalizationLoss(3, class_weight=np.nan), "class_weight must be a finite number"),
        (lambda: SquaredLandmarkLoss(0), "num_landmarks must be a positive integer"),
    ],
)
def test_constructors_reject_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: LocalizationLoss(2.5), "num_classes must be a positive integer"),
        (lambda: LandmarkLoss(landmark_weight="5"), "landmark_weight must be a real number"),
        (lambda: LocalizationLoss(3, box_weight=None), "box_weight must be a real number"),
    ],
)
def test_constructors_reject_arguments_of_the_wrong_type(make, match):
    with pytest.raises(TypeError, match=match):
        make()


# --- input checks ------------------------------------------------------------------------------


def scene_batch():
    """Three valid localization images (K = 3): an object, none, an object."""
    y = np.array(
        [
            [1.0, 0.5, 0.5, 0.25, 0.5, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 0.00, 0.0, 0.0, 0.0, 0.0],
            [1.0, 0.25, 0.75, 0.5, 0.25, 1.0, 0.0, 0.0],
        ]
    )
    return np.zeros_like(y), y


def changed(array, index, value):
    array = array.copy()
    array[index] = value
    return array


y_hat_ok, y_ok = scene_batch()

BAD_SCENE_BATCHES = [
    (y_hat_ok, y_ok[:, :7], r"y must have shape \(N, 8\), got \(3, 7\)"),
    (y_hat_ok, y_ok[0], r"y must have shape \(N, 8\), got \(8,\)"),
    (y_hat_ok[:, :7], y_ok, r"y_hat must have shape \(N, 8\), got \(3, 7\)"),
    (y_hat_ok[:2], y_ok, "y_hat and y must hold the same number of images, got 2 and 3"),
    (y_hat_ok[:0], y_ok[:0], "the batch is empty"),
    (changed(y_hat_ok, (1, 6), np.nan), y_ok, r"y_hat must be finite .* in row 1"),
    (changed(y_hat_ok, (2, 0), -np.inf), y_ok, r"y_hat must be finite .* in row 2"),
    (y_hat_ok, changed(y_ok, (2, 0), 0.3), r"y\[:, 0\] \(p_c\) must be 0 or 1, found 0.3 in row 2"),
    (y_hat_ok, changed(y_ok, (1, 0), np.nan), r"p_c\) must be 0 or 1, found nan in row 1"),
    (
        y_hat_ok,
        changed(y_ok, (2, 1), 1.5),
        r"y\[:, 1:5\] must be 4 numbers \(b_x, b_y, b_h, b_w\) in \[0, 1\] with b_h, b_w > 0 where "
        r"p_c = 1, found .* in row 2",
    ),
    (y_hat_ok, changed(y_ok, (0, 2), -0.25), r"in \[0, 1\] .* where p_c = 1, .* in row 0"),
    (y_hat_ok, changed(y_ok, (0, 3), np.nan), r"in \[0, 1\] .* where p_c = 1, .* in row 0"),
    (
        y_hat_ok,
        changed(y_ok, (2, 4), 0.0),
        r"y\[:, 1:5\] must be .* with b_h, b_w > 0 where p_c = 1, found .* in row 2",
    ),
    (
        y_hat_ok,
        changed(y_ok, (0, slice(5, 8)), [0.5, 0.5, 0.0]),
        r"y\[:, 5:\] \(c_1..c_K\) must be one-hot where p_c = 1, found \[0.5 0.5 0. \] in row 0",
    ),
    (y_hat_ok, changed(y_ok, (0, slice(5, 8)), [1.0, 1.0, 0.0]), "must be one-hot .* in row 0"),
    (y_hat_ok, changed(y_ok, (2, slice(5, 8)), [0.0, 0.0, 0.0]), "must be one-hot .* in row 2"),
]


@pytest.mark.parametrize("make", [SquaredLocalizationLoss, LocalizationLoss])
@pytest.mark.parametrize("y_hat, y, match", BAD_SCENE_BATCHES)
def test_localization_losses_name_what_is_wrong_with_a_batch(make, y_hat, y, match):
    with pytest.raises(ValueError, match=match):
        make(num_classes=3).forward(y_hat, y)


def test_the_message_counts_the_other_bad_rows():
    y_hat, y = scene_batch()
    y[:, 0] = 0.5
    with pytest.raises(ValueError, match=r"found 0.5 in row 0 \(and 2 more rows\)"):
        LocalizationLoss(num_classes=3).forward(y_hat, y)


def face_batch():
    """Two valid landmark images: a face, none."""
    y = np.array([[1.0, 0.25, 0.5, 0.75, 0.5, 0.5, 0.75], [0.0] * 7])
    return np.zeros_like(y), y


face_y_hat_ok, face_y_ok = face_batch()

BAD_FACE_BATCHES = [
    (face_y_hat_ok, face_y_ok[:, :6], r"y must have shape \(N, 7\), got \(2, 6\)"),
    (face_y_hat_ok[:, :5], face_y_ok, r"y_hat must have shape \(N, 7\), got \(2, 5\)"),
    (face_y_hat_ok[:1], face_y_ok, "y_hat and y must hold the same number of images, got 1 and 2"),
    (changed(face_y_hat_ok, (0, 3), np.inf), face_y_ok, r"y_hat must be finite .* in row 0"),
    (
        face_y_hat_ok,
        changed(face_y_ok, (1, 0), 2.0),
        r"y\[:, 0\] \(is_face\) must be 0 or 1, found 2.0 in row 1",
    ),
    (
        face_y_hat_ok,
        changed(face_y_ok, (0, 6), 1.25),
        r"y\[:, 1:\] \(x_1, y_1, ...\) must lie in \[0, 1\] where is_face = 1, found .* in row 0",
    ),
]


@pytest.mark.parametrize("make", [SquaredLandmarkLoss, LandmarkLoss])
@pytest.mark.parametrize("y_hat, y, match", BAD_FACE_BATCHES)
def test_landmark_losses_name_what_is_wrong_with_a_batch(make, y_hat, y, match):
    with pytest.raises(ValueError, match=match):
        make().forward(y_hat, y)


@pytest.mark.parametrize(
    "y_hat, y, match",
    [
        (y_hat_ok.astype(int), y_ok, "y_hat must be a numpy float array"),
        (y_hat_ok.tolist(), y_ok, "y_hat must be a numpy float array"),
        (y_hat_ok, y_ok.tolist(), "y must be a numpy array of numbers"),
    ],
)
def test_losses_want_numpy_arrays(y_hat, y, match):
    with pytest.raises(TypeError, match=match):
        LocalizationLoss(num_classes=3).forward(y_hat, y)
