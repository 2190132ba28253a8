"""Metrics: how good the predictions are, in numbers a person can read.

Every metric compares y_pred, in the lecture's format (model.predict's output: probabilities
for a model trained with a cross-entropy loss, the regressions themselves for one trained with
the lecture's squared loss), with the true targets y_true (see `tinycnn.targets`), both (N, D).
An image counts as detected when its predicted p_c (or is_face) is >= threshold, and its class is
the largest of the predicted c_1..c_K. A predicted box size below 0 (a regression can go there)
counts as an empty box, whose IoU with any box is 0. (Raw logits, `model.raw_output`, cannot be
told from regressions by their values: pass `model.predict`'s output.)

Most metrics only make sense on the images that truly hold an object (or a face): there is no box
to overlap in an empty image. Those metrics average over that subset, and when it is empty they
return nan on purpose, without a warning: "no images to judge" is not 0% and not 100%.

The detection metrics at the end (precision_recall_curve, average_precision,
mean_average_precision) compare per-image lists of boxes instead, as `tinycnn.detection.detect`
returns them, with the truth; `tinycnn.detection.check_per_image_boxes` checks both.
"""

import numpy as np

from tinycnn.boxes import clip_sizes, iou, iou_matrix
from tinycnn.checks import non_negative_int, positive_int, probability
from tinycnn.detection import check_per_image_boxes
from tinycnn.targets import (
    BOX,
    CLASSES,
    IS_FACE,
    P_C,
    POINTS,
    check_landmark_targets,
    check_localization_targets,
    check_predictions,
)


def pc_accuracy(y_pred, y_true, threshold=0.5):
    """Share of all images whose presence is called right: (p̂_c >= threshold) == (p_c = 1)."""
    y_pred, y_true = _localization_pair(y_pred, y_true)
    threshold = probability(threshold, "threshold")
    return _mean((y_pred[:, P_C] >= threshold) == (y_true[:, P_C] == 1))


def class_accuracy(y_pred, y_true):
    """Share of the images with an object whose class is the argmax of the predicted classes."""
    y_pred, y_true = _objects_only(*_localization_pair(y_pred, y_true))
    return _mean(_class_right(y_pred, y_true))


def mean_iou(y_pred, y_true):
    """Mean IoU of predicted and true box over the images with an object (whatever p̂_c says).
    A predicted negative size counts as a box without area (IoU 0): tinycnn.boxes.clip_sizes."""
    y_pred, y_true = _objects_only(*_localization_pair(y_pred, y_true))
    return _mean(iou(clip_sizes(y_pred[:, BOX]), y_true[:, BOX]))


def correct_localization_rate(y_pred, y_true, threshold=0.5, iou_threshold=0.5):
    """Share of the images with an object that are found, named and boxed right, all three:

        p̂_c >= threshold,
        argmax ĉ = true class,
        IoU(box̂, box) >= iou_threshold

    The strict reading on purpose: a well-placed box that the network itself calls "no object"
    would not be drawn, so it is not a correct localization.
    """
    threshold = probability(threshold, "threshold")
    iou_threshold = probability(iou_threshold, "iou_threshold")
    y_pred, y_true = _objects_only(*_localization_pair(y_pred, y_true))
    return _mean(
        (y_pred[:, P_C] >= threshold)
        & _class_right(y_pred, y_true)
        & (iou(clip_sizes(y_pred[:, BOX]), y_true[:, BOX]) >= iou_threshold)
    )


def localization_report(y_pred, y_true, threshold=0.5):
    """The four localization metrics in one dict (nan where no image truly holds an object)."""
    return {
        "pc_accuracy": pc_accuracy(y_pred, y_true, threshold),
        "class_accuracy": class_accuracy(y_pred, y_true),
        "mean_iou": mean_iou(y_pred, y_true),
        "correct_localization_rate": correct_localization_rate(y_pred, y_true, threshold),
    }


def is_face_accuracy(y_pred, y_true, threshold=0.5):
    """Share of all images whose face-or-not is called right: (predicted is_face >= threshold)
    == (is_face = 1)."""
    y_pred, y_true = _landmark_pair(y_pred, y_true)
    threshold = probability(threshold, "threshold")
    return _mean((y_pred[:, IS_FACE] >= threshold) == (y_true[:, IS_FACE] == 1))


