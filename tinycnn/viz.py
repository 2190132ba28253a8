"""The pictures: scenes with boxes, faces with landmarks, training curves, filters, feature maps.

Every show_ and plot_ function returns a matplotlib Figure and, given `path`, also saves it there
as a PNG. The figures are made with matplotlib.figure.Figure, not pyplot: nothing is registered
with pyplot, so nothing stays open behind the caller's back, and the functions work on any
backend, with or without a display. Save or show the returned figure as you like (in a notebook,
`display(figure)`).

Colours keep one meaning throughout: green is the truth, red (dashed) is the prediction.

A diverged model still gets its picture: a NaN is shown as NaN, never as an answer. A NaN p_c or
is_face reads "p_c nan" or "is_face nan", NaN class scores "class nan", a box or points that are
not finite are named in the label ("box nan") instead of drawn, and NaN pixels, weights and
activations are painted in NAN_COLOUR, outside every colour scale.

`path` names the PNG file to write: ".png" is appended unless the name ends so (as
`tinycnn.io.save` appends ".npz"), a name ending in another image format's extension (".jpg",
".pdf", ...) is refused (save the returned figure yourself for those: `figure.savefig(...)`), and
so are a name ending in a separator, a .png that is a folder, and a file in a folder that does
not exist ("runs" writes runs.png beside a folder runs/). The file is written atomically, as
`tinycnn.io.save` writes.

One function draws onto axes you already have: `draw_boxes(ax, boxes)` puts boxes in the
lecture's centre format on the pixels they cover, however the image on `ax` was shown (imshow's
default extent, pixel edges, or fractions). The figures here draw their boxes with it too.
"""

import math
import os

import matplotlib
import numpy as np
from matplotlib.colors import is_color_like, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from tinycnn.boxes import as_boxes, center_to_corners
from tinycnn.checks import positive_int, probability, real_array, real_number
from tinycnn.data.scenes import CLASS_NAMES
from tinycnn.io import _check_writable, _path_text, _write_atomically
from tinycnn.targets import BOX, CLASSES, IS_FACE, P_C, POINTS

TRUE_COLOUR = "limegreen"
PREDICTED_COLOUR = "red"
_TRUE_TEXT = {"color": TRUE_COLOUR, "fontsize": 8}
_PREDICTED_TEXT = {"color": PREDICTED_COLOUR, "fontsize": 8}
SINGLE_IMAGE_WIDTH = 2.4
"""Inches: the narrowest figure for one column of images, so that its legend fits."""
IMAGE_RANGE_SLACK = 1e-3
"""How far outside [0, 1] a float image may stray (rounding) before it is refused."""
LANDMARK_LABELS = ("L", "R", "chin")
"""Short labels of targets.LANDMARK_NAMES: the image's left and right mouth corners, the chin.
Rows with another number of points have them numbered 1, 2, ..."""
NAN_COLOUR = "magenta"
"""The colour of a NaN pixel, weight or activation: on no colour scale, never taken for a value."""
MAX_PANELS = 256
"""The most images one figure draws: more are unreadable, and 10,000 took over 20 s to draw."""


def show_localization(
    images, y_true=None, y_pred=None, class_names=CLASS_NAMES, ncols=8, threshold=0.5, path=None
):
    """A grid of scenes with their true boxes (green) and predicted boxes (red, dashed).

    images (N, 1, H, W) or (N, H, W) in [0, 1]; y_true and y_pred (N, 5 + K) in the lecture's
    format [p_c, b_x, b_y, b_h, b_w, c_1..c_K], p_c and classes as probabilities (a squared loss's
    scores, which may stray outside [0, 1], are shown as they are: "car 1.06"). Above each image
    stands the true class in green; below it the predicted class and p_c in red ("car 0.98"), or
    "no object" where p_c < threshold. class_names: a list or tuple of K strings; threshold: a
    probability. NaN stays NaN: "p_c nan" for a NaN p_c, "class nan" for NaN class scores, and a
    box that cannot be drawn (NaN, infinite, or of negative size) is named, not drawn
    ("car 0.90, box nan").
    """
    class_names = _class_names(class_names)
    threshold = probability(threshold, "threshold")
    images = _grayscale_batch(images)
    expected = f"(N, 5 + len(class_names)) = ({len(images)}, {5 + len(class_names)})"
    y_true = _optional_rows(y_true, "y_true", (len(images), 5 + len(class_names)), expected)
    y_pred = _optional_rows(y_pred, "y_pred", (len(images), 5 + len(class_names)), expected)
    figure, axes = _image_grid(images, ncols)
    for index, ax in enumerate(axes):
        if y_true is not None:
            _draw_box(ax, y_true[index], threshold, TRUE_COLOUR, "-")
            ax.set_title(_scene_label(y_true[index], class_names, threshold), **_TRUE_TEXT)
        if y_pred is not None:
            _draw_box(ax, y_pred[index], threshold, PREDICTED_COLOUR, "--")
            label = _scene_label(y_pred[index], class_names, threshold, with_p_c=True)
            ax.set_xlabel(label, **_PREDICTED_TEXT)
    _legend(figure, axes, y_true is not None, y_pred is not None, "box", "-", "--")
    return _saved(figure, path)


