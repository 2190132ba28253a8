"""Tests for tinycnn.metrics: IoU's geometry, the accuracies and NME against per-image loops."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.losses import SquaredLocalizationLoss
from tinycnn.metrics import (
    class_accuracy,
    correct_localization_rate,
    is_face_accuracy,
    landmark_report,
    localization_report,
    mean_iou,
    nme,
    pc_accuracy,
)

from strategies import (
    centre_boxes,
    junk,
    landmark_targets,
    localization_targets,
)
from test_boxes import iou_one_pair

pytestmark = pytest.mark.filterwarnings("error")


# --- localization metrics --------------------------------------------------------------------


@st.composite
def predictions_and_targets(draw, num_classes=3):
    """y_true with both kinds of image, and y_pred in the lecture's format near and far from it."""
    y_true = draw(localization_targets(num_classes, junk_when_empty=draw(st.booleans())))
    n, width = y_true.shape
    y_pred = np.empty((n, width))
    for row in range(n):
        y_pred[row, 0] = draw(st.floats(0, 1))
        y_pred[row, 1:5] = draw(centre_boxes(min_size=0.0))
        y_pred[row, 5:] = draw(
            st.lists(st.floats(0, 1), min_size=num_classes, max_size=num_classes)
        )
    return y_pred, y_true


def with_objects(y_pred, y_true):
    return [
        (predicted, target)
        for predicted, target in zip(y_pred, y_true, strict=True)
        if target[0] == 1
    ]


def share(flags):
    return sum(flags) / len(flags) if flags else math.nan


