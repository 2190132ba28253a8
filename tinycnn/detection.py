"""Detection with a grid (YOLO): the localization vector of lesson 1 in every cell and anchor.

The image is cut into an S x S grid. Each cell holds B vectors, one per anchor box, each the
lecture's localization vector

    y[n, row, column, anchor] = [p_c, b_x, b_y, b_h, b_w, c_1..c_K]

so that y has shape (N, S, S, B, 5 + K). An object goes to the cell that holds its midpoint (the
row from b_y, the column from b_x), and within it to the anchor whose shape is most like its own:
the highest IoU of the two boxes compared as if centred together. In that vector

- b_x, b_y are the midpoint relative to the cell's top-left corner, in cell units: in [0, 1);
- b_h, b_w are the box's height and width in cell units: they may exceed 1, an object may be
  larger than its cell;
- p_c = 1 and c_1..c_K is its class, one-hot. Every other vector has p_c = 0 and zeros.

Anchors are (B, 2) arrays of shapes (h, w) as fractions of the image, e.g. a tall one for a
pedestrian and a wide one for a car: the lecture's answer to two midpoints in one cell.

Here: `encode_grid` and its inverse `decode_grid`; the output maps from a network's raw grid to
the lecture's vectors (`GridVectors`, `GridOutput`); the two losses of lesson 2 lifted onto the
grid (`SquaredGridLoss`, `GridLoss`); `detect`, which runs a model and non-max suppression; and
`check_per_image_boxes`, the one check of the per-image dicts of boxes that detect returns and the
truth holds (encode_grid and `tinycnn.metrics` use it too).
"""

import numpy as np

from tinycnn.boxes import as_boxes, non_max_suppression
from tinycnn.checks import (
    FLOAT_DTYPES,
    as_array,
    fits_in_memory,
    flag,
    float_array,
    non_negative_int,
    positive_int,
    probability,
    real_array,
    real_number,
)
from tinycnn.functional import binary_cross_entropy, logsumexp, sigmoid, softmax
from tinycnn.layers import BatchNormReLUMaxPool2D, Conv2D, ConvReLUMaxPool2D, MaxPool2D
from tinycnn.losses import Loss
from tinycnn.outputs import OutputMap
from tinycnn.targets import one_hot_rows

P_C = 0
"""Entry of p_c in each cell's vector."""

BOX = slice(1, 5)
"""Entries of the box (b_x, b_y, b_h, b_w) in each cell's vector."""

CENTRE = slice(1, 3)
"""Entries of the box's midpoint (b_x, b_y) in each cell's vector."""

SIZE = slice(3, 5)
"""Entries of the box's size (b_h, b_w) in each cell's vector."""

CLASSES = slice(5, None)
"""Entries of the class part c_1..c_K in each cell's vector."""

BELOW_ONE = np.nextafter(np.float32(1), np.float32(0))
"""The largest float32 below 1: a cell offset on the image's far edge, kept inside [0, 1)."""

DEFAULT_ANCHORS = np.array([[0.38, 0.2], [0.26, 0.38]])
"""A tall anchor (pedestrians) and a wide one (cars, motorcycles), (h, w) as fractions of the
image: about the mean shapes of those classes in `tinycnn.data.detection_dataset`."""


# --- targets: boxes to the grid and back ----------------------------------------------------