def show_landmarks(images, y_true=None, y_pred=None, ncols=8, threshold=0.5, path=None):
    """A grid of portraits with their true (green dots) and predicted (red crosses) landmarks.

    images (N, 1, H, W) or (N, H, W) in [0, 1]; y_true and y_pred (N, 1 + 2 L) [is_face, x_1,
    y_1, ..., x_L, y_L], points as fractions of the image: the course's (N, 7) [is_face, x_left,
    y_left, x_right, y_right, x_chin, y_chin], or any number L of points (a
    `landmark_detector(num_landmarks=L)`'s). Three points are labelled L and R (the image's left
    and right mouth corners) and chin, other counts 1, 2, ...; a thin red line joins each
    predicted point to its true one. Points show where is_face >= threshold (a probability).
    NaN stays NaN: "is_face nan" for a NaN is_face, and points that are not finite are named in
    the label ("face 0.90, points nan") and left out of the picture.
    """
    threshold = probability(threshold, "threshold")
    images = _grayscale_batch(images)
    width = _landmark_width(y_true, y_pred)
    expected = f"(N, 1 + 2 L) = ({len(images)}, {width})"
    y_true = _optional_rows(y_true, "y_true", (len(images), width), expected)
    y_pred = _optional_rows(y_pred, "y_pred", (len(images), width), expected)
    figure, axes = _image_grid(images, ncols)
    for index, ax in enumerate(axes):
        true_points = predicted_points = None
        if y_true is not None:
            ax.set_title(_face_label(y_true[index], threshold), **_TRUE_TEXT)
            true_points = _landmark_points(ax, y_true[index], threshold)
        if y_pred is not None:
            ax.set_xlabel(_face_label(y_pred[index], threshold, with_score=True), **_PREDICTED_TEXT)
            predicted_points = _landmark_points(ax, y_pred[index], threshold)
        _draw_landmarks(ax, true_points, predicted_points)
    _legend(figure, axes, y_true is not None, y_pred is not None, "landmarks", "o", "x")
    return _saved(figure, path)


