"""Tests for tinycnn.boxes: the centre and corner formats, IoU and the IoU matrix."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.boxes import (
    as_boxes,
    center_to_corners,
    clip_sizes,
    corners_to_center,
    iou,
    iou_matrix,
    non_max_suppression,
)

from strategies import GRID, centre_boxes, grid_boxes

pytestmark = pytest.mark.filterwarnings("error")


# --- box formats -----------------------------------------------------------------------------


def test_center_to_corners_on_one_box():
    b_x, b_y, b_h, b_w = 0.5, 0.25, 0.25, 0.5
    corners = center_to_corners(np.array([b_x, b_y, b_h, b_w]))
    np.testing.assert_array_equal(
        corners, [b_x - b_w / 2, b_y - b_h / 2, b_x + b_w / 2, b_y + b_h / 2]
    )


@given(st.lists(st.tuples(centre_boxes(), centre_boxes()), min_size=1, max_size=3))
def test_center_and_corners_round_trip(pairs_of_boxes):
    boxes = np.array(pairs_of_boxes)  # (n, 2, 4): conversions work on any leading shape
    corners = center_to_corners(boxes)
    assert corners.shape == boxes.shape
    np.testing.assert_allclose(corners_to_center(corners), boxes, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        center_to_corners(corners_to_center(corners)), corners, rtol=0, atol=1e-12
    )


@given(grid_boxes())
def test_corner_differences_give_back_the_sizes_exactly_on_the_grid(box):
    x_min, y_min, x_max, y_max = center_to_corners(box)
    assert x_max - x_min == box[3] and y_max - y_min == box[2]


def test_box_formats_keep_float32():
    assert center_to_corners(np.full(4, 0.5, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("convert", [center_to_corners, corners_to_center])
def test_box_formats_reject_other_shapes(convert):
    with pytest.raises(ValueError, match=r"boxes must have shape \(\.\.\., 4\), got \(2, 3\)"):
        convert(np.zeros((2, 3)))


# --- IoU -------------------------------------------------------------------------------------


def iou_one_pair(box_a, box_b):
    """IoU of two centre boxes with plain Python arithmetic, from their corners."""
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = center_to_corners(box_a), center_to_corners(box_b)
    overlap = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - overlap
    return overlap / union


def test_iou_of_two_squares_overlapping_by_a_quarter():
    # Squares of side 1/2, the second shifted by 1/4 in x and y: overlap (1/4)², union 2 (1/2)²
    # minus the overlap.
    first, second = np.array([0.25, 0.25, 0.5, 0.5]), np.array([0.5, 0.5, 0.5, 0.5])
    overlap = 0.25 * 0.25
    assert iou(first, second) == pytest.approx(overlap / (2 * 0.5 * 0.5 - overlap), rel=1e-15)


@given(centre_boxes(), centre_boxes())
def test_iou_matches_the_plain_computation(box_a, box_b):
    assert iou(box_a, box_b) == pytest.approx(iou_one_pair(box_a, box_b), rel=1e-12, abs=1e-15)


@given(centre_boxes(), centre_boxes())
def test_iou_is_symmetric_and_between_0_and_1(box_a, box_b):
    value = iou(box_a, box_b)
    assert value == iou(box_b, box_a)
    assert 0 <= value <= 1


@given(centre_boxes())
def test_iou_of_a_box_with_itself_is_1(box):
    assert iou(box, box) == 1


@given(grid_boxes(), st.data())
def test_boxes_that_only_touch_score_0(box, data):
    x_min, y_min, x_max, y_max = center_to_corners(box)
    side = data.draw(st.sampled_from(["left", "right", "above", "below"]))
    width, height = data.draw(st.integers(1, GRID)) / GRID, data.draw(st.integers(1, GRID)) / GRID
    b_x = {"left": x_min - width / 2, "right": x_max + width / 2}.get(side, box[0])
    b_y = {"above": y_min - height / 2, "below": y_max + height / 2}.get(side, box[1])
    neighbour = np.array([b_x, b_y, height, width])  # shares an edge (or part of one) with box
    assert iou(box, neighbour) == 0


@pytest.mark.parametrize(
    "degenerate",
    [[0.5, 0.5, 0.0, 0.2], [0.5, 0.5, 0.2, 0.0], [0.5, 0.5, 0.0, 0.0]],
)
def test_boxes_without_area_score_0_not_nan(degenerate):
    """0 / 0 for two boxes without area counts as 0, with itself too (pycocotools' rule)."""
    degenerate = np.array(degenerate)
    assert iou(degenerate, degenerate) == 0
    assert iou(degenerate, np.array([0.5, 0.5, 0.5, 0.5])) == 0
    np.testing.assert_array_equal(iou_matrix(degenerate[None], degenerate[None]), [[0.0]])


@given(
    st.lists(centre_boxes(), min_size=1, max_size=4),
    st.lists(centre_boxes(), min_size=1, max_size=3),
)
def test_iou_broadcasts_like_numpy(boxes_a, boxes_b):
    boxes_a, boxes_b = np.array(boxes_a), np.array(boxes_b)
    table = iou(boxes_a[:, None], boxes_b[None, :])
    assert table.shape == (len(boxes_a), len(boxes_b))
    for i, box_a in enumerate(boxes_a):
        for j, box_b in enumerate(boxes_b):
            assert table[i, j] == iou(box_a, box_b)


@pytest.mark.parametrize(
    "boxes_a, boxes_b, match",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), r"boxes_a must have shape \(\.\.\., 4\)"),
        (
            np.zeros((2, 4)),
            np.zeros((3, 4)),
            r"boxes_a \(2, 4\) and boxes_b \(3, 4\) must broadcast",
        ),
        (np.full(4, np.nan), np.zeros(4), "boxes_a must be finite"),
    ],
)
def test_iou_rejects_bad_boxes(boxes_a, boxes_b, match):
    with pytest.raises(ValueError, match=match):
        iou(boxes_a, boxes_b)