def encode_grid(truth, grid_size, anchors, num_classes):
    """Per-image boxes and labels -> the grid of lecture vectors y (N, S, S, B, 5 + K) float32.

    truth: a list of N dicts {"boxes": (G, 4) centre format, "labels": (G,) ints in 0..K-1}, as
    `tinycnn.data.detection_dataset` returns. grid_size: S. anchors: (B, 2) of (h, w) fractions.

    For each object, with (x, y, h, w) its box as fractions of the image:

        column = floor(x S),  row = floor(y S)
        anchor = argmax_b IoU((h, w), anchors[b]) of the two shapes centred together
        y[n, row, column, anchor] = [1, x S - column, y S - row, h S, w S, one-hot(label)]

    A midpoint on the right or bottom edge (x = 1) goes to the last column or row, its offset
    just below 1.

    When two objects land on one cell and anchor, only one vector is there to hold them: the
    larger box (by area) is kept, as the one the image shows more of. A grid this machine cannot
    hold is refused, naming grid_size or num_classes, before it is allocated.
    """
    grid_size = positive_int(grid_size, "grid_size")
    anchors = check_anchors(anchors)
    num_classes = positive_int(num_classes, "num_classes")
    truth = check_per_image_boxes(truth, "truth", scored=False, num_classes=num_classes)
    shape = (len(truth), grid_size, grid_size, len(anchors), 5 + num_classes)
    # Counted before numpy allocates: of the two sizes the caller chose, the larger is at fault.
    fits_in_memory(
        4 * len(truth) * grid_size**2 * len(anchors) * (5 + num_classes),
        "grid_size" if grid_size**2 >= 5 + num_classes else "num_classes",
        f"the grid of targets {shape} float32",
    )
    y = np.zeros(shape, np.float32)
    for n, scene in enumerate(truth):
        boxes, labels = scene["boxes"], scene["labels"]
        columns = np.minimum(np.floor(boxes[:, 0] * grid_size), grid_size - 1).astype(int)
        rows = np.minimum(np.floor(boxes[:, 1] * grid_size), grid_size - 1).astype(int)
        best_anchors = np.argmax(shape_iou(boxes[:, None, 2:], anchors[None]), axis=1)
        # Largest first (a stable sort keeps the truth's order among equals): a later object
        # finding its slot taken is the smaller one, and it gives way.
        for g in np.argsort(-boxes[:, 2] * boxes[:, 3], kind="stable"):
            vector = y[n, rows[g], columns[g], best_anchors[g]]
            if vector[P_C] == 1:
                continue
            x, y_centre, h, w = boxes[g]
            vector[P_C] = 1
            offsets = np.array([x * grid_size - columns[g], y_centre * grid_size - rows[g]])
            vector[CENTRE] = np.minimum(offsets, BELOW_ONE)
            vector[SIZE] = [h * grid_size, w * grid_size]
            vector[5 + labels[g]] = 1
    return y


def decode_grid(y, score_threshold=0.5):
    """The grid of lecture vectors y (N, S, S, B, 5 + K) -> per-image boxes: the inverse of
    `encode_grid`.

    Every vector becomes a box in the image's centre format,

        b_x = (column + x) / S,  b_y = (row + y) / S,  b_h = h / S,  b_w = w / S,

    with score = p_c · max_k c_k (how likely this vector holds an object of its class) and label
    = argmax_k c_k. Those scoring at least score_threshold (in [0, 1]) are returned, one dict per
    image {"boxes": (M, 4), "scores": (M,), "labels": (M,)}, highest score first: the detections
    before non-max suppression. On an encoded target every object scores exactly 1. A NaN or inf
    anywhere in y raises a ValueError: a broken network's output is not "no boxes".

    y is `model.predict`'s output. A network trained with SquaredGridLoss predicts the vectors
    themselves, and a regression may stray past what a box can be: its offsets are clipped into
    the cell ([0, 1]) and its sizes to >= 0, so that every box lies where its cell says.
    """
    y = _check_finite_grid(y, "y")
    score_threshold = probability(score_threshold, "score_threshold")
    n, rows, columns, num_anchors, _ = y.shape
    row_index, column_index = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
    boxes = np.empty((*y.shape[:4], 4))
    offsets = np.clip(y[..., CENTRE], 0.0, 1.0)
    sizes = np.maximum(y[..., SIZE], 0.0)
    boxes[..., 0] = (column_index[:, :, None] + offsets[..., 0]) / columns
    boxes[..., 1] = (row_index[:, :, None] + offsets[..., 1]) / rows
    boxes[..., 2] = sizes[..., 0] / rows
    boxes[..., 3] = sizes[..., 1] / columns
    scores = y[..., P_C] * np.max(y[..., CLASSES], axis=-1)
    labels = np.argmax(y[..., CLASSES], axis=-1)
    detections = []
    for image in range(n):
        image_scores = scores[image].reshape(-1)
        chosen = np.flatnonzero(image_scores >= score_threshold)
        chosen = chosen[np.argsort(-image_scores[chosen], kind="stable")]
        detections.append(
            {
                "boxes": boxes[image].reshape(-1, 4)[chosen],
                "scores": image_scores[chosen].astype(np.float64),
                "labels": labels[image].reshape(-1)[chosen].astype(np.int64),
            }
        )
    return detections