def show_worst(images, y_true, y_pred, errors, kind="localization", count=8, ncols=8, path=None):
    """The `count` images with the largest `errors`, largest first, with their truth and
    prediction drawn by `show_localization` (kind="localization") or `show_landmarks`
    (kind="landmarks"); each image's error stands in its title.

    errors (N,) holds one number per image, larger is worse (e.g. 1 - IoU, or a face's NME), and
    NaN where there is nothing to judge (an image without an object): those are never picked.
    Returns the Figure; its `worst` attribute holds the indices shown, in order.
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be 'localization' or 'landmarks', got {type(kind).__name__}")
    if kind not in ("localization", "landmarks"):
        raise ValueError(f"kind must be 'localization' or 'landmarks', got {kind!r}")
    count = positive_int(count, "count")
    images = _grayscale_batch(images)
    errors = real_array(errors, "errors")
    if errors.shape != (len(images),):
        raise ValueError(
            f"errors must have shape (N,) = ({len(images)},), one per image, got {errors.shape}"
        )
    judged = np.flatnonzero(~np.isnan(errors))
    if len(judged) == 0:
        raise ValueError("errors must hold at least one number that is not NaN")
    worst = judged[np.argsort(errors[judged], kind="stable")[::-1][:count]]
    show = show_localization if kind == "localization" else show_landmarks
    y_true, y_pred = _rows(y_true, "y_true", images, worst), _rows(y_pred, "y_pred", images, worst)
    figure = show(images[worst], y_true, y_pred, ncols=ncols)
    for ax, index in zip(image_axes(figure), worst, strict=True):
        ax.set_title(f"{ax.get_title()}  (error {errors[index]:.2f})", **_TRUE_TEXT)
    figure.worst = worst
    return _saved(figure, path)


def image_axes(figure):
    """The axes of a figure that show an image, in reading order."""
    return [ax for ax in figure.axes if ax.get_visible() and ax.images]


def draw_boxes(
    ax, boxes, colour=TRUE_COLOUR, linestyle="-", linewidth=1.5, texts=None, fontsize=7, **style
):
    """Draw boxes in the lecture's centre format onto `ax`, over the image it shows; returns the
    list of matplotlib Rectangles, one per box.

    boxes (4,) or (M, 4) [b_x, b_y, b_h, b_w], fractions of the image with (0, 0) at its top
    left. The boxes land on the pixels they cover whatever extent the image was shown with:
    imshow's default (pixel (i, j) covers [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]), pixel edges
    `extent=(0, W, H, 0)`, or fractions `extent=(0, 1, 1, 0)`. With the image's extent
    (left, right, bottom, top) a fraction maps to

        x = left + b_x (right - left)     y = top + b_y (bottom - top)

    (for an image shown with origin="lower", first row at the bottom, top and bottom swap).

    The image is the first one shown on `ax` (a heat map laid over it later does not count).
    Boxes must be finite with b_h, b_w >= 0; they may reach past the image. colour is one
    matplotlib colour for all boxes or a sequence of M, one per box. texts, if given, is one
    string for all boxes or a sequence of M strings, one per box (e.g. a score), written above the
    box's top-left corner (as seen on screen) in its colour, at `fontsize`; a corner off the image
    is moved onto the image's edge, so that the text still shows. Further keyword arguments go to
    Rectangle (e.g. fill=True, alpha=0.3).
    """
    if not hasattr(ax, "images") or not hasattr(ax, "add_patch"):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    if not ax.images:
        raise ValueError("ax shows no image: show one first (ax.imshow(image)), then draw boxes")
    for name in ("color", "edgecolor", "ec"):
        if name in style:
            raise TypeError(f"draw_boxes takes the boxes' colour as colour=, not {name}=")
    if linestyle is not None and not isinstance(linestyle, (str, tuple)):
        raise TypeError(
            f"linestyle must be a matplotlib line style (a string such as '--', a tuple "
            f"(offset, dashes), or None for matplotlib's default), got {type(linestyle).__name__}"
        )
    linewidth = real_number(linewidth, "linewidth", low=0.0)
    fontsize = real_number(fontsize, "fontsize", low=0.0, low_open=True)
    boxes = as_boxes(boxes)
    if boxes.ndim > 2:
        raise ValueError(f"boxes must have shape (4,) or (M, 4), got {boxes.shape}")
    boxes = boxes.reshape(-1, 4)
    if not np.all(np.isfinite(boxes)):
        raise ValueError("boxes must hold finite numbers, got NaN or infinity")
    if (boxes[:, 2:] < 0).any():
        raise ValueError(
            f"boxes must have sizes b_h, b_w >= 0, got {boxes[(boxes[:, 2:] < 0).any(axis=1)][0]}"
        )
    colours = _one_per_box(colour, "colour", len(boxes), is_color_like, "a matplotlib colour")
    if texts is not None:
        texts = _one_per_box(texts, "texts", len(boxes), _is_text, "a string")
    corners = _to_axes(ax, center_to_corners(boxes).reshape(-1, 2, 2)).reshape(-1, 4)
    x_min, y_min, x_max, y_max = corners.T
    patches = []
    for index, box_colour in enumerate(colours):
        rectangle = Rectangle(
            (x_min[index], y_min[index]),
            x_max[index] - x_min[index],
            y_max[index] - y_min[index],
            **{
                "fill": False,
                "edgecolor": box_colour,
                "facecolor": box_colour,
                "linestyle": linestyle,
                "linewidth": linewidth,
                **style,
            },
        )
        patches.append(ax.add_patch(rectangle))
        if texts is not None:
            ax.annotate(
                texts[index],
                _on_image(
                    ax, _top_left(ax, x_min[index], y_min[index], x_max[index], y_max[index])
                ),
                xytext=(0, 1.5),
                textcoords="offset points",
                va="bottom",
                color=box_colour,
                fontsize=fontsize,
                annotation_clip=False,  # matplotlib leaves out a text anchored off the axes
            )
    return patches


def _top_left(ax, x_min, y_min, x_max, y_max):
    """The corner of a box that appears at the top left on screen, however the axes are turned."""
    left = max(x_min, x_max) if ax.xaxis_inverted() else min(x_min, x_max)
    top = min(y_min, y_max) if ax.yaxis_inverted() else max(y_min, y_max)
    return left, top


def _is_text(value):
    return isinstance(value, str)


def _on_image(ax, point):
    """point (x, y) in data coordinates, moved onto the nearest edge of ax's image if outside."""
    left, right, bottom, top = ax.images[0].get_extent()
    x, y = point
    return (
        min(max(x, min(left, right)), max(left, right)),
        min(max(y, min(bottom, top)), max(bottom, top)),
    )