@given(st.lists(centre_boxes(), max_size=4), st.lists(centre_boxes(), max_size=3))
def test_iou_matrix_is_every_pair(boxes_a, boxes_b):
    boxes_a, boxes_b = np.array(boxes_a).reshape(-1, 4), np.array(boxes_b).reshape(-1, 4)
    table = iou_matrix(boxes_a, boxes_b)
    assert table.shape == (len(boxes_a), len(boxes_b))
    for i, box_a in enumerate(boxes_a):
        for j, box_b in enumerate(boxes_b):
            assert table[i, j] == iou(box_a, box_b)


def test_iou_matrix_wants_two_lists_of_boxes():
    with pytest.raises(ValueError, match=r"boxes_b must have shape \(M, 4\), one row per box"):
        iou_matrix(np.zeros((2, 4)), np.zeros(4))


def test_an_empty_list_of_boxes_means_no_boxes():
    boxes = np.array([[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1]])
    assert as_boxes([]).shape == (0, 4)
    assert center_to_corners([]).shape == (0, 4)
    assert iou_matrix(boxes, []).shape == (2, 0)
    assert iou_matrix([], boxes).shape == (0, 2)


def test_as_boxes_can_ask_for_a_list_of_boxes():
    with pytest.raises(
        ValueError, match=r"found must have shape \(M, 4\), one row per box, got \(4,\)"
    ):
        as_boxes(np.ones(4), "found", ndim=2)
    with pytest.raises(ValueError, match=r"found must have shape \(M, 4\), one row per box"):
        as_boxes(np.ones(8), "found", ndim=2)
    assert as_boxes(np.ones((3, 4)), "found", ndim=2).shape == (3, 4)


def test_as_boxes_names_a_bad_ndim():
    for ndim, error in (("abc", TypeError), (0, ValueError), (-1, ValueError), (2.0, TypeError)):
        with pytest.raises(error, match="^ndim must be a positive integer"):
            as_boxes(np.ones((3, 4)), "found", ndim=ndim)


# --- sizes: the audit's K14 --------------------------------------------------------------------


@st.composite
def boxes_with_a_negative_size(draw):
    """(M, 4) boxes, M >= 1, of which one has b_h or b_w (or both) below 0."""
    boxes = np.array(draw(st.lists(centre_boxes(), min_size=1, max_size=4)))
    row, columns = draw(st.integers(0, len(boxes) - 1)), draw(st.sampled_from([[2], [3], [2, 3]]))
    boxes[row, columns] = -draw(st.floats(1e-12, 10))
    return boxes


CENTRE_BOX_FUNCTIONS = {
    "center_to_corners": (lambda boxes: center_to_corners(boxes), "boxes"),
    "as_boxes": (lambda boxes: as_boxes(boxes), "boxes"),
    "iou(a, .)": (lambda boxes: iou(boxes, boxes[:1]), "boxes_a"),
    "iou(., b)": (lambda boxes: iou(np.full(4, 0.5), boxes), "boxes_b"),
    "iou_matrix(a, .)": (lambda boxes: iou_matrix(boxes, np.full((2, 4), 0.5)), "boxes_a"),
    "iou_matrix(., b)": (lambda boxes: iou_matrix(np.full((2, 4), 0.5), boxes), "boxes_b"),
    "non_max_suppression": (lambda boxes: non_max_suppression(boxes, np.ones(len(boxes))), "boxes"),
}