def shape_iou(shapes_a, shapes_b):
    """IoU of box shapes (..., 2) of (h, w), as if both boxes had the same midpoint:

    IoU = min(h_a, h_b) min(w_a, w_b) / (h_a w_a + h_b w_b - min(h_a, h_b) min(w_a, w_b))
    """
    shapes_a, shapes_b = _box_shapes(shapes_a, "shapes_a"), _box_shapes(shapes_b, "shapes_b")
    overlap = np.minimum(shapes_a[..., 0], shapes_b[..., 0]) * np.minimum(
        shapes_a[..., 1], shapes_b[..., 1]
    )
    union = shapes_a[..., 0] * shapes_a[..., 1] + shapes_b[..., 0] * shapes_b[..., 1] - overlap
    return overlap / union


# --- output maps: a network's raw grid to the lecture's vectors ------------------------------


class GridVectors(OutputMap):
    """raw (N, S, S, B, 5 + K) -> the same numbers: for SquaredGridLoss, whose network outputs
    the lecture's vectors themselves."""

    def __init__(self, num_classes):
        self.num_classes = positive_int(num_classes, "num_classes")

    @property
    def raw_layout(self):
        """(S, S, B, 5 + K) per image, any grid and any number of anchors."""
        return (None, None, None, 5 + self.num_classes)

    def __call__(self, raw):
        return _check_grid(raw, "raw", width=5 + self.num_classes, computed=True).copy()

    def get_config(self):
        return {"name": "GridVectors", "num_classes": self.num_classes}


class GridOutput(OutputMap):
    """raw (N, S, S, B, 5 + K) -> the lecture's vectors, for GridLoss. Per cell and anchor b,
    with raw = [t_o, t_x, t_y, t_h, t_w, z_1..z_K] and the anchor's shape (a_h, a_w) in cell units:

        p_c = σ(t_o)          b_x = σ(t_x)               b_y = σ(t_y)
        b_h = a_h e^(t_h)     b_w = a_w e^(t_w)          c_1..c_K = softmax(z_1..z_K)

    This is YOLOv2's parametrisation: σ keeps the midpoint inside its cell, and the exponential
    keeps the size positive, a raw 0 meaning "the anchor's own shape".
    """

    def __init__(self, anchors, num_classes):
        self.anchors = check_anchors(anchors)
        self.num_classes = positive_int(num_classes, "num_classes")

    @property
    def raw_layout(self):
        """(S, S, B, 5 + K) per image: any grid, one vector per anchor."""
        return (None, None, len(self.anchors), 5 + self.num_classes)

    def __call__(self, raw):
        raw = _check_grid(
            raw, "raw", width=5 + self.num_classes, anchors=len(self.anchors), computed=True
        )
        y_hat = np.empty_like(raw)
        y_hat[..., P_C] = sigmoid(raw[..., P_C])
        y_hat[..., CENTRE] = sigmoid(raw[..., CENTRE])
        y_hat[..., SIZE] = _anchor_sizes(self.anchors, raw.shape) * np.exp(raw[..., SIZE])
        y_hat[..., CLASSES] = softmax(raw[..., CLASSES])
        return y_hat

    def get_config(self):
        return {
            "name": "GridOutput",
            "anchors": self.anchors.tolist(),
            "num_classes": self.num_classes,
        }

    def __hash__(self):
        return hash(("GridOutput", tuple(map(tuple, self.anchors.tolist())), self.num_classes))


def anchor_sizes(anchors, grid_shape):
    """The anchors' (h, w) in cell units for a grid of shape (N, S_h, S_w, B, D): (B, 2)."""
    anchors = check_anchors(anchors)
    if not isinstance(grid_shape, (tuple, list)):
        raise TypeError(
            f"grid_shape must be a grid's shape (N, S_h, S_w, B, D), got {grid_shape!r}"
        )
    if len(grid_shape) != 5:
        raise ValueError(
            f"grid_shape must be a grid's shape (N, S_h, S_w, B, D), got {tuple(grid_shape)!r}"
        )
    rows = non_negative_int(grid_shape[1], "grid_shape[1] (S_h)")
    columns = non_negative_int(grid_shape[2], "grid_shape[2] (S_w)")
    return _anchor_sizes(anchors, (0, rows, columns))


