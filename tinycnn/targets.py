"""The lecture's target vectors: what a network should output for one image, and how to read it.

Localization, for K classes, is one vector of K + 5 numbers:

    y = [p_c, b_x, b_y, b_h, b_w, c_1, ..., c_K]

p_c is 1 if the image holds an object and 0 if not. (b_x, b_y) is the centre of the object's box,
b_h its height and b_w its width (height first, as in the lecture), all as fractions of the image:
(0, 0) is the top-left corner and (1, 1) the bottom-right one. c_1..c_K is the class, one-hot.
Without an object (p_c = 0) the other entries are "don't care": the losses ignore them, and
`encode_localization` writes zeros there.

Landmarks, for a face with three named points, is one vector of 7 numbers:

    y = [is_face, x_1, y_1, x_2, y_2, x_3, y_3]

with the points in the order of `LANDMARK_NAMES` (left mouth corner, right mouth corner, chin tip),
as fractions of the image like the box. "Left" and "right" are the IMAGE's left and right, not the
subject's: the left mouth corner is the one with the smaller x in an upright face, the one on the
viewer's left. Without a face (is_face = 0) all seven entries are 0.

Boxes come in two formats, both as fractions of the image, the last axis holding four numbers:

    centre:  [b_x, b_y, b_h, b_w]           (the lecture's, used in y)
    corners: [x_min, y_min, x_max, y_max]   (easier for drawing and for intersections)

The `check_*` functions hold arrays of targets and predictions to these formats; the losses and
metrics call them on every batch, so they are vectorised.
"""

from dataclasses import dataclass

import numpy as np

from tinycnn.checks import (
    FLOAT_DTYPES,
    as_array,
    fits_in_memory,
    flag,
    float_dtype,
    positive_int,
    probability,
    real_array,
)

P_C = 0
"""Column of p_c in a localization vector."""

BOX = slice(1, 5)
"""Columns of the box (b_x, b_y, b_h, b_w) in a localization vector."""

CLASSES = slice(5, None)
"""Columns of the class part c_1..c_K in a localization vector."""

IS_FACE = 0
"""Column of is_face in a landmark vector."""

POINTS = slice(1, None)
"""Columns of the landmark coordinates x_1, y_1, x_2, y_2, ... in a landmark vector."""

LANDMARK_NAMES = ("left_mouth_corner", "right_mouth_corner", "chin_tip")
"""The landmarks in the order of the vector; left and right are the image's (see above)."""

NO_OBJECT = -1
"""The label that `encode_localization_batch` reads as "no object" (the data's convention)."""

BOX_RULE = "4 numbers (b_x, b_y, b_h, b_w) in [0, 1] with b_h, b_w > 0"
"""What a box of the lecture's vector must be; `valid_boxes` checks it."""


def one_hot_rows(classes):
    """Which rows of classes (N, K) are one-hot: (N,) bools, True where every entry is 0 or 1 and
    exactly one is 1. The ones are counted, not summed: a row that does not count (p_c = 0) may
    hold anything, even values whose sum overflows."""
    # a string, None or a bool compares unequal to 0 and 1 (or equal, True == 1) without a word
    if not isinstance(classes, np.ndarray) or classes.dtype.kind not in "iuf":
        raise TypeError(
            f"classes must be a numpy array of numbers (N, K), got {type(classes).__name__} of "
            f"dtype {getattr(classes, 'dtype', None)}"
        )
    if classes.ndim != 2:
        raise ValueError(f"classes must be a numpy array (N, K), got shape {classes.shape}")
    return np.all((classes == 0) | (classes == 1), axis=1) & (
        np.count_nonzero(classes == 1, axis=1) == 1
    )


def valid_boxes(boxes):
    """Which boxes (..., 4) follow BOX_RULE: (...,) bools, False wherever a NaN is.

    TypeError unless boxes is a numpy array of real numbers, ValueError unless its last axis
    holds the 4 numbers of a box."""
    if not isinstance(boxes, np.ndarray) or boxes.dtype.kind not in "iuf":
        raise TypeError(
            f"boxes must be a numpy array of real numbers (..., 4), got {type(boxes).__name__}"
            f" of dtype {getattr(boxes, 'dtype', None)}"
        )
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(
            f"boxes must have shape (..., 4), one (b_x, b_y, b_h, b_w) per box, got {boxes.shape}"
        )
    return np.all((boxes >= 0) & (boxes <= 1), axis=-1) & np.all(boxes[..., 2:] > 0, axis=-1)