def same(value, expected):
    return (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(expected)


@given(predictions_and_targets())
def test_pc_accuracy_counts_every_image(pair):
    y_pred, y_true = pair
    expected = share([(p[0] >= 0.5) == (t[0] == 1) for p, t in zip(y_pred, y_true, strict=True)])
    assert pc_accuracy(y_pred, y_true) == pytest.approx(expected)


@given(predictions_and_targets())
def test_class_accuracy_counts_the_images_with_an_object(pair):
    y_pred, y_true = pair
    expected = share([np.argmax(p[5:]) == list(t[5:]).index(1) for p, t in with_objects(*pair)])
    assert same(class_accuracy(y_pred, y_true), expected)


@given(predictions_and_targets())
def test_mean_iou_averages_over_the_images_with_an_object(pair):
    y_pred, y_true = pair
    overlaps = [iou_one_pair(p[1:5], t[1:5]) for p, t in with_objects(*pair)]
    expected = sum(overlaps) / len(overlaps) if overlaps else math.nan
    assert same(mean_iou(y_pred, y_true), expected)


@given(predictions_and_targets())
def test_correct_localization_needs_detection_class_and_overlap(pair):
    y_pred, y_true = pair
    expected = share(
        [
            p[0] >= 0.5
            and np.argmax(p[5:]) == list(t[5:]).index(1)
            and iou_one_pair(p[1:5], t[1:5]) >= 0.5
            for p, t in with_objects(*pair)
        ]
    )
    assert same(correct_localization_rate(y_pred, y_true), expected)


def test_a_perfect_box_with_a_low_p_c_is_not_a_correct_localization():
    y_true = np.array([[1.0, 0.5, 0.5, 0.25, 0.25, 0.0, 1.0]])
    y_pred = y_true.copy()
    y_pred[0, 0] = 0.4
    assert mean_iou(y_pred, y_true) == 1.0
    assert class_accuracy(y_pred, y_true) == 1.0
    assert correct_localization_rate(y_pred, y_true) == 0.0
    assert correct_localization_rate(y_pred, y_true, threshold=0.3) == 1.0


def test_metrics_over_no_object_are_nan_without_a_warning():
    y_true = np.zeros((3, 8))
    y_pred = np.full((3, 8), 0.25)
    report = localization_report(y_pred, y_true)
    assert report["pc_accuracy"] == 1.0
    assert all(
        math.isnan(report[name])
        for name in ("class_accuracy", "mean_iou", "correct_localization_rate")
    )


@given(predictions_and_targets())
def test_localization_report_gathers_the_four_metrics(pair):
    report = localization_report(*pair, threshold=0.25)
    assert list(report) == [
        "pc_accuracy",
        "class_accuracy",
        "mean_iou",
        "correct_localization_rate",
    ]
    assert report["pc_accuracy"] == pc_accuracy(*pair, threshold=0.25)
    assert same(report["class_accuracy"], class_accuracy(*pair))
    assert same(report["mean_iou"], mean_iou(*pair))
    assert same(
        report["correct_localization_rate"], correct_localization_rate(*pair, threshold=0.25)
    )


GOOD_TRUE = np.array([[1.0, 0.5, 0.5, 0.25, 0.25, 0.0, 1.0], [0.0] * 7])


@pytest.mark.parametrize(
    "y_pred, y_true, match",
    [
        (
            np.zeros((2, 6)),
            GOOD_TRUE,
            r"y_pred and y_true must have the same width.*got shapes \(2, 6\) and \(2, 7\)",
        ),
        (
            GOOD_TRUE,
            GOOD_TRUE[:, :6],
            r"y_pred and y_true must have the same width.*got shapes \(2, 7\) and \(2, 6\)",
        ),
        (np.zeros((3, 7)), GOOD_TRUE, "y_pred and y_true must hold the same number of images"),
        (np.zeros((2, 5)), GOOD_TRUE[:, :5], r"y_true must have shape \(N, D\) with D >= 6"),
        (np.full((2, 7), np.nan), GOOD_TRUE, "y_pred must be finite"),
        (
            np.zeros((2, 7)),
            np.vstack([GOOD_TRUE[0], [0.5] * 7]),
            r"y_true\[:, 0\] \(p_c\) must be 0 or 1, found 0.5 in row 1",
        ),
    ],
)
def test_localization_metrics_reject_bad_input(y_pred, y_true, match):
    with pytest.raises(ValueError, match=match):
        localization_report(y_pred, y_true)


@pytest.mark.parametrize("metric", [pc_accuracy, correct_localization_rate, localization_report])
@pytest.mark.parametrize("threshold", [-0.1, 1.5, np.nan])
def test_localization_metrics_reject_thresholds_outside_0_1(metric, threshold):
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        metric(np.zeros((2, 7)), GOOD_TRUE, threshold=threshold)
    with pytest.raises(TypeError, match=r"threshold must be a real number, got '0.5'"):
        metric(np.zeros((2, 7)), GOOD_TRUE, threshold="0.5")


def test_correct_localization_rate_checks_its_iou_threshold():
    with pytest.raises(ValueError, match=r"iou_threshold must be a number in \[0, 1\], got 50"):
        correct_localization_rate(np.zeros((2, 7)), GOOD_TRUE, iou_threshold=50)


def test_metrics_want_numpy_arrays():
    with pytest.raises(TypeError, match="y_true must be a numpy array, got list"):
        mean_iou(np.zeros((2, 7)), GOOD_TRUE.tolist())


@pytest.mark.parametrize("metric", [mean_iou, pc_accuracy, class_accuracy, is_face_accuracy])
@pytest.mark.parametrize("y_true", [np.array(None), np.array("y"), np.full((2, 7), None)])
def test_metrics_name_a_y_true_of_no_numbers_whatever_its_shape(metric, y_true):
    """np.array(None) was refused for its shape, (), as a ValueError."""
    with pytest.raises(TypeError, match=r"^y_true must be a numpy array of numbers, got dtype"):
        metric(np.zeros((2, 7)), y_true)


# --- landmark metrics ------------------------------------------------------------------------


@st.composite
def landmark_predictions(draw, num_landmarks=3):
    """y_true, y_pred in the lecture's format, and a face size for each image (0 without a face)."""
    y_true = draw(landmark_targets(num_landmarks, junk_when_empty=draw(st.booleans())))
    n, width = y_true.shape
    y_pred = np.array(
        [draw(st.lists(st.floats(0, 1), min_size=width, max_size=width)) for _ in range(n)]
    )
    sizes = np.array([draw(st.floats(0.05, 1)) if face else 0.0 for face in y_true[:, 0]])
    return y_pred, y_true, sizes


@given(landmark_predictions())
def test_is_face_accuracy_counts_every_image(case):
    y_pred, y_true, _ = case
    expected = share([(p[0] >= 0.5) == (t[0] == 1) for p, t in zip(y_pred, y_true, strict=True)])
    assert is_face_accuracy(y_pred, y_true) == pytest.approx(expected)


@given(landmark_predictions())
def test_nme_is_the_mean_point_distance_over_the_face_size(case):
    y_pred, y_true, sizes = case
    per_face = []
    for predicted, target, size in zip(y_pred, y_true, sizes, strict=True):
        if target[0] == 1:
            distances = [
                math.dist(
                    predicted[1 + 2 * point : 3 + 2 * point], target[1 + 2 * point : 3 + 2 * point]
                )
                for point in range(3)
            ]
            per_face.append(sum(distances) / 3 / size)
    expected = sum(per_face) / len(per_face) if per_face else math.nan
    assert same(nme(y_pred, y_true, sizes), expected)


def test_nme_of_points_all_shifted_by_3_4_5_is_the_shift_over_the_size():
    y_true = np.array([[1.0, 0.25, 0.5, 0.75, 0.5, 0.5, 0.75], [0.0] * 7])
    shift = np.array([0.03, 0.04])  # length 0.05
    y_pred = y_true.copy()
    y_pred[0, 1:] += np.tile(shift, 3)
    y_pred[1, 1:] = 0.9  # no face there: its points do not count
    face_size = 0.5
    assert nme(y_pred, y_true, np.array([face_size, 0.0])) == pytest.approx(0.05 / face_size)


def test_nme_without_faces_is_nan_without_a_warning():
    report = landmark_report(np.zeros((2, 7)), np.zeros((2, 7)), np.zeros(2))
    assert report["is_face_accuracy"] == 1.0
    assert math.isnan(report["nme"])


@given(landmark_predictions(), st.data())
def test_nme_ignores_whatever_sits_in_the_rows_without_a_face(case, data):
    y_pred, y_true, sizes = case
    other_true, other_sizes = y_true.copy(), sizes.copy()
    for row in np.flatnonzero(y_true[:, 0] == 0):
        other_true[row, 1:] = data.draw(st.lists(junk(), min_size=6, max_size=6))
        other_sizes[row] = data.draw(junk())
    assert same(nme(y_pred, other_true, other_sizes), nme(y_pred, y_true, sizes))


@given(landmark_predictions())
def test_landmark_report_gathers_both_metrics(case):
    report = landmark_report(*case)
    assert list(report) == ["is_face_accuracy", "nme"]
    assert report["is_face_accuracy"] == is_face_accuracy(*case[:2])
    assert same(report["nme"], nme(*case))


FACE_TRUE = np.array([[1.0, 0.25, 0.5, 0.75, 0.5, 0.5, 0.75], [0.0] * 7])
FACE_SIZES = np.array([0.5, 0.0])
POINT_OUTSIDE = np.vstack([[1.0, 0.25, 1.5, 0.75, 0.5, 0.5, 0.75], FACE_TRUE[1]])


@pytest.mark.parametrize(
    "y_pred, y_true, sizes, match",
    [
        (
            np.zeros((2, 7)),
            FACE_TRUE,
            np.zeros(2),
            r"face_sizes must be fractions of the image in \(0, 1\] where is_face = 1, found 0.0 "
            r"in row 0$",
        ),
        (
            np.zeros((2, 7)),
            FACE_TRUE,
            np.array([32.0, 0.5]),  # pixels: the NME would come out 64 times too small
            r"found 32.0 in row 0 \(in pixels\? divide by the image's side\)",
        ),
        (
            np.zeros((2, 7)),
            FACE_TRUE,
            np.array([np.nan, 0.5]),
            r"face_sizes must be fractions of the image in \(0, 1\] .* found nan in row 0$",
        ),
        (
            np.zeros((2, 7)),
            FACE_TRUE,
            np.array([0.5]),
            r"face_sizes must be an array \(N,\) = \(2,\)",
        ),
        (
            np.zeros((2, 5)),
            FACE_TRUE,
            FACE_SIZES,
            r"y_pred and y_true must have the same width.*got shapes \(2, 5\) and \(2, 7\)",
        ),
        (np.zeros((2, 6)), FACE_TRUE[:, :6], FACE_SIZES, "y_true must have an odd width"),
        (
            np.zeros((1, 7)),
            FACE_TRUE,
            FACE_SIZES,
            "must hold the same number of images, got 1 and 2",
        ),
        (
            np.zeros((2, 7)),
            POINT_OUTSIDE,
            FACE_SIZES,
            r"y_true\[:, 1:\] .* must lie in \[0, 1\] where is_face = 1, found .* in row 0",
        ),
    ],
)
def test_landmark_metrics_reject_bad_input(y_pred, y_true, sizes, match):
    with pytest.raises(ValueError, match=match):
        landmark_report(y_pred, y_true, sizes)


def test_is_face_accuracy_checks_its_threshold():
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\], got 2"):
        is_face_accuracy(np.zeros((2, 7)), FACE_TRUE, threshold=2)


