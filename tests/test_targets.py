"""Tests for tinycnn.targets: the lecture's vectors, their encoding, decoding and box formats."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.data import landmark_dataset, localization_dataset
from tinycnn.targets import (
    LANDMARK_NAMES,
    NO_OBJECT,
    Landmarks,
    Localization,
    check_landmark_targets,
    check_localization_targets,
    check_predictions,
    decode_landmarks,
    decode_localization,
    encode_landmarks,
    encode_localization,
    encode_localization_batch,
    one_hot_rows,
    valid_boxes,
)

from strategies import centre_boxes, landmark_targets, localization_targets

pytestmark = pytest.mark.filterwarnings("error")


# --- localization vectors ---------------------------------------------------------------------


def test_encode_localization_puts_each_number_in_the_lecture_order():
    b_x, b_y, b_h, b_w = 0.5, 0.25, 0.125, 0.75
    y = encode_localization(2, (b_x, b_y, b_h, b_w), num_classes=4)
    assert y.shape == (4 + 5,)
    assert y[0] == 1  # p_c
    assert (y[1], y[2], y[3], y[4]) == (b_x, b_y, b_h, b_w)  # b_h before b_w
    assert y[5:].tolist() == [0, 0, 1, 0]  # c_3 for class index 2


def test_encode_localization_without_object_is_all_zeros_and_ignores_the_box():
    y = encode_localization(None, (np.nan, 7, -1, 0), num_classes=3)
    assert y.shape == (8,)
    assert not np.any(y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encode_localization_gives_the_dtype_asked_for(dtype):
    assert encode_localization(0, (0.5, 0.5, 0.5, 0.5), 2, dtype=dtype).dtype == dtype


@pytest.mark.parametrize(
    "label, box, match",
    [
        (3, (0.5, 0.5, 0.2, 0.2), r"label must be a class index in 0\.\.2"),
        (-1, (0.5, 0.5, 0.2, 0.2), "label must be a class index"),
        (1, (0.5, 0.5, 0.2), r"box must be 4 numbers \(b_x, b_y, b_h, b_w\)"),
        (1, (0.5, 1.5, 0.2, 0.2), r"box must be 4 numbers .* in \[0, 1\]"),
        (1, (0.5, 0.5, 0.0, 0.2), "b_h, b_w > 0"),
        (1, (0.5, np.nan, 0.2, 0.2), "box must be 4 numbers"),
    ],
)
def test_encode_localization_rejects_bad_labels_and_boxes(label, box, match):
    with pytest.raises(ValueError, match=match):
        encode_localization(label, box, num_classes=3)


@pytest.mark.parametrize("label", [True, 1.0, "1", np.float32(1)])
def test_encode_localization_names_a_label_of_another_type(label):
    with pytest.raises(TypeError, match=r"label must be a class index \(an int\) in 0\.\.2"):
        encode_localization(label, (0.5, 0.5, 0.2, 0.2), num_classes=3)


@pytest.mark.parametrize("box", [None, "0.5 0.5 0.2 0.2", {"b_x": 0.5}])
def test_encode_localization_names_a_box_that_is_no_numbers_as_given(box):
    """numpy would read None as NaN: the message shows what was passed, not "nan"."""
    shown = re.escape(repr(box))
    with pytest.raises(TypeError, match=rf"box must be 4 numbers .*, got {shown}( \(\w+\))?$"):
        encode_localization(1, box, num_classes=3)


@pytest.mark.parametrize(
    "num_classes, error", [(0, ValueError), (-2, ValueError), (2.0, TypeError), (None, TypeError)]
)
def test_encode_localization_needs_a_positive_class_count(num_classes, error):
    with pytest.raises(error, match="num_classes must be a positive integer"):
        encode_localization(None, None, num_classes)


@pytest.mark.parametrize("dtype", [int, np.int32, np.uint8, bool, np.complex128, None])
def test_encoders_refuse_dtypes_that_cannot_hold_the_box(dtype):
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        encode_localization(0, (0.5, 0.5, 0.25, 0.25), 3, dtype=dtype)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        encode_localization_batch(np.array([0]), np.full((1, 4), 0.5), 3, dtype=dtype)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        encode_landmarks(None, dtype=dtype)


@given(st.data(), st.integers(1, 5))
def test_encode_localization_batch_matches_encoding_one_image_at_a_time(data, num_classes):
    n = data.draw(st.integers(0, 6))
    labels = data.draw(st.lists(st.integers(NO_OBJECT, num_classes - 1), min_size=n, max_size=n))
    boxes = np.array([data.draw(centre_boxes()) for _ in range(n)]).reshape(n, 4)
    batch = encode_localization_batch(np.array(labels, dtype=int), boxes, num_classes)
    one_by_one = [
        encode_localization(None if label == NO_OBJECT else label, box, num_classes)
        for label, box in zip(labels, boxes, strict=True)
    ]
    assert batch.shape == (n, num_classes + 5)
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.array(one_by_one).reshape(n, num_classes + 5))


def test_encode_localization_batch_ignores_boxes_of_empty_images():
    boxes = np.array([[np.nan, 9.0, -1.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    y = encode_localization_batch(np.array([NO_OBJECT, 0]), boxes, num_classes=2)
    assert not np.any(y[0])
    assert y[1, 0] == 1


@pytest.mark.parametrize(
    "labels, boxes, match",
    [
        (np.array([0, 3]), np.full((2, 4), 0.5), r"labels must be class indices in 0\.\.2 or -1"),
        (np.array([0, -2]), np.full((2, 4), 0.5), r"found -2 in row 1"),
        (
            np.array([[0, 1]]),
            np.full((2, 4), 0.5),
            r"labels must be a 1-D integer array .* \(1, 2\)",
        ),
        (np.array([0, 1]), np.full((3, 4), 0.5), r"boxes must have shape \(N, 4\) = \(2, 4\)"),
        (
            np.array([0, 1]),
            np.array([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.0, 0.5]]),
            r"boxes must be .* with b_h, b_w > 0 where there is an object, found .* in row 1",
        ),
    ],
)
def test_encode_localization_batch_rejects_bad_input(labels, boxes, match):
    with pytest.raises(ValueError, match=match):
        encode_localization_batch(labels, boxes, num_classes=3)


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0]), np.array([True, False]), ["a", "b"]])
def test_encode_localization_batch_names_labels_of_another_type(labels):
    with pytest.raises(TypeError, match="labels must be a 1-D integer array .* got dtype"):
        encode_localization_batch(labels, np.full((2, 4), 0.5), num_classes=3)


@given(st.integers(0, 4), centre_boxes())
def test_decode_localization_reads_back_what_encode_wrote(label, box):
    decoded = decode_localization(encode_localization(label, box, 5, dtype=np.float64), 5)
    assert decoded == Localization(p_c=1.0, label=label, box=tuple(box))


def test_decode_localization_reads_an_empty_image_as_no_object():
    decoded = decode_localization(encode_localization(None, None, 3), 3)
    assert decoded == Localization(p_c=0.0, label=None, box=None)


def test_decode_localization_takes_the_argmax_class_and_the_threshold():
    y_hat = np.array([0.6, 0.5, 0.5, 0.2, 0.1, 0.1, 0.7, 0.2])
    assert decode_localization(y_hat, 3).label == 1
    below = decode_localization(y_hat, 3, threshold=0.7)
    assert below.p_c == pytest.approx(0.6)
    assert below.label is None and below.box is None


@given(localization_targets(num_classes=3))
def test_decode_localization_of_a_batch_gives_one_result_per_row(y):
    decoded = decode_localization(y, 3)
    assert len(decoded) == len(y)
    for row, result in zip(y, decoded, strict=True):
        assert (result.label is None) == (row[0] == 0)


@pytest.mark.parametrize(
    "y_hat, threshold, match",
    [
        (np.zeros(7), 0.5, r"y_hat must have shape \(8,\) or \(N, 8\), got \(7,\)"),
        (np.zeros((2, 9)), 0.5, r"y_hat must have shape \(N, 8\), got \(2, 9\)"),
        (np.full(8, np.nan), 0.5, "y_hat must be finite"),
        (np.zeros(8), 1.5, r"threshold must be a number in \[0, 1\]"),
    ],
)
def test_decode_localization_rejects_bad_input(y_hat, threshold, match):
    with pytest.raises(ValueError, match=match):
        decode_localization(y_hat, 3, threshold)


def test_decode_localization_wants_a_float_array():
    with pytest.raises(TypeError, match="y_hat must be a numpy float array"):
        decode_localization([[1, 0, 0, 0, 0, 1, 0, 0]], 3)


# --- landmark vectors -------------------------------------------------------------------------


def test_landmark_names_follow_the_vector():
    assert LANDMARK_NAMES == ("left_mouth_corner", "right_mouth_corner", "chin_tip")


def test_encode_landmarks_puts_x_then_y_for_each_point():
    points = np.array([[0.25, 0.5], [0.75, 0.5], [0.5, 0.875]])
    y = encode_landmarks(points)
    assert y.shape == (7,)
    assert y[0] == 1  # is_face
    assert y[1:].tolist() == [0.25, 0.5, 0.75, 0.5, 0.5, 0.875]


def test_encode_landmarks_without_face_is_all_zeros():
    y = encode_landmarks(None)
    assert y.shape == (7,) and not np.any(y)


@given(st.lists(st.floats(0, 1), min_size=6, max_size=6))
def test_decode_landmarks_reads_back_what_encode_wrote(coordinates):
    points = np.array(coordinates).reshape(3, 2)
    decoded = decode_landmarks(encode_landmarks(points, dtype=np.float64))
    assert decoded.is_face == 1.0
    assert list(decoded.points) == list(LANDMARK_NAMES)
    for name, point in zip(LANDMARK_NAMES, points, strict=True):
        assert decoded.points[name] == tuple(point)


def test_decode_landmarks_below_the_threshold_has_no_points():
    y_hat = np.array([[0.3, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    first, second = decode_landmarks(y_hat, threshold=0.5)
    assert first == Landmarks(is_face=pytest.approx(0.3), points=None)
    assert second.points["chin_tip"] == (0.5, 0.6)


@pytest.mark.parametrize(
    "points, match",
    [
        (np.zeros((2, 2)), r"points must have shape \(3, 2\)"),
        (np.zeros(6), r"points must have shape \(3, 2\)"),
        (np.array([[0.1, 0.2], [0.3, 1.2], [0.5, 0.6]]), r"points must lie in \[0, 1\]"),
    ],
)
def test_encode_landmarks_rejects_bad_points(points, match):
    with pytest.raises(ValueError, match=match):
        encode_landmarks(points)


def test_decode_landmarks_rejects_other_widths():
    with pytest.raises(ValueError, match=r"y_hat must have shape \(7,\) or \(N, 7\)"):
        decode_landmarks(np.zeros(8))


# --- checks of whole batches of targets ------------------------------------------------------


@given(localization_targets(num_classes=3, junk_when_empty=True))
def test_valid_localization_targets_pass_whatever_empty_rows_hold(y):
    assert check_localization_targets(y, 3) is y


@given(landmark_targets(junk_when_empty=True))
def test_valid_landmark_targets_pass_whatever_empty_rows_hold(y):
    assert check_landmark_targets(y, 3) is y


def test_the_generated_datasets_speak_this_format():
    _, scene_targets = localization_dataset(12, seed=3)
    _, face_targets = landmark_dataset(12, seed=3)
    check_localization_targets(scene_targets, num_classes=scene_targets.shape[1] - 5)
    check_landmark_targets(face_targets, num_landmarks=len(LANDMARK_NAMES))


def test_decoded_vectors_print_four_significant_digits():
    y_hat = np.array([0.93123456, 0.5123456, 0.4, 0.3, 0.2, 0.1, 0.8, 0.1], dtype=np.float32)
    decoded = decode_localization(y_hat, 3)
    assert repr(decoded) == "Localization(p_c=0.9312, label=1, box=(0.5123, 0.4, 0.3, 0.2))"
    assert decoded.p_c == float(np.float32(0.93123456))  # the value keeps every digit


@pytest.mark.parametrize("num_classes", [10**10, 2**63, 2**64, 10**30])
def test_a_num_classes_this_machine_cannot_hold_is_refused_by_name(num_classes):
    # counted before allocating: never numpy's raw MemoryError or "Maximum allowed dimension"
    with pytest.raises(ValueError, match=r"^num_classes is too large: 1 localization vector of 5 "):
        encode_localization(0, [0.5, 0.5, 0.2, 0.3], num_classes)
    labels, boxes = np.array([0, 1, -1]), np.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=r"^num_classes is too large: 3 localization vectors"):
        encode_localization_batch(labels, boxes, num_classes)


def test_the_bound_on_num_classes_is_this_machine_s_memory(monkeypatch):
    import tracemalloc

    from tinycnn import checks

    monkeypatch.setattr(checks, "memory_bytes", lambda: 10**6)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"num_classes is too large: .* 1.0 MB"):
            encode_localization(0, [0.5, 0.5, 0.2, 0.3], 250_000)
        with pytest.raises(ValueError, match=r"num_classes is too large: .* 2.0 MB"):
            encode_localization_batch(np.array([0, -1]), np.full((2, 4), 0.5), 250_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10**5
    assert encode_localization(0, [0.5, 0.5, 0.2, 0.3], 1000).shape == (1005,)


# --- hostile arguments (audit4 LOW bag) ---------------------------------------------------------


def test_encoders_refuse_complex_numbers_rather_than_drop_their_imaginary_part():
    """numpy casts a complex array to floats with only a warning: 0.3+1j would become 0.3."""
    box = np.array([0.5, 0.5, 0.2, 0.3 + 1j])
    with pytest.raises(TypeError, match=r"^box must be .*complex"):
        encode_localization(1, box, num_classes=3)
    with pytest.raises(TypeError, match=r"^boxes must be .*complex"):
        encode_localization_batch(np.array([1]), box[None], num_classes=3)
    points = np.array([[0.4, 0.5], [0.6, 0.5], [0.5, 0.8 + 1j]])
    with pytest.raises(TypeError, match=r"^points must be .*complex"):
        encode_landmarks(points)


@pytest.mark.parametrize(
    "points", ["abc", {"left_mouth_corner": (0.4, 0.5)}, b"x", [[0.4, "a"]] * 3]
)
def test_encode_landmarks_names_points_when_they_are_not_numbers(points):
    with pytest.raises(TypeError, match=r"^points must be \(3, 2\) numbers"):
        encode_landmarks(points)


@pytest.mark.parametrize(
    "boxes, error",
    [(np.array(1.0), ValueError), (np.ones((2, 3)) / 2, ValueError), (None, TypeError)],
)
def test_valid_boxes_names_boxes_that_are_not_rows_of_four(boxes, error):
    with pytest.raises(error, match=r"^boxes must"):
        valid_boxes(boxes)


@given(width=st.one_of(st.text(max_size=3), st.integers(-3, 0), st.floats(), st.none()))
def test_check_predictions_names_a_bad_width(width):
    y_hat = np.zeros((2, 8))
    if width is None:  # any width
        assert check_predictions(y_hat, width) is y_hat
        return
    error = ValueError if isinstance(width, int) else TypeError
    with pytest.raises(error, match=r"^width must be a positive integer"):
        check_predictions(y_hat, width)


@pytest.mark.parametrize("finite", ["no", 0, None])
def test_check_predictions_wants_finite_true_or_false(finite):
    with pytest.raises(TypeError, match=r"^finite must be True or False"):
        check_predictions(np.zeros((2, 8)), 8, finite=finite)


@pytest.mark.parametrize(
    "classes",
    [None, "abc", 3, [[0, 1]], np.eye(2, dtype=bool), np.full((2, 2), "1"), np.eye(2) * 1j],
)
def test_one_hot_rows_names_classes_that_are_no_array_of_numbers(classes):
    """None and lists ended in numpy's AxisError; strings and bools compared as no numbers do."""
    with pytest.raises(TypeError, match=r"^classes must be a numpy array of numbers \(N, K\)"):
        one_hot_rows(classes)


def test_one_hot_rows_wants_a_batch_of_rows():
    with pytest.raises(ValueError, match=r"^classes must be a numpy array \(N, K\), got shape"):
        one_hot_rows(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(one_hot_rows(np.array([[0, 1], [1, 1]])), [True, False])


def test_encode_localization_batch_names_ragged_labels():
    """numpy's ValueError ("inhomogeneous shape") named no argument."""
    with pytest.raises(TypeError, match=r"^labels must be an array of numbers, got a list"):
        encode_localization_batch([[0], [1, 2]], np.full((2, 4), 0.5), num_classes=3)