def localization_width(num_classes):
    """K + 5: the length of a localization vector for K classes."""
    return 5 + positive_int(num_classes, "num_classes")


def landmark_width(num_landmarks):
    """1 + 2L: the length of a landmark vector for L points."""
    return 1 + 2 * positive_int(num_landmarks, "num_landmarks")


@dataclass(frozen=True)
class Localization:
    """One decoded localization vector. label and box are None when p_c is below the threshold."""

    p_c: float
    label: int | None
    box: tuple[float, float, float, float] | None

    def __repr__(self):
        box = None if self.box is None else f"({', '.join(_short(value) for value in self.box)})"
        return f"Localization(p_c={_short(self.p_c)}, label={self.label}, box={box})"


@dataclass(frozen=True)
class Landmarks:
    """One decoded landmark vector: points maps each name in LANDMARK_NAMES to its (x, y), or is
    None when is_face is below the threshold."""

    is_face: float
    points: dict[str, tuple[float, float]] | None

    def __repr__(self):
        points = self.points and {
            name: f"({_short(x)}, {_short(y)})" for name, (x, y) in self.points.items()
        }
        shown = (
            None
            if points is None
            else "{" + ", ".join(f"{k!r}: {v}" for k, v in points.items()) + "}"
        )
        return f"Landmarks(is_face={_short(self.is_face)}, points={shown})"


def _short(value):
    """A number as a person reads it: 4 significant digits (the value itself keeps them all)."""
    return f"{value:.4g}"


def encode_localization(label, box, num_classes, dtype=np.float32):
    """The vector y (K+5,) for one image.

    label is the class index 0..K-1, or None for no object (then y is all zeros and box is
    ignored). box is (b_x, b_y, b_h, b_w) as fractions of the image, with b_h, b_w > 0.
    dtype is float32 or float64 (an integer y would round the box to zeros).
    """
    width, dtype = localization_width(num_classes), float_dtype(dtype)
    _check_vectors_fit(1, width, dtype)
    y = np.zeros(width, dtype=dtype)
    if label is None:
        return y
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise TypeError(
            f"label must be a class index (an int) in 0..{num_classes - 1} or None (no "
            f"object), got {label!r} ({type(label).__name__})"
        )
    if not 0 <= label < num_classes:
        raise ValueError(
            f"label must be a class index in 0..{num_classes - 1} or None (no "
            f"object), got {label!r}"
        )
    y[P_C] = 1.0
    y[BOX] = _check_one_box(box)
    y[5 + label] = 1.0
    return y


