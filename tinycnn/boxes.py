"""Box geometry: the lecture's centre format, corners, and intersection over union.

A box is four numbers on the last axis, in the lecture's centre format

    [b_x, b_y, b_h, b_w]     (note: height before width)

as fractions of the image, with (0, 0) at the top left. Drawing and overlap are easier with
corners, [x_min, y_min, x_max, y_max]; the two conversions below go back and forth. Then the
lecture's non-max suppression, which keeps one box per object.
"""

import numpy as np

from tinycnn.checks import probability, real_number


def center_to_corners(boxes):
    """[b_x, b_y, b_h, b_w] -> [x_min, y_min, x_max, y_max] on the last axis of boxes (..., 4).

    x_min = b_x - b_w / 2    x_max = b_x + b_w / 2
    y_min = b_y - b_h / 2    y_max = b_y + b_h / 2
    """
    b_x, b_y, b_h, b_w = np.moveaxis(as_boxes(boxes), -1, 0)
    return np.stack([b_x - b_w / 2, b_y - b_h / 2, b_x + b_w / 2, b_y + b_h / 2], axis=-1)


def corners_to_center(boxes):
    """[x_min, y_min, x_max, y_max] -> [b_x, b_y, b_h, b_w] on the last axis of boxes (..., 4).

    b_x = (x_min + x_max) / 2    b_h = y_max - y_min
    b_y = (y_min + y_max) / 2    b_w = x_max - x_min
    """
    x_min, y_min, x_max, y_max = np.moveaxis(as_boxes(boxes), -1, 0)
    return np.stack(
        [(x_min + x_max) / 2, (y_min + y_max) / 2, y_max - y_min, x_max - x_min], axis=-1
    )


def iou(boxes_a, boxes_b):
    """Intersection over union of centre-format boxes (..., 4), elementwise with broadcasting.

        IoU(A, B) = area(A ∩ B) / area(A ∪ B)
        area(A ∪ B) = area(A) + area(B) - area(A ∩ B)

    Returns (...,) in [0, 1], or a float for two single boxes. Boxes that only touch share no area
    and score 0; so does a box without area (b_h <= 0 or b_w <= 0), against anything.
    """
    corners_a = _finite_corners(boxes_a, "boxes_a")
    corners_b = _finite_corners(boxes_b, "boxes_b")
    try:
        np.broadcast_shapes(corners_a.shape, corners_b.shape)
    except ValueError:
        raise ValueError(
            f"boxes_a {corners_a.shape} and boxes_b {corners_b.shape} must broadcast "
            "against each other"
        ) from None
    ratio = _corner_iou(corners_a, corners_b)
    return ratio if ratio.ndim else float(ratio)


def iou_matrix(boxes_a, boxes_b):
    """Every pair's IoU: boxes_a (N, 4) and boxes_b (M, 4) -> (N, M), entry [i, j] = IoU(a_i, b_j).

    The same formula as `iou`, broadcast over a new axis: a (N, 1, 4) against b (1, M, 4).
    """
    corners_a = _finite_corners(boxes_a, "boxes_a")
    corners_b = _finite_corners(boxes_b, "boxes_b")
    for name, corners in (("boxes_a", corners_a), ("boxes_b", corners_b)):
        if corners.ndim != 2:
            raise ValueError(f"{name} must have shape (N, 4), got {corners.shape}")
    return _corner_iou(corners_a[:, None, :], corners_b[None, :, :])


def as_boxes(boxes, name="boxes", ndim=None):
    """boxes as a float array of shape (..., 4), or (M, 4) with ndim=2; TypeError or ValueError
    naming `name` if not.

    An empty sequence (`[]`, or any array of size 0 and one axis) means "no boxes": (0, 4).
    """
    boxes = np.asarray(boxes)
    if boxes.ndim == 1 and boxes.size == 0:
        boxes = np.zeros((0, 4))
    if not (np.issubdtype(boxes.dtype, np.floating) or np.issubdtype(boxes.dtype, np.integer)):
        raise TypeError(f"{name} must be an array of numbers, got dtype {boxes.dtype}")
    if boxes.ndim == 0 or boxes.shape[-1] != 4 or (ndim is not None and boxes.ndim != ndim):
        layout = "(M, 4), one row per box" if ndim == 2 else "(..., 4)"
        raise ValueError(f"{name} must have shape {layout}, got {boxes.shape}")
    return boxes if np.issubdtype(boxes.dtype, np.floating) else boxes.astype(np.float64)