def _anchor_sizes(anchors, grid_shape):
    """anchor_sizes without its checks, for the maps and losses: they checked their anchors once
    when built, and read the grid's shape off the array itself (the checks cost 5 µs a batch)."""
    return anchors * np.array([grid_shape[1], grid_shape[2]])


# --- losses ----------------------------------------------------------------------------------


class GridLossBase(Loss):
    """What both grid losses share: the checks, the mean over images, backward's order (the rest,
    the output map and the cache that backward reads, as every loss: losses.Loss).

    Both sum their per-vector loss over every cell and anchor of an image, and average over the N
    images: an image with more objects weighs more, as each object is a task of its own.
    """

    def __init__(self, output, num_classes):
        self.num_classes = positive_int(num_classes, "num_classes")
        super().__init__(output, width=5 + self.num_classes)

    def _checked(self, y_hat, y):
        self._cache = None  # a forward that raises must not leave the last batch's gradient behind
        y_hat = _check_grid(y_hat, "y_hat", width=self.width, computed=True)
        y = _check_grid(y, "y", width=self.width)
        if y.shape != y_hat.shape:
            raise ValueError(
                f"y_hat and y must have the same shape, got {y_hat.shape} and {y.shape}"
            )
        if len(y) == 0:
            raise ValueError("the batch is empty: y_hat and y have no images to average over")
        present = y[..., P_C]
        if not np.all((present == 0) | (present == 1)):
            raise ValueError("y[..., 0] (p_c) must be 0 or 1 in every cell and anchor")
        has_object = present == 1
        _check_grid_targets(y, has_object)
        return y_hat.astype(np.float64), y.astype(np.float64), has_object, y_hat.dtype


class SquaredGridLoss(GridLossBase):
    """The lecture's squared loss in every cell and anchor, summed over them, averaged over images:

        L(ŷ, y) = Σ_k (ŷ_k - y_k)²    over all K + 5 entries, where p_c = 1
        L(ŷ, y) = (ŷ_1 - y_1)²        only p_c, where p_c = 0

        dloss/dŷ_k = (2/N)(ŷ_k - y_k), or 0 for k > 1 where p_c = 0

    y_hat is the grid of lecture vectors itself (output: `GridVectors`), in encode_grid's units.
    """

    def __init__(self, num_classes):
        super().__init__(GridVectors(num_classes), num_classes)

    def forward(self, y_hat, y):
        y_hat, y, has_object, dtype = self._checked(y_hat, y)
        error = y_hat - y
        # Where p_c = 0, y's other entries are "don't care".
        error[..., 1:] = np.where(has_object[..., None], error[..., 1:], 0.0)
        self._cache = error, dtype
        return float(np.sum(error**2) / len(error))

    def backward(self):
        error, dtype = self._take_cache()
        return (2 * error / len(error)).astype(dtype)