def test_the_squared_losses_regressions_are_measured_as_they_are():
    """A network trained with the lecture's squared loss predicts the vector itself, which may
    leave [0, 1]: p_c is compared with the threshold, the class is the largest c_k, and a box size
    below 0 is an empty box (IoU 0). Nothing is refused for being outside [0, 1]."""
    y_true = np.array([[1.0, 0.5, 0.5, 0.4, 0.4, 0.0, 1.0], [1.0, 0.5, 0.5, 0.4, 0.4, 1.0, 0.0]])
    y_pred = np.array([[1.2, 0.5, 0.5, 0.4, 0.4, -0.3, 0.8], [-0.2, 0.5, 0.5, -0.1, 0.4, 1.1, 0.2]])
    assert pc_accuracy(y_pred, y_true) == 0.5  # 1.2 is detected, -0.2 is not
    assert class_accuracy(y_pred, y_true) == 1.0  # argmax of (-0.3, 0.8) and of (1.1, 0.2)
    assert mean_iou(y_pred, y_true) == pytest.approx(0.5)  # 1.0 and 0.0 for the negative height
    face_true = np.array([[1.0, 0.25, 0.5, 0.75, 0.5, 0.5, 0.75]])
    face_pred = face_true.copy()
    face_pred[0, 0] = 1.3
    assert is_face_accuracy(face_pred, face_true) == 1.0
    assert nme(face_pred, face_true, np.ones(1)) == 0.0