def _finite_corners(boxes, name):
    corners = center_to_corners(as_boxes(boxes, name))
    if not np.all(np.isfinite(corners)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return corners


def _corner_iou(corners_a, corners_b):
    """IoU of corner-format boxes that broadcast against each other."""
    x_min_a, y_min_a, x_max_a, y_max_a = np.moveaxis(corners_a, -1, 0)
    x_min_b, y_min_b, x_max_b, y_max_b = np.moveaxis(corners_b, -1, 0)
    overlap_width = _length(np.maximum(x_min_a, x_min_b), np.minimum(x_max_a, x_max_b))
    overlap_height = _length(np.maximum(y_min_a, y_min_b), np.minimum(y_max_a, y_max_b))
    intersection = overlap_width * overlap_height
    area_a = _length(x_min_a, x_max_a) * _length(y_min_a, y_max_a)
    area_b = _length(x_min_b, x_max_b) * _length(y_min_b, y_max_b)
    union = area_a + area_b - intersection
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)


def _length(start, end):
    """A side's length, 0 where it is empty (end <= start)."""
    return np.maximum(end - start, 0.0)


def non_max_suppression(boxes, scores, iou_threshold=0.5, score_threshold=0.6, labels=None):
    """The lecture's non-max suppression: which of several boxes for one object to keep.

        1. drop every box whose score is below score_threshold;
        2. while boxes remain: keep the one with the highest score, and discard the remaining
           boxes whose IoU with it is above iou_threshold.

    boxes (M, 4) in centre format, scores (M,). With labels (M,) ints, boxes only suppress boxes
    of their own label: the same as running it once per class. Returns the indices (int64) of the
    kept boxes, highest score first; equal scores keep the lower index first. Empty lists (`[]`)
    mean no boxes, and give no indices.

    Each round computes only the IoU of the box it keeps against the boxes still in the running,
    so memory grows with M, not M²: the full (M, M) matrix of IoUs that an earlier version built
    took 657 MB for 4,000 boxes and 4.1 GB for 10,000, this loop 0.6 MB and 1.4 MB (tracemalloc
    peaks; random boxes of 3 labels). It is also faster, as suppressed boxes leave the running.
    Medians of 5, side by side, on AMD EPYC (Zen 4, family 25), a shared machine:

        boxes     most kept (small boxes)    most suppressed (large boxes)
        4,000     0.43 s -> 0.34 s           0.51 s -> 0.16 s
        10,000    9.4 s  -> 1.8 s            6.6 s  -> 0.28 s
    """
    boxes = as_boxes(boxes)
    if boxes.ndim != 2:
        raise ValueError(f"boxes must have shape (M, 4), got {boxes.shape}")
    corners = center_to_corners(boxes)
    if not np.all(np.isfinite(corners)):
        raise ValueError("boxes must be finite (no NaN or inf)")
    scores = _per_box(scores, "scores", len(boxes))
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite (no NaN or inf)")
    iou_threshold = probability(iou_threshold, "iou_threshold")
    score_threshold = real_number(score_threshold, "score_threshold")
    labels = np.zeros(len(boxes), dtype=np.int64) if labels is None else _labels(labels, boxes)
    remaining = np.flatnonzero(scores >= score_threshold)
    # A stable sort on -score: the highest score first, and equal scores in index order.
    remaining = remaining[np.argsort(-scores[remaining], kind="stable")]
    kept = []
    while len(remaining):
        best, others = remaining[0], remaining[1:]
        kept.append(best)
        overlaps = _corner_iou(corners[best], corners[others])
        suppressed = (labels[others] == labels[best]) & (overlaps > iou_threshold)
        remaining = others[~suppressed]
    return np.array(kept, dtype=np.int64)


def _per_box(values, name, count):
    values = np.asarray(values)
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise TypeError(f"{name} must be an array of numbers, got dtype {values.dtype}")
    if values.shape != (count,):
        raise ValueError(f"{name} must have shape ({count},), one per box, got {values.shape}")
    return values.astype(np.float64)


def _labels(labels, boxes):
    labels = np.asarray(labels)
    if labels.shape == (0,):
        labels = labels.astype(np.int64)  # [] is float64 to numpy, but holds no wrong label
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (len(boxes),):
        raise ValueError(f"labels must have shape ({len(boxes)},), one per box, got {labels.shape}")
    return labels