class GridLoss(GridLossBase):
    """The practical loss in every cell and anchor, on the raw output of `GridOutput`'s
    parametrisation [t_o, t_x, t_y, t_h, t_w, z_1..z_K], summed over cells and anchors and
    averaged over images. Where p_c = 1:

        L = BCE(t_o, 1) + box_weight · [(σ(t_x) - b_x)² + (σ(t_y) - b_y)²
                                        + (t_h - log(b_h / a_h))² + (t_w - log(b_w / a_w))²]
            + class_weight · CE(z, c)

    and where p_c = 0:  L = no_object_weight · BCE(t_o, 0).

    The box is compared in the network's own terms: the midpoint after its σ, the size as the
    log of its ratio to the anchor, so that a box twice too large and one half too small cost the
    same. Gradient, divided by N:

        dL/dt_o = σ(t_o) - 1, or no_object_weight · σ(t_o) where p_c = 0
        dL/dt_x = 2 box_weight (σ(t_x) - b_x) σ(t_x)(1 - σ(t_x))         (t_y likewise)
        dL/dt_h = 2 box_weight (t_h - log(b_h / a_h))                    (t_w likewise)
        dL/dz   = class_weight (softmax(z) - c)

    Weights: box_weight = 5 as YOLO's λ_coord, for lesson 4's reason (box errors are small
    numbers next to cross-entropies of order 1). no_object_weight = 0.5 as YOLO's λ_noobj: most
    cells hold nothing, and at full weight their "no" would drown the few "yes" cells.
    class_weight = 1 as in the lecture.
    """

    def __init__(
        self, anchors, num_classes, box_weight=5.0, no_object_weight=0.5, class_weight=1.0
    ):
        super().__init__(GridOutput(anchors, num_classes), num_classes)
        self.anchors = self.output.anchors
        self.box_weight = real_number(box_weight, "box_weight", low=0.0)
        self.no_object_weight = real_number(no_object_weight, "no_object_weight", low=0.0)
        self.class_weight = real_number(class_weight, "class_weight", low=0.0)

    def forward(self, y_hat, y):
        y_hat, y, has_object, dtype = self._checked(y_hat, y)
        if y.shape[3] != len(self.anchors):
            raise ValueError(
                f"y_hat and y must have {len(self.anchors)} anchors (axis 3), got shape {y.shape}"
            )
        centre = sigmoid(y_hat[..., CENTRE])
        sizes = _anchor_sizes(self.anchors, y.shape)
        # Where p_c = 0 the targets are "don't care": put harmless values there before the log.
        target_sizes = np.where(has_object[..., None], y[..., SIZE], sizes)
        if np.any(target_sizes <= 0):
            raise ValueError("y[..., 3:5] (b_h, b_w) must be > 0 where p_c = 1")
        centre_error = np.where(has_object[..., None], centre - y[..., CENTRE], 0.0)
        size_error = np.where(
            has_object[..., None], y_hat[..., SIZE] - np.log(target_sizes / sizes), 0.0
        )
        classes = np.where(has_object[..., None], y[..., CLASSES], 0.0)
        logits = y_hat[..., CLASSES]
        log_sum_exp = logsumexp(logits, axis=-1)
        class_loss = np.where(has_object, log_sum_exp - np.sum(classes * logits, axis=-1), 0.0)
        presence_weight = np.where(has_object, 1.0, self.no_object_weight)
        per_vector = (
            presence_weight * binary_cross_entropy(y_hat[..., P_C], y[..., P_C])
            + self.box_weight * (np.sum(centre_error**2, axis=-1) + np.sum(size_error**2, axis=-1))
            + self.class_weight * class_loss
        )
        self._cache = (
            y_hat,
            y[..., P_C],
            presence_weight,
            centre,
            centre_error,
            size_error,
            classes,
            has_object,
            dtype,
        )
        return float(np.sum(per_vector) / len(y_hat))

    def backward(self):
        (
            y_hat,
            p_c,
            presence_weight,
            centre,
            centre_error,
            size_error,
            classes,
            has_object,
            dtype,
        ) = self._take_cache()
        d_y_hat = np.empty_like(y_hat)
        d_y_hat[..., P_C] = presence_weight * (sigmoid(y_hat[..., P_C]) - p_c)
        d_y_hat[..., CENTRE] = 2 * self.box_weight * centre_error * centre * (1 - centre)
        d_y_hat[..., SIZE] = 2 * self.box_weight * size_error
        class_gradient = self.class_weight * (softmax(y_hat[..., CLASSES]) - classes)
        d_y_hat[..., CLASSES] = np.where(has_object[..., None], class_gradient, 0.0)
        return (d_y_hat / len(y_hat)).astype(dtype)


# --- detection: the whole algorithm ----------------------------------------------------------