def _one_per_box(value, name, count, is_one, what):
    """value if it is one item (is_one(value)), repeated count times; else a sequence of count
    items (`what`, e.g. "a string")."""
    if is_one(value):
        return [value] * count
    if isinstance(value, (str, bytes, dict, set, frozenset)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be one value or a sequence of one per box, got {value!r}")
    if len(value) != count:
        raise ValueError(f"{name} must hold one item per box ({count}), got {len(value)}")
    for index, item in enumerate(value):
        if not is_one(item):
            raise TypeError(f"{name}[{index}] must be {what}, got {item!r}")
    return list(value)


def _to_axes(ax, points):
    """Points (..., 2) (x, y) as fractions of the image ax shows, y counted from the array's first
    row -> the same points in ax's data coordinates, by the image's extent (left, right, bottom,
    top): x -> left + x (right - left), y -> top + y (bottom - top); with origin="lower" the first
    row is drawn at the bottom, and y -> bottom + y (top - bottom)."""
    image = ax.images[0]
    left, right, bottom, top = image.get_extent()
    first_row, last_row = (bottom, top) if image.origin == "lower" else (top, bottom)
    start, span = [left, first_row], [right - left, last_row - first_row]
    return start + np.asarray(points, dtype=float) * span


def _rows(rows, name, images, indices):
    """rows[indices], or None for None; ValueError unless rows hold one row per image."""
    if rows is None:
        return None
    rows = real_array(rows, name)
    if rows.ndim != 2 or len(rows) != len(images):
        raise ValueError(
            f"{name} must hold one row per image, shape ({len(images)}, ...), got {rows.shape}"
        )
    return rows[indices]


def plot_history(history, path=None, ncols=3):
    """Training curves, one panel per quantity: history maps names to one value per epoch, as
    `tinycnn.train.fit` returns it, e.g. {"loss": [...], "val_loss": [...], "val_mean_iou": [...]}.

    A name and its "val_" twin share a panel ("loss" and "val_loss": training and validation), and
    every other metric gets a panel of its own, so that an NME of 0.03 does not look flat next to
    an accuracy of 1. The epochs are numbered 1, 2, ... on whole-number ticks. The loss panel uses
    a log scale when its values are positive and span more than a factor of 10.

    A value that is NaN or infinite (a diverged epoch) has no place on the curve: a cross in the
    curve's colour at the foot of the panel marks its epoch ("training: nan/inf" in the legend),
    and a panel with no finite value at all says so.
    """
    if not isinstance(history, dict) or not history:
        raise TypeError("history must be a non-empty dict of name -> list of values per epoch")
    panels = {}
    for name, values in history.items():
        curve = real_array(values, f"history[{name!r}]")
        if curve.ndim == 0:
            raise TypeError(
                f"history[{name!r}] must be a non-empty list of numbers, got "
                f"{type(values).__name__}"
            )
        if curve.ndim != 1 or len(curve) == 0:
            raise ValueError(f"history[{name!r}] must be a non-empty list of numbers")
        quantity = name.removeprefix("val_") if isinstance(name, str) else str(name)
        panels.setdefault(quantity, {})[name] = curve
    ncols = positive_int(ncols, "ncols")
    columns = min(ncols, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, (quantity, curves) in zip(axes, panels.items(), strict=False):
        for index, (name, values) in enumerate(curves.items()):
            label = "validation" if str(name).startswith("val_") else "training"
            epochs = np.arange(1, len(values) + 1)
            (line,) = ax.plot(epochs, values, marker="o", ms=3, label=label)
            broken = ~np.isfinite(values)
            if broken.any():
                ax.plot(
                    epochs[broken],
                    np.full(broken.sum(), 0.04 + 0.06 * index),
                    "x",
                    color=line.get_color(),
                    transform=ax.get_xaxis_transform(),  # x in epochs, y at the panel's foot
                    label=f"{label}: nan/inf",
                )
        values = np.concatenate(list(curves.values()))
        values = values[np.isfinite(values)]
        if len(values) == 0:
            ax.text(0.5, 0.5, "no finite value", transform=ax.transAxes, ha="center")
            ax.set_yticks([])
        elif "loss" in quantity and np.all(values > 0) and values.max() > 10 * values.min():
            _log_axis_with_plain_labels(ax)
        elif "loss" not in quantity and np.all((values >= 0) & (values <= 1)):
            _keep_within_0_and_1(ax)
        if max(len(curve) for curve in curves.values()) == 1:
            ax.set_xlim(0.5, 1.5)  # else matplotlib spans 0.945 to 1.055
        # min_n_ticks=1: one whole epoch is enough (the default 2 falls back to tenths).
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_title(quantity.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return _saved(figure, path)


def _keep_within_0_and_1(ax):
    """A share (an accuracy, a rate) never shows axis ticks above 1 or below 0, even when it is
    flat at 1 and matplotlib would centre the line between 0.96 and 1.04."""
    low, high = ax.get_ylim()
    low, high = max(low, 0.0), min(high, 1.0)
    margin = 0.02 * max(high - low, 0.01)
    ax.set_ylim(low - margin, high + margin)


def _log_axis_with_plain_labels(ax):
    """A log y axis labelled 0.01, 0.02, 0.05, 0.1, ... (not only at powers of 10)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def show_filters(weights, path=None):
    """Convolution weights (C_out, C_in, k, k) as k x k tiles: red is positive, blue negative,
    white zero, on one colour scale for all.

    Single-channel filters (C_in = 1), like a first layer's on grayscale images, are shown one
    tile per filter, numbered; otherwise as a mosaic, one row per filter (output channel) and one
    column per input channel. The scale reaches the largest finite |weight|; a NaN weight is
    painted in NAN_COLOUR and counted in the title, an infinite one in the scale's end colour.
    """
    weights = real_array(weights, "weights")
    if weights.ndim != 4:
        raise ValueError(f"weights must have shape (C_out, C_in, k, k), got {weights.shape}")
    if weights.size == 0:
        raise ValueError(f"weights must hold at least one weight, got shape {weights.shape}")
    out_channels, in_channels, kernel_height, kernel_width = weights.shape
    finite = np.abs(weights[np.isfinite(weights)])
    largest = (finite.max() if finite.size else 0.0) or 1.0
    # matplotlib paints infinity as it paints NaN: clip it to the scale's end instead.
    weights = np.clip(weights, -largest, largest)
    cmap = _with_nan_colour("RdBu_r")
    if in_channels == 1:
        figure, axes = _image_grid(
            weights[:, 0], 8, cmap=cmap, vmin=-largest, vmax=largest, name="weights"
        )
        for index, ax in enumerate(axes):
            ax.set_title(f"filter {index}", fontsize=7)
        shown, tiled_axes = axes[0].images[0], axes
    else:
        figure = Figure(
            figsize=(min(12, 2.5 + 0.4 * in_channels), min(12, 1.2 + 0.4 * out_channels)),
            layout="constrained",
        )
        ax = tiled_axes = figure.subplots()
        mosaic = _mosaic(weights)
        shown = ax.imshow(mosaic, cmap=cmap, vmin=-largest, vmax=largest, interpolation="nearest")
        # The gaps between tiles in grey, over the NaN that keeps them off the colour scale.
        gaps = np.zeros((*mosaic.shape, 4))
        gaps[_mosaic(np.zeros(weights.shape), gap=1.0) == 1] = to_rgba("0.3")
        ax.imshow(gaps, interpolation="nearest")
        tile_height, tile_width = kernel_height + 1, kernel_width + 1
        ax.set_xticks(*_ticks(in_channels, tile_width))
        ax.set_yticks(*_ticks(out_channels, tile_height))
        ax.tick_params(length=0, labelsize=7)
        ax.set_xlabel("input channel")
        ax.set_ylabel("output channel (filter)")
    nan_count = int(np.isnan(weights).sum())
    nan_note = f"\nNaN weights ({nan_count}) in {NAN_COLOUR}" if nan_count else ""
    if nan_count:  # room for the title's second line
        figure.set_figheight(figure.get_figheight() + 0.3)
    figure.suptitle(
        f"{out_channels} filters of {in_channels} x {kernel_height} x {kernel_width}{nan_note}"
    )
    figure.colorbar(shown, ax=tiled_axes, shrink=0.8, label="weight")
    return _saved(figure, path)


def show_feature_maps(maps, ncols=8, path=None):
    """One image's activations (C, H, W) as a grid of C small images, each on its own grey scale
    (black = that channel's lowest finite value, white = its highest). A NaN activation is painted
    in NAN_COLOUR, and its channel's title says "nan"; an infinite one in black or white."""
    maps = real_array(maps, "maps")
    if maps.ndim != 3:
        raise ValueError(
            "maps must have shape (C, H, W), one image's activations (e.g. activations[0]), "
            f"got {maps.shape}"
        )
    if maps.size == 0:
        raise ValueError(f"maps must hold at least one channel of pixels, got shape {maps.shape}")
    low, high = np.zeros(len(maps)), np.ones(len(maps))
    for channel, values in enumerate(maps):
        finite = values[np.isfinite(values)]
        if finite.size:
            low[channel], high[channel] = finite.min(), finite.max()
    # matplotlib paints infinity as it paints NaN: clip it to the channel's black or white.
    maps = np.clip(maps, low[:, None, None], high[:, None, None])
    figure, axes = _image_grid(maps, ncols, name="maps")
    for channel, ax in enumerate(axes):
        ax.images[0].set_clim(low[channel], high[channel])
        nan_note = ", nan" if np.isnan(maps[channel]).any() else ""
        ax.set_title(f"channel {channel}{nan_note}", fontsize=7)
    figure.suptitle(f"{len(maps)} feature maps of {maps.shape[1]} x {maps.shape[2]}")
    return _saved(figure, path)


def _image_grid(images, ncols, cmap="gray", vmin=0.0, vmax=1.0, name="images"):
    """A figure with images (N, H, W) shown in a grid of ncols columns, in pixel coordinates:
    pixel (row i, column j) covers [j, j + 1) x [i, i + 1), as in the datasets.
    Returns the figure and the N axes that hold an image. `name` is the argument the images came
    from, for the messages."""
    ncols = positive_int(ncols, "ncols")
    if len(images) == 0:
        raise ValueError(f"{name} must hold at least one image")
    if len(images) > MAX_PANELS:
        raise ValueError(
            f"{name} holds {len(images)} images, more than one figure shows readably (at most "
            f"{MAX_PANELS}): pass a slice, e.g. {name}[:64]"
        )
    columns = min(ncols, len(images))
    rows = math.ceil(len(images) / columns)
    figure = Figure(figsize=(1.7 * columns, 2.1 * rows + 0.4), layout="constrained")
    # Room between rows, so that each label stays with its own image.
    figure.get_layout_engine().set(hspace=0.06)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    height, width = images.shape[1:]
    cmap = _with_nan_colour(cmap)
    for ax, image in zip(axes, images, strict=False):
        ax.imshow(
            image,
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            extent=(0, width, height, 0),
            interpolation="nearest",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        # Points and boxes drawn later must not widen the view past the image.
        ax.set_autoscale_on(False)
    for ax in axes[len(images) :]:
        ax.set_visible(False)
    return figure, axes[: len(images)]


def _with_nan_colour(cmap):
    """The colour map named (or given) with NaN painted in NAN_COLOUR."""
    if isinstance(cmap, str):
        cmap = matplotlib.colormaps[cmap]
    return cmap.with_extremes(bad=NAN_COLOUR)


def _draw_box(ax, row, threshold, colour, linestyle):
    """Draw the box of a lecture row [p_c, b_x, b_y, b_h, b_w, ...] if p_c >= threshold and the
    box can be drawn (_box_fault names it otherwise)."""
    if row[P_C] >= threshold and _box_fault(row[BOX]) is None:
        draw_boxes(ax, row[BOX], colour, linestyle=linestyle)


def _scene_label(row, class_names, threshold, with_p_c=False):
    """ "car", or "car 0.98" with p_c, or "no object" where p_c < threshold; "p_c nan" where p_c
    is NaN, "class nan" where a class score is, and ", box nan" after the class where the box
    cannot be drawn."""
    if np.isnan(row[P_C]):
        return "p_c nan"
    if row[P_C] < threshold:
        return "no object"
    scores = row[CLASSES]
    name = "class nan" if np.isnan(scores).any() else class_names[int(np.argmax(scores))]
    label = f"{name} {row[P_C]:.2f}" if with_p_c else name
    fault = _box_fault(row[BOX])
    return label if fault is None else f"{label}, box {fault}"


def _box_fault(box):
    """Why a box [b_x, b_y, b_h, b_w] cannot be drawn ("nan", "inf", "size < 0"), or None."""
    if np.isnan(box).any():
        return "nan"
    if np.isinf(box).any():
        return "inf"
    if (box[2:] < 0).any():
        return "size < 0"
    return None


def _landmark_width(y_true, y_pred):
    """The width 1 + 2 L of the landmark rows given (7 if none is): the first one's, which must
    be 3, 5, 7, ...; _optional_rows then holds the other to it."""
    for name, rows in (("y_true", y_true), ("y_pred", y_pred)):
        if rows is None:
            continue
        shape = real_array(rows, name).shape
        if len(shape) != 2 or shape[1] < 3 or shape[1] % 2 == 0:
            raise ValueError(
                f"{name} must have shape (N, 1 + 2 L): is_face and L points (x, y), e.g. "
                f"(N, 7) for three points, got {shape}"
            )
        return shape[1]
    return 1 + 2 * len(LANDMARK_LABELS)


def _face_label(row, threshold, with_score=False):
    """ "face", or "face 0.97" with is_face, or "no face" where is_face < threshold; "is_face nan"
    where is_face is NaN, and ", points nan" (or inf) where a point is not finite."""
    if np.isnan(row[IS_FACE]):
        return "is_face nan"
    if row[IS_FACE] < threshold:
        return "no face"
    label = f"face {row[IS_FACE]:.2f}" if with_score else "face"
    points = row[POINTS]
    if np.isnan(points).any():
        return f"{label}, points nan"
    if np.isinf(points).any():
        return f"{label}, points inf"
    return label


def _landmark_points(ax, row, threshold):
    """The L points (L, 2) of a landmark row, placed on ax's image (a point that is not finite
    as NaN, which matplotlib leaves out), or None where is_face < threshold or is NaN."""
    if not row[IS_FACE] >= threshold:
        return None
    points = row[POINTS].reshape(-1, 2)
    points = np.where(np.isfinite(points).all(axis=1, keepdims=True), points, np.nan)
    return _to_axes(ax, points)


def _draw_landmarks(ax, true_points, predicted_points):
    """Green dots for the truth, red crosses for the prediction, lines between, and names."""
    if true_points is not None and predicted_points is not None:
        for (true_x, true_y), (predicted_x, predicted_y) in zip(
            true_points, predicted_points, strict=True
        ):
            ax.plot([true_x, predicted_x], [true_y, predicted_y], color=PREDICTED_COLOUR, lw=0.6)
    if true_points is not None:
        ax.plot(*true_points.T, "o", color=TRUE_COLOUR, ms=3.5, mec="black", mew=0.4)
    if predicted_points is not None:
        ax.plot(*predicted_points.T, "x", color=PREDICTED_COLOUR, ms=5, mew=1.5)
    # Name the true points where there are some, else the predicted ones.
    named_points, colour = true_points, TRUE_COLOUR
    if named_points is None:
        named_points, colour = predicted_points, PREDICTED_COLOUR
    if named_points is not None:
        names = LANDMARK_LABELS if len(named_points) == len(LANDMARK_LABELS) else None
        for index, point in enumerate(named_points):
            if np.isnan(point).any():
                continue
            ax.annotate(
                names[index] if names else str(index + 1),
                point,
                xytext=(3, -3),
                textcoords="offset points",
                fontsize=6,
                color=colour,
                fontweight="bold",
            )


def _legend(figure, axes, has_truth, has_prediction, what, true_style, predicted_style):
    """A legend above the grid saying which colour is the truth and which the prediction: side by
    side over a grid of two columns or more, stacked over a single image, whose figure is widened
    to fit it."""
    handles = []
    if has_truth:
        handles.append(_legend_handle(TRUE_COLOUR, true_style, f"true {what}"))
    if has_prediction:
        handles.append(_legend_handle(PREDICTED_COLOUR, predicted_style, f"predicted {what}"))
    if handles:
        single_column = len({ax.get_subplotspec().colspan.start for ax in axes}) == 1
        if single_column:
            figure.set_figwidth(max(figure.get_figwidth(), SINGLE_IMAGE_WIDTH))
        figure.legend(
            handles=handles,
            loc="outside upper center",
            fontsize=8,
            frameon=False,
            ncols=1 if single_column else len(handles),
        )


def _legend_handle(colour, style, label):
    if style in ("-", "--"):
        return Line2D([], [], color=colour, linestyle=style, linewidth=1.5, label=label)
    return Line2D([], [], color=colour, marker=style, linestyle="none", label=label)


def _mosaic(tiles, gap=np.nan):
    """Tiles (R, C, h, w) -> one (R (h + 1) - 1, C (w + 1) - 1) image with gaps (NaN) between."""
    rows, columns, height, width = tiles.shape
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), gap)
    for row in range(rows):
        for column in range(columns):
            top, left = row * (height + 1), column * (width + 1)
            mosaic[top : top + height, left : left + width] = tiles[row, column]
    return mosaic


def _ticks(count, tile_size):
    """Tick positions at the centres of count mosaic tiles (tile_size pixels apart), and labels."""
    indices = range(0, count, 1 if count <= 16 else 4)
    positions = [index * tile_size + (tile_size - 2) / 2 for index in indices]
    return positions, [str(index) for index in indices]


def _saved(figure, path):
    """figure, written to path as a PNG first if path is given (see the module's docstring)."""
    if path is not None:
        target = _png_path(figure, path)
        _check_writable(path, target, "figure.png")  # "runs" writes runs.png, as io.save
        _write_atomically(target, path, lambda file: figure.savefig(file, format="png", dpi=120))
    return figure


def _png_path(figure, path):
    """path as a str ending in ".png" (appended if it ends otherwise); ValueError for a name
    ending in another format's extension, which would not hold a PNG."""
    path = _path_text(path)
    extension = os.path.splitext(path)[1].lower()
    if extension == ".png":
        return path
    if extension[1:] in figure.canvas.get_supported_filetypes():
        raise ValueError(
            f"path {path!r} ends in {extension}, but tinycnn.viz writes PNG files: give a name "
            f"ending in .png, or save the returned figure yourself, figure.savefig({path!r})"
        )
    return path + ".png"


def _grayscale_batch(images):
    """images (N, 1, H, W) or (N, H, W), floats in [0, 1] or uint8 in 0..255 -> (N, H, W) floats
    in [0, 1]. Any other range is refused rather than drawn as a blank white or black grid; NaN
    pixels are kept (_image_grid paints them in NAN_COLOUR)."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        images = images / 255.0
    elif isinstance(images, np.ndarray) and np.issubdtype(images.dtype, np.integer):
        raise TypeError(
            f"images must be floats in [0, 1] or uint8 in 0..255, got dtype {images.dtype}: "
            "convert them, e.g. images.astype(np.float32) / 255"
        )
    images = real_array(images, "images")
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, 1, H, W) or (N, H, W), got {images.shape}")
    values = images[~np.isnan(images)]
    if values.size and not (
        values.min() >= -IMAGE_RANGE_SLACK and values.max() <= 1 + IMAGE_RANGE_SLACK
    ):
        raise ValueError(
            f"images must be floats in [0, 1] (or uint8 in 0..255), got values from "
            f"{values.min():g} to {values.max():g}: scale them into [0, 1] first, e.g. "
            "images / 255 for 0..255"
        )
    return images


def _class_names(class_names):
    """class_names as a tuple; TypeError unless it is a non-empty list or tuple of strings."""
    if not isinstance(class_names, (list, tuple)) or not all(
        isinstance(name, str) for name in class_names
    ):
        raise TypeError(
            f"class_names must be a list or tuple of strings, one per class, got {class_names!r}"
        )
    if not class_names:
        raise ValueError("class_names must name at least one class, got an empty sequence")
    return tuple(class_names)


def _optional_rows(rows, name, shape, expected):
    """None, or rows as a float array of the given shape."""
    if rows is None:
        return None
    rows = real_array(rows, name)
    if rows.shape != shape:
        raise ValueError(f"{name} must have shape {expected}, got {rows.shape}")
    return rows