@given(boxes_with_a_negative_size(), st.sampled_from(sorted(CENTRE_BOX_FUNCTIONS)))
def test_every_function_of_centre_boxes_refuses_a_negative_size(boxes, function):
    call, name = CENTRE_BOX_FUNCTIONS[function]
    with pytest.raises(ValueError, match=rf"^{name} must have b_h, b_w >= 0 .*found \["):
        call(boxes)


@given(boxes_with_a_negative_size(), st.sampled_from(sorted(CENTRE_BOX_FUNCTIONS)))
def test_every_function_of_centre_boxes_refuses_a_nan_size(boxes, function):
    call, name = CENTRE_BOX_FUNCTIONS[function]
    boxes = np.abs(boxes)
    boxes[0, 3] = np.nan
    if function == "as_boxes":  # types and sizes only: NaN is for its caller to judge
        assert np.isnan(as_boxes(boxes)[0, 3])
        return
    with pytest.raises(ValueError, match=rf"^{name} must be finite"):
        call(boxes)


def test_the_audit_samples_of_negative_sizes():
    """IoU of a box with itself was 0, its corners came out with x_min > x_max."""
    box = np.array([0.5, 0.5, -0.2, -0.2])
    with pytest.raises(ValueError, match=r"^boxes_a must have b_h, b_w >= 0"):
        iou(box, box)
    with pytest.raises(ValueError, match=r"^boxes must have b_h, b_w >= 0"):
        center_to_corners(box)


@given(st.lists(centre_boxes(), min_size=1, max_size=4), st.data())
def test_corners_to_center_refuses_inverted_corners(boxes, data):
    corners = center_to_corners(np.array(boxes))
    row = data.draw(st.integers(0, len(corners) - 1))
    axis = data.draw(st.sampled_from([0, 1]))  # swap x_min, x_max or y_min, y_max
    corners[row, [axis, axis + 2]] = corners[row, [axis + 2, axis]]
    if corners[row, axis] == corners[row, axis + 2]:
        corners[row, axis] += 1e-3
    with pytest.raises(ValueError, match=r"^boxes must be corners .* with x_min <= x_max"):
        corners_to_center(corners)
    corners[row, 0] = np.nan
    with pytest.raises(ValueError, match="^boxes must be finite"):
        corners_to_center(corners)


@given(boxes_with_a_negative_size())
def test_clip_sizes_reads_a_negative_size_as_a_box_without_area(boxes):
    clipped = clip_sizes(boxes)
    assert clipped is not boxes and np.all(clipped[:, 2:] >= 0)
    np.testing.assert_array_equal(clipped[:, :2], boxes[:, :2])
    np.testing.assert_array_equal(clipped[:, 2:], np.maximum(boxes[:, 2:], 0))
    negative = np.any(boxes[:, 2:] < 0, axis=1)
    np.testing.assert_array_equal(iou(clipped, boxes.clip(0))[negative], 0.0)


def test_a_regression_predicting_a_negative_size_is_still_measured():
    """The metrics read model.predict's boxes through clip_sizes: a negative size scores IoU 0
    (an untrained localizer's box outputs are as often negative as not)."""
    y_true = np.array([[1, 0.5, 0.5, 0.2, 0.2, 1, 0, 0], [1, 0.3, 0.3, 0.2, 0.2, 0, 1, 0]])
    y_pred = y_true.copy()
    y_pred[1, 3] = -0.2
    assert tc.metrics.mean_iou(y_pred, y_true) == 0.5
    assert tc.metrics.correct_localization_rate(y_pred, y_true) == 0.5


RAGGED = [[0.5, 0.5, 0.2, 0.2], [0.1, 0.2]]
RAGGED_CALLS = {
    "as_boxes": (lambda: as_boxes(RAGGED), "boxes"),
    "iou": (lambda: iou(RAGGED, np.full(4, 0.5)), "boxes_a"),
    "iou_matrix": (lambda: iou_matrix(np.full((1, 4), 0.5), RAGGED), "boxes_b"),
    "non_max_suppression boxes": (lambda: non_max_suppression(RAGGED, [0.9, 0.8]), "boxes"),
    "non_max_suppression scores": (
        lambda: non_max_suppression(np.full((2, 4), 0.5), [[0.9], [0.8, 0.1]]),
        "scores",
    ),
    "non_max_suppression labels": (
        lambda: non_max_suppression(np.full((2, 4), 0.5), [0.9, 0.8], labels=[[0], [1, 2]]),
        "labels",
    ),
}


@pytest.mark.parametrize("call, name", RAGGED_CALLS.values(), ids=RAGGED_CALLS.keys())
def test_a_ragged_list_is_a_type_error_naming_the_argument(call, name):
    """numpy's ValueError ("inhomogeneous shape") named no argument."""
    with pytest.raises(TypeError, match=rf"^{name} must be an array of numbers, got a list"):
        call()