def detect(model, images, score_threshold=0.6, iou_threshold=0.5, batch_size=256):
    """The YOLO algorithm on images (N, C, H, W): a list of N dicts {"boxes": (M, 4),
    "scores": (M,), "labels": (M,)}, highest score first.

        1. y = model.predict(images): every cell's and anchor's lecture vector;
        2. score = p_c · c_k for its most likely class k; drop the vectors scoring below
           score_threshold (`decode_grid`);
        3. non-max suppression, once per class, at iou_threshold.

    The defaults are the lecture's: 0.6 and 0.5. To measure mAP, pass a low score_threshold
    (say 0.01): the precision-recall curve needs the unsure detections too.

    model must carry a grid's output map (`GridLoss`'s or `SquaredGridLoss`'s `output`), else a
    ValueError says how to build it.

    The grid must tile the image: decode_grid spreads the S x S cells over the whole image, so H
    and W must each be S times the network's stride, the number of pixels one cell moves on the
    image. That stride is the product of the strides of the model's convolutions and poolings
    (16 for `tinycnn.networks.detector`: four 2x2 poolings). Images whose sides are not a
    multiple of it raise a ValueError before the model runs; a grid of another size (say, from
    convolutions without padding) raises one after.
    """
    if not (hasattr(model, "predict") and hasattr(model, "layers")):
        hint = " (did you swap model and images?)" if isinstance(model, np.ndarray) else ""
        raise TypeError(
            f"model must be a tinycnn Sequential that outputs a grid, such as "
            f"tinycnn.networks.detector, got {type(model).__name__}{hint}"
        )
    if not isinstance(getattr(model, "output", None), (GridOutput, GridVectors)):
        raise ValueError(
            f"model.output must be a grid's output map (GridLoss's or SquaredGridLoss's), got "
            f"{getattr(model, 'output', None)!r}: build the detector with output=loss.output, "
            "e.g. tinycnn.networks.detector(output=GridLoss(anchors, 3).output)"
        )
    images = float_array(images, "images", ndim=4, layout="(N, C, H, W)")
    if not np.all(np.isfinite(images)):
        raise ValueError("images must be finite (no NaN or inf)")
    score_threshold = probability(score_threshold, "score_threshold")
    iou_threshold = probability(iou_threshold, "iou_threshold")
    first = model.layers[0] if model.layers else None
    channels = getattr(first, "in_channels", images.shape[1])
    if images.shape[1] != channels:
        raise ValueError(
            f"images must have {channels} channel{'s' * (channels != 1)} (images.shape[1]), as "
            f"the model's first layer {first!r} takes, got shape {images.shape}"
        )
    stride = network_stride(model)
    height, width = images.shape[2:]
    if height % stride or width % stride:
        raise ValueError(
            f"images must have a height and width that are multiples of {stride} (the network's "
            f"stride: one grid cell per {stride} x {stride} pixels), got {height} x {width}: "
            f"the grid would cover only part of the image. Crop or resize the images"
        )
    y = model.predict(images, batch_size=batch_size)
    if not isinstance(y, np.ndarray):
        raise TypeError(
            f"model must output a grid of vectors (N, S, S, B, 5 + K), a numpy array, got "
            f"{type(y).__name__}: is its output map one of tinycnn's?"
        )
    if y.ndim != 5:
        raise ValueError(
            f"model must output a grid of vectors (N, S, S, B, 5 + K), got {y.shape}: is it a "
            f"detector (tinycnn.networks.detector) with a grid output map?"
        )
    if (y.shape[1] * stride, y.shape[2] * stride) != (height, width):
        raise ValueError(
            f"the model's {y.shape[1]} x {y.shape[2]} grid at stride {stride} covers "
            f"{y.shape[1] * stride} x {y.shape[2] * stride} pixels, not the images' "
            f"{height} x {width}: the grid must tile the image"
        )
    y = _check_finite_grid(y, "the model's output (model.predict(images), from finite images)")
    detections = []
    for found in decode_grid(y, score_threshold):
        kept = non_max_suppression(
            found["boxes"], found["scores"], iou_threshold, score_threshold, labels=found["labels"]
        )
        detections.append({key: value[kept] for key, value in found.items()})
    return detections