def encode_localization_batch(labels, boxes, num_classes, dtype=np.float32):
    """The vectors y (N, K+5) for N images at once.

    labels (N,) are class indices 0..K-1, or NO_OBJECT (-1) for an image without an object, whose
    row is then all zeros. boxes (N, 4) are (b_x, b_y, b_h, b_w); rows without an object are
    ignored, so they may hold anything.
    """
    width = localization_width(num_classes)
    dtype = float_dtype(dtype)
    labels = as_array(labels, "labels")
    boxes = real_array(boxes, "boxes", "(N, 4) numbers (b_x, b_y, b_h, b_w)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"labels must be a 1-D integer array (N,), got dtype {labels.dtype} (class "
            f"indices 0..{num_classes - 1}, or {NO_OBJECT} for no object)"
        )
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D integer array (N,), got shape {labels.shape}")
    if boxes.shape != (len(labels), 4):
        raise ValueError(
            f"boxes must have shape (N, 4) = ({len(labels)}, 4) to match labels, got {boxes.shape}"
        )
    _check_rows(
        (labels >= NO_OBJECT) & (labels < num_classes),
        labels,
        f"labels must be class indices in 0..{num_classes - 1} or {NO_OBJECT} (no object)",
    )
    has_object = labels != NO_OBJECT
    _check_rows(
        ~has_object | valid_boxes(boxes),
        boxes,
        f"boxes must be {BOX_RULE} where there is an object",
    )
    _check_vectors_fit(len(labels), width, dtype)
    y = np.zeros((len(labels), width), dtype=dtype)
    y[has_object, P_C] = 1.0
    y[has_object, BOX] = boxes[has_object]
    y[has_object, 5 + labels[has_object]] = 1.0
    return y


def decode_localization(y_hat, num_classes, threshold=0.5):
    """Read a lecture-format vector (K+5,) as a Localization, or a batch (N, K+5) as a list of them.

    The object counts as present when p_c >= threshold; its label is then the argmax of the
    class part. y_hat must be in the lecture's format (model.predict's output), not the raw
    logits that LocalizationLoss reads.
    """
    width = localization_width(num_classes)
    threshold = probability(threshold, "threshold")
    rows = _as_rows(y_hat, width)
    decoded = []
    for row in rows:
        if row[P_C] >= threshold:
            label = int(np.argmax(row[CLASSES]))
            box = tuple(float(value) for value in row[BOX])
        else:
            label, box = None, None
        decoded.append(Localization(p_c=float(row[P_C]), label=label, box=box))
    return decoded[0] if np.ndim(y_hat) == 1 else decoded


def encode_landmarks(points, dtype=np.float32):
    """The vector y (7,) for one image.

    points is (3, 2), one (x, y) row per landmark in the order of LANDMARK_NAMES, as fractions of
    the image in [0, 1]; or None for no face (then y is all zeros).
    """
    y = np.zeros(landmark_width(len(LANDMARK_NAMES)), dtype=float_dtype(dtype))
    if points is None:
        return y
    points = real_array(points, "points", "(3, 2) numbers, one (x, y) row per landmark")
    if points.shape != (len(LANDMARK_NAMES), 2):
        raise ValueError(
            f"points must have shape (3, 2), one (x, y) row for each of "
            f"{LANDMARK_NAMES}, got {points.shape}"
        )
    if not np.all((points >= 0) & (points <= 1)):
        raise ValueError(
            f"points must lie in [0, 1] (fractions of the image), got {points.tolist()}"
        )
    y[IS_FACE] = 1.0
    y[POINTS] = points.reshape(-1)
    return y


def decode_landmarks(y_hat, threshold=0.5):
    """Read a lecture-format vector (7,) as Landmarks, or a batch (N, 7) as a list of them.

    The face counts as present when is_face >= threshold. y_hat must be in the lecture's format
    (model.predict's output), not the raw logits that LandmarkLoss reads.
    """
    threshold = probability(threshold, "threshold")
    rows = _as_rows(y_hat, landmark_width(len(LANDMARK_NAMES)))
    decoded = []
    for row in rows:
        points = None
        if row[IS_FACE] >= threshold:
            coordinates = row[POINTS].reshape(-1, 2)
            points = {
                name: (float(x), float(y))
                for name, (x, y) in zip(LANDMARK_NAMES, coordinates, strict=True)
            }
        decoded.append(Landmarks(is_face=float(row[IS_FACE]), points=points))
    return decoded[0] if np.ndim(y_hat) == 1 else decoded


def check_predictions(y_hat, width, name="y_hat", finite=True):
    """Raise unless y_hat is a float array of shape (N, width) (any width if width is None),
    finite unless finite=False; return it unchanged. N = 0 is allowed."""
    if not isinstance(y_hat, np.ndarray) or y_hat.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a numpy float array (float32 or float64), got "
            f"{type(y_hat).__name__} of dtype {getattr(y_hat, 'dtype', None)}"
        )
    if width is not None:
        width = positive_int(width, "width")
    finite = flag(finite, "finite")
    if y_hat.ndim != 2 or (width is not None and y_hat.shape[1] != width):
        expected = "(N, D)" if width is None else f"(N, {width})"
        raise ValueError(f"{name} must have shape {expected}, got {y_hat.shape}")
    if finite:
        _check_rows(np.isfinite(y_hat).all(axis=1), y_hat, f"{name} must be finite (no NaN or inf)")
    return y_hat