def nme(y_pred, y_true, face_sizes):
    """Normalised mean error of the landmarks, over the images that truly hold a face:

        NME = mean over faces n of  (1/L) Σ_l ||p̂_nl - p_nl||₂ / s_n

    with p_nl the l-th point of face n and s_n its size (N,), as fractions of the image (the
    data's sqrt(width * height) of the face's box). Dividing by the size makes a 2-pixel miss on a
    small face count as much as a 4-pixel miss on one twice as large. Predicted is_face plays no
    part: this measures the points alone.
    """
    y_pred, y_true = _landmark_pair(y_pred, y_true)
    has_face = y_true[:, IS_FACE] == 1
    face_sizes = _check_face_sizes(face_sizes, has_face)[has_face]
    point_errors = y_pred[has_face, POINTS] - y_true[has_face, POINTS]
    num_landmarks = point_errors.shape[1] // 2
    distances = np.sqrt(np.sum(point_errors.reshape(-1, num_landmarks, 2) ** 2, axis=2))
    return _mean(np.mean(distances, axis=1) / face_sizes)


def landmark_report(y_pred, y_true, face_sizes, threshold=0.5):
    """is_face_accuracy and nme in one dict (nme is nan where no image truly holds a face)."""
    return {
        "is_face_accuracy": is_face_accuracy(y_pred, y_true, threshold),
        "nme": nme(y_pred, y_true, face_sizes),
    }


def _class_right(y_pred, y_true):
    return np.argmax(y_pred[:, CLASSES], axis=1) == np.argmax(y_true[:, CLASSES], axis=1)


def _mean(values):
    """Mean of values (n,) as a float; nan, without numpy's warning, when n = 0."""
    return float(np.mean(values)) if len(values) else float("nan")


def _objects_only(y_pred, y_true):
    """The rows of y_pred and y_true whose image truly holds an object."""
    has_object = y_true[:, P_C] == 1
    return y_pred[has_object], y_true[has_object]


def _localization_pair(y_pred, y_true):
    width = _width(y_pred, y_true, minimum=6, what="p_c, 4 box values and at least one class")
    check_localization_targets(y_true, width - 5, name="y_true")
    y_pred, y_true = _check_pair(y_pred, y_true, width)
    return y_pred, y_true