def network_stride(model):
    """How many pixels of the image one step on the model's output grid moves: the product of
    the strides of its Conv2D, MaxPool2D and BatchNormReLUMaxPool2D layers, and both strides of a
    ConvReLUMaxPool2D (the only layers that shrink an image)."""
    if not isinstance(getattr(model, "layers", None), (list, tuple)):
        raise TypeError(
            f"model must be a tinycnn Sequential (a model with a list of layers), got "
            f"{type(model).__name__}"
        )
    stride = 1
    for layer in model.layers:
        if isinstance(layer, (Conv2D, MaxPool2D, BatchNormReLUMaxPool2D)):
            stride *= layer.stride
        if isinstance(layer, ConvReLUMaxPool2D):
            stride *= layer.pool_stride
    return stride


# --- argument checks -------------------------------------------------------------------------


def check_anchors(anchors):
    """anchors as a float64 array (B, 2) of (h, w) in (0, 1]; ValueError/TypeError if not."""
    array = as_array(anchors, "anchors")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"anchors must be an array of numbers, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise ValueError(
            f"anchors must have shape (B, 2), one (h, w) per anchor, got {array.shape}"
        )
    if not np.all((array > 0) & (array <= 1)):
        raise ValueError(
            f"anchors' (h, w) must be fractions of the image in (0, 1], got {array.tolist()}"
        )
    return array.astype(np.float64)


def check_per_image_boxes(per_image, name, scored, num_classes=None):
    """The one check of per-image boxes, for detections and truth alike: per_image must be a
    list of dicts, one per image, {"boxes": (M, 4), "labels": (M,) ints} and, if scored,
    "scores": (M,). Returns them as float64 boxes and scores and int64 labels; a TypeError or
    ValueError names the argument, the image and the key otherwise.

    Empty lists (`[]`) mean "no boxes". Everything must be finite; labels must be class indices,
    >= 0 and below num_classes if given. Boxes are fractions of the image, as `detect` returns
    them: midpoints in [0, 1] and sizes (b_h, b_w) >= 0, > 0 for the truth (objects in the
    image). Detections in pixels would match nothing and give an AP of 0 silently.
    """
    scored = flag(scored, "scored")
    if num_classes is not None:
        num_classes = positive_int(num_classes, "num_classes")
    keys = ["boxes", "labels", "scores"] if scored else ["boxes", "labels"]
    if not isinstance(per_image, (list, tuple)):
        raise TypeError(
            f"{name} must be a list of dicts with keys {keys}, one per image, got "
            f"{type(per_image).__name__}"
        )
    checked = []
    for index, scene in enumerate(per_image):
        where = f"{name}[{index}]"
        if not isinstance(scene, dict) or not set(keys) <= scene.keys():
            swapped = isinstance(scene, dict) and set(keys) - scene.keys() == {"scores"}
            hint = " (is it the truth? detections come first, then truth)" if swapped else ""
            raise TypeError(
                f"{where} must be a dict with keys {keys}, got {_describe(scene)}{hint}"
            )
        boxes = as_boxes(scene["boxes"], f"{where}['boxes']", ndim=2)
        if not np.all(np.isfinite(boxes)):
            raise ValueError(f"{where}['boxes'] must be finite (no NaN or inf)")
        if np.any((boxes[:, :2] < 0) | (boxes[:, :2] > 1)):
            hint = " (in pixels? divide by the image's side)" if np.any(boxes > 1.5) else ""
            raise ValueError(
                f"{where}['boxes'] midpoints must lie in [0, 1], as fractions of the image{hint}"
            )
        if not scored and np.any(boxes[:, 2:] == 0):  # as_boxes refused sizes < 0
            raise ValueError(f"{where}['boxes'] sizes (b_h, b_w) must be > 0")
        labels = as_array(scene["labels"], f"{where}['labels']")
        if labels.shape == (0,):
            labels = labels.astype(np.int64)  # [] is float64 to numpy, but holds no wrong label
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(
                f"{where}['labels'] must be integers (class indices), got dtype {labels.dtype}"
            )
        if labels.shape != (len(boxes),):
            raise ValueError(
                f"{where}['labels'] must have shape ({len(boxes)},), one per box, got "
                f"{labels.shape}"
            )
        if np.any(labels < 0) or (num_classes is not None and np.any(labels >= num_classes)):
            allowed = ">= 0" if num_classes is None else f"in 0..{num_classes - 1}"
            raise ValueError(f"{where}['labels'] must lie {allowed}, got {labels.tolist()}")
        scene_checked = {"boxes": boxes.astype(np.float64), "labels": labels.astype(np.int64)}
        if scored:
            scores = as_array(scene["scores"], f"{where}['scores']")
            if scores.shape == (0,):
                scores = scores.astype(np.float64)
            if not (
                np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)
            ):
                raise TypeError(
                    f"{where}['scores'] must be an array of numbers, got dtype {scores.dtype}"
                )
            if scores.shape != (len(boxes),):
                raise ValueError(
                    f"{where}['scores'] must have shape ({len(boxes)},), one per box, got "
                    f"{scores.shape}"
                )
            if not np.all(np.isfinite(scores)):
                raise ValueError(f"{where}['scores'] must be finite (no NaN or inf)")
            scene_checked["scores"] = scores.astype(np.float64)
        checked.append(scene_checked)
    return checked


