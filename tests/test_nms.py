"""Tests for tinycnn.boxes.non_max_suppression: the lecture's greedy rule, per class with labels."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.boxes import iou, iou_matrix, non_max_suppression

from strategies import centre_boxes

pytestmark = pytest.mark.filterwarnings("error")


@st.composite
def scored_boxes(draw, max_boxes=12):
    """boxes (M, 4), scores (M,) with repeats likely (ties), labels (M,) in 0..2."""
    count = draw(st.integers(0, max_boxes))
    boxes = np.array([draw(centre_boxes(min_size=0.05)) for _ in range(count)]).reshape(-1, 4)
    scores = np.array(
        draw(
            st.lists(
                st.sampled_from([0.3, 0.6, 0.7, 0.9, 1.0]) | st.floats(0, 1),
                min_size=count,
                max_size=count,
            )
        )
    )
    labels = np.array(
        draw(st.lists(st.integers(0, 2), min_size=count, max_size=count)), dtype=np.int64
    )
    return boxes, scores, labels


def greedy_by_the_slide(boxes, scores, iou_threshold, score_threshold, labels):
    """The lecture's loop written out plainly, one Python step at a time."""
    remaining = [index for index in range(len(boxes)) if scores[index] >= score_threshold]
    kept = []
    while remaining:
        best = max(remaining, key=lambda index: (scores[index], -index))
        kept.append(best)
        remaining = [
            index
            for index in remaining
            if index != best
            and not (
                labels[index] == labels[best] and iou(boxes[index], boxes[best]) > iou_threshold
            )
        ]
    return kept


@given(scored_boxes(), st.floats(0, 1), st.floats(0, 1))
def test_nms_follows_the_lecture_loop(data, iou_threshold, score_threshold):
    boxes, scores, labels = data
    for with_labels in (None, labels):
        kept = non_max_suppression(boxes, scores, iou_threshold, score_threshold, with_labels)
        expected = greedy_by_the_slide(
            boxes,
            scores,
            iou_threshold,
            score_threshold,
            np.zeros(len(boxes)) if with_labels is None else labels,
        )
        assert kept.dtype == np.int64
        assert kept.tolist() == expected


def nms_with_the_full_matrix(boxes, scores, iou_threshold, score_threshold, labels):
    """The earlier implementation, kept as the reference: every pair's IoU in one (M, M) matrix
    up front (O(M²) memory), then the greedy pass over it."""
    candidates = np.flatnonzero(scores >= score_threshold)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
    if not len(candidates):
        return []
    overlaps = iou_matrix(boxes[candidates], boxes[candidates])
    same_label = labels[candidates][:, None] == labels[candidates][None, :]
    suppressed = np.zeros(len(candidates), dtype=bool)
    kept = []
    for position in range(len(candidates)):
        if suppressed[position]:
            continue
        kept.append(int(candidates[position]))
        suppressed |= same_label[position] & (overlaps[position] > iou_threshold)
    return kept


@st.composite
def crowded_boxes(draw, max_boxes=40):
    """Many boxes drawn from a few, so that exact duplicates (IoU exactly 1), equal scores and
    IoUs exactly at a threshold of 0 or 1 all occur; labels in 0..2 or all one."""
    pool = np.array([draw(centre_boxes(min_size=0.05)) for _ in range(draw(st.integers(1, 6)))])
    count = draw(st.integers(0, max_boxes))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=count, max_size=count))
    scores = draw(
        st.lists(st.sampled_from([0.5, 0.7, 0.9]) | st.floats(0, 1), min_size=count, max_size=count)
    )
    labels = draw(st.lists(st.integers(0, 2), min_size=count, max_size=count))
    return pool[picks].reshape(-1, 4), np.array(scores), np.array(labels, dtype=np.int64)


@given(
    scored_boxes(max_boxes=30) | crowded_boxes(),
    st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0, 1),
    st.sampled_from([0.0, 0.5, 0.7]) | st.floats(0, 1),
    st.booleans(),
)
def test_nms_keeps_what_the_full_matrix_version_kept(
    data, iou_threshold, score_threshold, by_label
):
    boxes, scores, labels = data
    labels = labels if by_label else np.zeros(len(boxes), dtype=np.int64)
    kept = non_max_suppression(boxes, scores, iou_threshold, score_threshold, labels)
    assert kept.tolist() == nms_with_the_full_matrix(
        boxes, scores, iou_threshold, score_threshold, labels
    )