def check_localization_targets(y, num_classes, name="y"):
    """Raise unless y (N, K+5) holds the lecture's localization targets; return it unchanged.

    Every row needs p_c exactly 0 or 1. Where p_c = 1 the box must lie in [0, 1] with
    b_h, b_w > 0, and the class part must be one-hot. Where p_c = 0 the rest is not looked at.
    """
    _check_target_array(y, localization_width(num_classes), name)
    has_object = _check_presence(y[:, P_C], f"{name}[:, 0] (p_c)")
    boxes, classes = y[:, BOX], y[:, CLASSES]
    _check_rows(
        ~has_object | valid_boxes(boxes), boxes, f"{name}[:, 1:5] must be {BOX_RULE} where p_c = 1"
    )
    _check_rows(
        ~has_object | one_hot_rows(classes),
        classes,
        f"{name}[:, 5:] (c_1..c_K) must be one-hot where p_c = 1",
    )
    return y


def check_landmark_targets(y, num_landmarks, name="y"):
    """Raise unless y (N, 1+2L) holds the lecture's landmark targets; return it unchanged.

    Every row needs is_face exactly 0 or 1. Where is_face = 1 the points must lie in [0, 1].
    Where is_face = 0 the rest is not looked at.
    """
    _check_target_array(y, landmark_width(num_landmarks), name)
    has_face = _check_presence(y[:, IS_FACE], f"{name}[:, 0] (is_face)")
    points = y[:, POINTS]
    _check_rows(
        ~has_face | np.all((points >= 0) & (points <= 1), axis=1),
        points,
        f"{name}[:, 1:] (x_1, y_1, ...) must lie in [0, 1] where is_face = 1",
    )
    return y


def _check_vectors_fit(n, width, dtype):
    """Refuse, naming num_classes, n localization vectors of `width` numbers that this machine
    cannot hold: counted before numpy allocates them (the images are already there; a width of
    billions is a mistaken num_classes)."""
    fits_in_memory(
        n * width * dtype.itemsize,
        "num_classes",
        f"{n:,} localization vector{'s' if n != 1 else ''} of 5 + {width - 5:,} {dtype} numbers",
    )


def _as_rows(y_hat, width):
    """One vector (width,) or a batch (N, width) of predictions -> checked rows (N, width)."""
    if isinstance(y_hat, np.ndarray) and y_hat.ndim == 1:
        if y_hat.shape != (width,):
            raise ValueError(f"y_hat must have shape ({width},) or (N, {width}), got {y_hat.shape}")
        y_hat = y_hat[None]
    return check_predictions(y_hat, width, name="y_hat")


def _check_target_array(y, width, name):
    if not isinstance(y, np.ndarray) or not (
        np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)
    ):
        raise TypeError(
            f"{name} must be a numpy array of numbers, got {type(y).__name__} of "
            f"dtype {getattr(y, 'dtype', None)}"
        )
    if y.ndim != 2 or y.shape[1] != width:
        raise ValueError(f"{name} must have shape (N, {width}), got {y.shape}")


def _check_presence(flags, what):
    """Check that flags (N,) are each exactly 0 or 1; return them as a bool mask."""
    _check_rows((flags == 0) | (flags == 1), flags, f"{what} must be 0 or 1")
    return flags == 1


def _check_rows(good, values, what):
    """Raise ValueError naming the first row where good (N,) is False, and what it held."""
    bad_rows = np.flatnonzero(~good)
    if bad_rows.size:
        first = bad_rows[0]
        others = f" (and {bad_rows.size - 1} more rows)" if bad_rows.size > 1 else ""
        raise ValueError(f"{what}, found {values[first]} in row {first}{others}")


def _check_one_box(box):
    """box as 4 float64 numbers; the error shows it as given."""
    given = box
    box = real_array(box, "box", BOX_RULE)
    if box.shape != (4,) or not valid_boxes(box):
        shown = given.tolist() if isinstance(given, np.ndarray) else given
        raise ValueError(f"box must be {BOX_RULE}, got {shown!r}")
    return box