def _box_shapes(shapes, name):
    """shapes as a float64 array (..., 2) of real numbers (h, w); TypeError or ValueError naming
    it."""
    array = real_array(shapes, name, "an array (..., 2) of real numbers (h, w)")
    if array.ndim == 0 or array.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (..., 2), one (h, w) per box, got {array.shape}")
    return array


def _describe(value):
    return f"dict with keys {sorted(value)}" if isinstance(value, dict) else type(value).__name__


def _check_grid(y, name, width=None, anchors=None, computed=False):
    """y (N, S, S, B, D) as a float array; a network's output (computed=True) must be float32 or
    float64, the dtypes tinycnn computes in."""
    if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.floating):
        raise TypeError(
            f"{name} must be a numpy float array, got {type(y).__name__} of dtype "
            f"{getattr(y, 'dtype', None)}"
        )
    if computed and y.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a numpy float array (float32 or float64), got {y.dtype}")
    if (
        y.ndim != 5
        or y.shape[-1] < 6
        or (width is not None and y.shape[-1] != width)
        or (anchors is not None and y.shape[3] != anchors)
    ):
        expected = (
            f"(N, S, S, {'B' if anchors is None else anchors}, "
            f"{'5 + K' if width is None else width})"
        )
        raise ValueError(f"{name} must be a grid of vectors {expected}, got shape {y.shape}")
    return y


def _check_grid_targets(y, has_object):
    """Where p_c = 1, y must hold what encode_grid writes: finite numbers, the midpoint's offsets
    (b_x, b_y) within the cell, in [0, 1], sizes (b_h, b_w) > 0 in cell units, and one-hot
    classes. A ValueError names the first vector that breaks a rule."""
    objects = y[has_object]
    rules = (
        (np.all(np.isfinite(objects), axis=1), "must be finite"),
        (
            np.all((objects[:, CENTRE] >= 0) & (objects[:, CENTRE] <= 1), axis=1),
            "must hold the midpoint's offsets (b_x, b_y) within its cell, in [0, 1]",
        ),
        (np.all(objects[:, SIZE] > 0, axis=1), "must hold sizes (b_h, b_w) > 0, in cell units"),
        (one_hot_rows(objects[:, CLASSES]), "must hold one-hot classes c_1..c_K"),
    )
    for valid, rule in rules:
        if not np.all(valid):
            first = np.flatnonzero(~valid)[0]
            image, row, column, anchor = np.argwhere(has_object)[first]
            raise ValueError(
                f"y {rule} where p_c = 1, found {objects[first].tolist()} at image {image}, "
                f"row {row}, column {column}, anchor {anchor}"
            )


def _check_finite_grid(y, name):
    """_check_grid, and a ValueError naming the first vector that holds a NaN or inf."""
    y = _check_grid(y, name)
    broken = np.argwhere(~np.all(np.isfinite(y), axis=-1))
    if len(broken):
        image, row, column, anchor = broken[0]
        raise ValueError(
            f"{name} must be finite, found NaN or inf in {len(broken)} vectors, the first at "
            f"image {image}, row {row}, column {column}, anchor {anchor}: "
            f"{y[image, row, column, anchor].tolist()}"
        )
    return y