def _landmark_pair(y_pred, y_true):
    width = _width(y_pred, y_true, minimum=3, what="is_face and (x, y) for each landmark")
    if width % 2 == 0:
        raise ValueError(
            f"y_true must have an odd width 1 + 2L (is_face and (x, y) for each "
            f"landmark), got {y_true.shape}"
        )
    check_landmark_targets(y_true, (width - 1) // 2, name="y_true")
    return _check_pair(y_pred, y_true, width)


def _width(y_pred, y_true, minimum, what):
    """The width D of y_true (N, D), which y_pred must share: which of the two is too narrow or
    too wide, only the caller knows, so a difference names both."""
    if not isinstance(y_true, np.ndarray):
        raise TypeError(f"y_true must be a numpy array, got {type(y_true).__name__}")
    if y_true.dtype.kind not in "iuf":
        raise TypeError(f"y_true must be a numpy array of numbers, got dtype {y_true.dtype}")
    if y_true.ndim != 2 or y_true.shape[1] < minimum:
        raise ValueError(
            f"y_true must have shape (N, D) with D >= {minimum} ({what}), got {y_true.shape}"
        )
    if isinstance(y_pred, np.ndarray) and y_pred.ndim == 2 and y_pred.shape[1] != y_true.shape[1]:
        raise ValueError(
            f"y_pred and y_true must have the same width, one lecture vector per image each, "
            f"got shapes {y_pred.shape} and {y_true.shape}"
        )
    return y_true.shape[1]


def _check_pair(y_pred, y_true, width):
    """y_pred checked against y_true, whose width is `width`; both returned as float64 copies."""
    check_predictions(y_pred, width, name="y_pred")
    if len(y_pred) != len(y_true):
        raise ValueError(
            f"y_pred and y_true must hold the same number of images, got "
            f"{len(y_pred)} and {len(y_true)}"
        )
    return y_pred.astype(np.float64), y_true.astype(np.float64)


def _check_face_sizes(face_sizes, has_face):
    if not isinstance(face_sizes, np.ndarray):
        raise TypeError(
            f"face_sizes must be a numpy array (N,) = ({len(has_face)},), one size per image, "
            f"got {type(face_sizes).__name__}"
        )
    # astype would read True as a size of 1 and drop an imaginary part with only a warning
    if face_sizes.dtype.kind not in "iuf":
        raise TypeError(
            f"face_sizes must be an array of real numbers (fractions of the image), got dtype "
            f"{face_sizes.dtype}"
        )
    if face_sizes.shape != has_face.shape:
        raise ValueError(
            f"face_sizes must be an array (N,) = ({len(has_face)},), one size per "
            f"image, got {face_sizes.shape}"
        )
    face_sizes = face_sizes.astype(np.float64)
    # A fraction of the image, as the landmarks are: sqrt(width * height) of a box inside it.
    bad_rows = np.flatnonzero(has_face & ~((face_sizes > 0) & (face_sizes <= 1)))
    if bad_rows.size:
        size = face_sizes[bad_rows[0]]
        hint = " (in pixels? divide by the image's side)" if size > 1 else ""
        raise ValueError(
            f"face_sizes must be fractions of the image in (0, 1] where is_face = 1, found "
            f"{size} in row {bad_rows[0]}{hint}"
        )
    return face_sizes


# --- detection: precision, recall and mean average precision ---------------------------------

COCO_RECALL_POINTS = np.linspace(0.0, 1.0, 101)
"""The recall levels at which COCO samples precision: 0, 0.01, ..., 1."""

COCO_MAX_DETECTIONS = 100
"""COCO counts at most this many detections per image and class, the highest scoring."""


def precision_recall_curve(detections, truth, label, iou_threshold=0.5, num_classes=None):
    """Precision and recall of one class's detections, taken in order of score: (recall,
    precision, scores), three arrays of one entry per detection of that class, best first.

    After the k best detections, recall = TP / (ground-truth boxes of the class) and precision =
    TP / k, where a detection is a true positive (TP) if it matches a ground-truth box: each
    detection, best first, takes the not yet matched box of its class and image with the highest
    IoU, if that is at least iou_threshold (COCO's greedy rule). detections: per image
    {"boxes", "scores", "labels"} as `tinycnn.detection.detect` returns; truth: per image
    {"boxes", "labels"}. The precision here is raw, not made monotone.

    label is a class index (an integer >= 0); with num_classes, every label, this one and those
    in the lists, must lie in 0..num_classes-1, which catches 1-based labels. A class found in
    neither list gives empty curves (and an AP of nan): nothing to measure.
    """
    detections, truth = _check_detection_lists(detections, truth, num_classes)
    label = _check_label(label, num_classes)
    iou_threshold = probability(iou_threshold, "iou_threshold")
    scores, true_positive, num_truth = _matched_detections(detections, truth, label, iou_threshold)
    hits = np.cumsum(true_positive)
    recall = hits / num_truth if num_truth else np.full(len(hits), np.nan)
    precision = hits / np.arange(1, len(hits) + 1)
    return recall, precision, scores


def average_precision(detections, truth, label, iou_threshold=0.5, num_classes=None):
    """COCO's average precision of one class at one IoU threshold (nan if the truth holds no box
    of that class):

        1. match the detections to the truth, best score first (see precision_recall_curve);
        2. make precision monotone: p(r) = the best precision at any recall >= r;
        3. average p over the 101 recall levels 0, 0.01, ..., 1 (0 past the highest recall).

    label and num_classes as in `precision_recall_curve`.
    """
    detections, truth = _check_detection_lists(detections, truth, num_classes)
    label = _check_label(label, num_classes)
    iou_threshold = probability(iou_threshold, "iou_threshold")
    return _average_precision(detections, truth, label, iou_threshold)


def mean_average_precision(detections, truth, iou_thresholds=0.5, num_classes=None):
    """COCO's mAP: the average precision of each class present in the truth, averaged over those
    classes; for a sequence of IoU thresholds, the mean over them too.

        mean_average_precision(found, truth)                               AP@0.5
        mean_average_precision(found, truth, np.linspace(0.5, 0.95, 10))   AP@[.5:.95]

    These equal pycocotools' COCOeval stats[1] and stats[0] on the same boxes (a test holds them
    to it), including COCO's limit of 100 detections per image and class. Returns nan when the
    truth holds no box at all. With num_classes, every label must lie in 0..num_classes-1 (this
    catches 1-based labels).
    """
    detections, truth = _check_detection_lists(detections, truth, num_classes)
    thresholds = _iou_thresholds(iou_thresholds)
    present = np.unique(np.concatenate([scene["labels"] for scene in truth] + [[]]))
    if len(present) == 0:
        return float("nan")
    return float(
        np.mean(
            [
                [_average_precision(detections, truth, int(label), threshold) for label in present]
                for threshold in thresholds
            ]
        )
    )


def _average_precision(detections, truth, label, iou_threshold):
    """average_precision on checked arguments."""
    scores, true_positive, num_truth = _matched_detections(detections, truth, label, iou_threshold)
    if num_truth == 0:
        return float("nan")
    hits = np.cumsum(true_positive)
    misses = np.cumsum(~true_positive)
    recall = hits / num_truth
    # np.spacing(1) as in pycocotools, whose numbers this reproduces to the last digit.
    precision = hits / (hits + misses + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    at = np.searchsorted(recall, COCO_RECALL_POINTS, side="left")
    sampled = np.zeros(len(COCO_RECALL_POINTS))
    reached = at < len(precision)
    sampled[reached] = precision[at[reached]]
    return float(np.mean(sampled))


def _matched_detections(detections, truth, label, iou_threshold):
    """The detections of `label` in all images (checked lists), best score first (ties: earlier
    image, then earlier detection), with whether each matched a ground-truth box; and the number
    of those."""
    all_scores, all_hits, num_truth = [], [], 0
    for found, expected in zip(detections, truth, strict=True):
        mine = np.flatnonzero(found["labels"] == label)
        mine = mine[np.argsort(-found["scores"][mine], kind="stable")][:COCO_MAX_DETECTIONS]
        truth_boxes = expected["boxes"][expected["labels"] == label]
        num_truth += len(truth_boxes)
        hits = np.zeros(len(mine), dtype=bool)
        if len(mine) and len(truth_boxes):
            overlaps = iou_matrix(found["boxes"][mine], truth_boxes)
            taken = np.zeros(len(truth_boxes), dtype=bool)
            for row in range(len(mine)):
                candidates = np.where(taken, -1.0, overlaps[row])
                # The last of equal best overlaps, as pycocotools' loop keeps it.
                best = len(candidates) - 1 - int(np.argmax(candidates[::-1]))
                if candidates[best] >= min(iou_threshold, 1 - 1e-10):
                    taken[best] = hits[row] = True
        all_scores.append(found["scores"][mine])
        all_hits.append(hits)
    scores = np.concatenate(all_scores + [np.zeros(0)])
    hits = np.concatenate(all_hits + [np.zeros(0, dtype=bool)])
    order = np.argsort(-scores, kind="stable")
    return scores[order], hits[order], num_truth


def _check_detection_lists(detections, truth, num_classes):
    if num_classes is not None:
        num_classes = positive_int(num_classes, "num_classes")
    detections = check_per_image_boxes(
        detections, "detections", scored=True, num_classes=num_classes
    )
    truth = check_per_image_boxes(truth, "truth", scored=False, num_classes=num_classes)
    if len(detections) != len(truth):
        raise ValueError(
            f"detections and truth must hold the same number of images, got "
            f"{len(detections)} and {len(truth)}"
        )
    return detections, truth


def _check_label(label, num_classes):
    """label as an int: a class index (below num_classes, when given). A class that appears in
    neither the detections nor the truth has no precision to measure: its AP is nan, as every
    metric here is on an empty subset."""
    label = non_negative_int(label, "label")
    if num_classes is not None and label >= num_classes:
        raise ValueError(f"label must lie in 0..{num_classes - 1}, got {label}")
    return label


def _iou_thresholds(iou_thresholds):
    """iou_thresholds, a number or a sequence of them, as a list of floats in [0, 1]."""
    if isinstance(iou_thresholds, np.ndarray) and iou_thresholds.ndim == 0:
        iou_thresholds = iou_thresholds.item()
    if not isinstance(iou_thresholds, (list, tuple, np.ndarray)):
        return [probability(iou_thresholds, "iou_thresholds")]
    if isinstance(iou_thresholds, np.ndarray) and iou_thresholds.ndim != 1:
        raise ValueError(
            f"iou_thresholds must be a number or a flat sequence of numbers, got shape "
            f"{iou_thresholds.shape}"
        )
    if len(iou_thresholds) == 0:
        raise ValueError("iou_thresholds must hold at least one threshold, got an empty sequence")
    values = iou_thresholds.tolist() if isinstance(iou_thresholds, np.ndarray) else iou_thresholds
    return [probability(value, f"iou_thresholds[{index}]") for index, value in enumerate(values)]