def test_nms_memory_grows_with_the_boxes_not_their_square():
    # 2,000 boxes: the (M, M) matrix of IoUs and its temporaries took about 160 MB; one row of
    # IoUs at a time is a few hundred kB.
    import tracemalloc

    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(0, 1, (2000, 2)), rng.uniform(0.01, 0.1, (2000, 2))], 1)
    scores = rng.uniform(0, 1, 2000)
    tracemalloc.start()
    try:
        non_max_suppression(boxes, scores, 0.5, 0.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5e6


def test_an_empty_list_of_boxes_means_no_boxes():
    for empty in ([], (), np.zeros(0), np.zeros((0, 4))):
        kept = non_max_suppression(empty, [])
        assert kept.dtype == np.int64 and kept.shape == (0,)
        assert non_max_suppression(empty, [], labels=[]).shape == (0,)


@given(scored_boxes(), st.floats(0, 1))
def test_nms_properties(data, iou_threshold):
    boxes, scores, labels = data
    kept = non_max_suppression(boxes, scores, iou_threshold, 0.5, labels)
    # Highest score first, ties by index; every kept box passed the score threshold.
    order = [(-scores[index], index) for index in kept]
    assert order == sorted(order)
    assert np.all(scores[kept] >= 0.5)
    # No two kept boxes of one label overlap by more than the threshold.
    for a in kept:
        for b in kept:
            if a != b and labels[a] == labels[b]:
                assert iou(boxes[a], boxes[b]) <= iou_threshold
    # Each dropped candidate was suppressed by a kept box of its label scoring at least as high.
    for index in np.flatnonzero(scores >= 0.5):
        if index not in kept:
            assert any(
                labels[k] == labels[index]
                and scores[k] >= scores[index]
                and iou(boxes[k], boxes[index]) > iou_threshold
                for k in kept
            )


@given(scored_boxes())
def test_nms_with_labels_is_nms_once_per_class(data):
    boxes, scores, labels = data
    kept = set(non_max_suppression(boxes, scores, 0.5, 0.2, labels).tolist())
    per_class = set()
    for label in range(3):
        members = np.flatnonzero(labels == label)
        chosen = non_max_suppression(boxes[members], scores[members], 0.5, 0.2)
        per_class |= set(members[chosen].tolist())
    assert kept == per_class


def test_nms_on_the_lecture_example():
    # Three boxes around one car and two around another: one box per car survives.
    boxes = np.array(
        [
            [0.30, 0.5, 0.3, 0.4],
            [0.32, 0.5, 0.3, 0.4],
            [0.28, 0.52, 0.32, 0.4],
            [0.75, 0.5, 0.3, 0.3],
            [0.76, 0.49, 0.3, 0.32],
        ]
    )
    scores = np.array([0.9, 0.6, 0.7, 0.8, 0.7])
    np.testing.assert_array_equal(non_max_suppression(boxes, scores), [0, 3])
    np.testing.assert_array_equal(non_max_suppression(boxes, scores, score_threshold=0.95), [])


def test_nms_keeps_equal_scores_in_index_order():
    boxes = np.array([[0.2, 0.2, 0.1, 0.1], [0.8, 0.8, 0.1, 0.1], [0.2, 0.2, 0.1, 0.1]])
    np.testing.assert_array_equal(non_max_suppression(boxes, np.ones(3)), [0, 1])


def test_nms_keeps_overlapping_boxes_of_different_labels():
    boxes = np.array([[0.5, 0.5, 0.4, 0.2], [0.5, 0.5, 0.35, 0.3]])  # pedestrian before a car
    scores = np.array([0.9, 0.8])
    np.testing.assert_array_equal(non_max_suppression(boxes, scores), [0])
    np.testing.assert_array_equal(non_max_suppression(boxes, scores, labels=[0, 1]), [0, 1])


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (dict(boxes=np.zeros((2, 3))), ValueError, r"boxes must have shape \(M, 4\)"),
        (dict(boxes=np.zeros(4)), ValueError, r"boxes must have shape \(M, 4\), one row per box"),
        (
            dict(boxes=[[0.5, 0.5, -0.2, 0.1], [0.5] * 4]),
            ValueError,
            "^boxes must have b_h, b_w >= 0",
        ),
        (dict(boxes=[[0.5, 0.5, 0.1, np.nan], [0.5] * 4]), ValueError, "^boxes must be finite"),
        (dict(scores=np.ones(3)), ValueError, r"scores must have shape \(2,\)"),
        (dict(scores=np.array([1.0, np.nan])), ValueError, "scores must be finite"),
        (dict(boxes=[[np.nan, 0.5, 0.1, 0.1], [0.5] * 4]), ValueError, "^boxes must be finite"),
        (dict(boxes=[[np.inf, 0.5, 0.1, 0.1], [0.5] * 4]), ValueError, "^boxes must be finite"),
        (dict(boxes=np.full((2, 4), True)), TypeError, "^boxes must be an array of numbers"),
        (dict(labels=[True, False]), TypeError, "labels must be integers"),
        (dict(iou_threshold=1.5), ValueError, r"iou_threshold must be a number in \[0, 1\]"),
        (dict(score_threshold="high"), TypeError, "score_threshold must be a real number"),
        (dict(labels=np.array([0.0, 1.0])), TypeError, "labels must be integers"),
        (dict(labels=np.array([0, 1, 2])), ValueError, r"labels must have shape \(2,\)"),
    ],
)
def test_nms_rejects_bad_arguments(arguments, error, message):
    call = dict(boxes=np.full((2, 4), 0.5), scores=np.ones(2)) | arguments
    with pytest.raises(error, match=message):
        non_max_suppression(**call)


def test_boxes_with_a_negative_size_are_refused_not_kept_twice():
    """The audit's sample: two copies of a box with negative sizes had IoU 0, so both were kept."""
    boxes = np.array([[0.5, 0.5, -0.2, -0.2]] * 2)
    with pytest.raises(ValueError, match=r"^boxes must have b_h, b_w >= 0 .*clip_sizes"):
        non_max_suppression(boxes, np.array([0.9, 0.8]))


def test_boxes_without_area_suppress_nothing():
    """A zero-size box overlaps nothing (IoU 0, tinycnn.boxes.iou), so no box suppresses it and
    it suppresses none: two copies of it are both kept, as a box of area 0 is no object."""
    point = [0.5, 0.5, 0.0, 0.0]
    boxes = np.array([point, point, [0.5, 0.5, 0.2, 0.2]])
    np.testing.assert_array_equal(non_max_suppression(boxes, np.array([0.9, 0.8, 0.7])), [0, 1, 2])