def test_a_squared_loss_model_can_be_evaluated_with_the_metrics():
    loss = SquaredLocalizationLoss(3)
    model = tc.networks.localizer(3, image_size=32, output=loss.output)
    x, y = tc.data.localization_dataset(8, image_size=32, seed=1)[:2]
    report = tc.train.evaluate(model, loss, x, y, metrics=localization_report)
    assert set(report) == {"loss", *localization_report(y, y)}
    assert all(np.isfinite(value) or np.isnan(value) for value in report.values())


@pytest.mark.parametrize("dtype", [bool, np.complex128, object, "U3"])
@pytest.mark.parametrize("shape", [(2,), (), (3,)])
def test_nme_refuses_face_sizes_that_are_not_real_numbers(dtype, shape):
    """Bools would be read as sizes of 1.0 and a complex size would lose its imaginary part;
    the type is named whatever the shape (np.array(None) was refused for its shape)."""
    sizes = np.ones(shape, bool).astype(dtype)
    with pytest.raises(TypeError, match=r"^face_sizes must be an array of real numbers"):
        nme(np.zeros((2, 7)), FACE_TRUE, sizes)


def test_nme_names_face_sizes_that_are_no_array():
    with pytest.raises(
        TypeError, match=r"^face_sizes must be a numpy array \(N,\) = \(2,\).* list"
    ):
        nme(np.zeros((2, 7)), FACE_TRUE, [0.5, 0.0])
