"""Shapes as masks on a pixel grid: the pencil every drawn dataset draws with.

A shape is a boolean mask, True where a pixel's centre lies inside the shape. Coordinates are in
pixel units, x to the right and y down: pixel (row i, column j) covers the square [j, j + 1) x
[i, i + 1), so its centre is (j + 0.5, i + 0.5), and an image of size S spans [0, S) both ways.

Every function broadcasts. With `xs, ys = pixel_grid(S)`, of shapes (1, 1, S) and (1, S, 1), and
shape parameters of shape (N, 1, 1), one value per image (see `per_image`), one call draws one
shape in each of N images at once and returns (N, S, S) masks. Drawing a batch with a few dozen
array operations, instead of a Python loop over images, is what makes 10,000 images take seconds.
"""

import numpy as np


def pixel_grid(size):
    """Pixel-centre coordinates: xs of shape (1, 1, size) and ys of shape (1, size, 1)."""
    centres = np.arange(size, dtype=np.float32) + np.float32(0.5)
    return centres.reshape(1, 1, size), centres.reshape(1, size, 1)


def per_image(values):
    """Shape (N,) -> (N, 1, 1) float32, so that one value per image broadcasts over its pixels."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


def to_frame(dx, dy, angle):
    """Offsets (dx, dy) from a centre -> coordinates (u, v) along axes turned by `angle` radians.

    With y pointing down, a positive angle turns the axes clockwise on the screen.
    """
    cos, sin = np.cos(angle), np.sin(angle)
    return cos * dx + sin * dy, cos * dy - sin * dx


def from_frame(u, v, angle):
    """The inverse of `to_frame`: coordinates (u, v) in the turned frame -> offsets (dx, dy)."""
    cos, sin = np.cos(angle), np.sin(angle)
    return cos * u - sin * v, sin * u + cos * v


def ellipse(xs, ys, cx, cy, rx, ry, angle=None):
    """Filled ellipse: centre (cx, cy), semi-axes rx and ry, turned by `angle` radians (None:
    rx along x and ry along y, with no turning to compute)."""
    u, v = xs - cx, ys - cy
    if angle is not None:
        u, v = to_frame(u, v, angle)
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


def disk(xs, ys, cx, cy, radius):
    """Filled circle: centre (cx, cy) and radius."""
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2


def ring(xs, ys, cx, cy, outer_radius, inner_radius):
    """Circle outline: the pixels between two radii around (cx, cy)."""
    squared_distance = (xs - cx) ** 2 + (ys - cy) ** 2
    return (squared_distance <= outer_radius**2) & (squared_distance >= inner_radius**2)


def rectangle(xs, ys, left, top, right, bottom):
    """Axis-aligned filled rectangle [left, right] x [top, bottom]."""
    return (xs >= left) & (xs <= right) & (ys >= top) & (ys <= bottom)


def turned_rectangle(xs, ys, cx, cy, half_width, half_height, angle):
    """Filled rectangle: centre (cx, cy), half side lengths, turned by `angle` radians."""
    u, v = to_frame(xs - cx, ys - cy, angle)
    return (np.abs(u) <= half_width) & (np.abs(v) <= half_height)


def trapezoid(xs, ys, top, bottom, top_left, top_right, bottom_left, bottom_right):
    """Filled trapezoid between rows `top` and `bottom`, its sides straight lines: the left one
    from (top_left, top) to (bottom_left, bottom), the right one from (top_right, top) to
    (bottom_right, bottom).
    """
    # How far down the trapezoid each row is, from 0 at its top to 1 at its bottom.
    depth = (ys - top) / (bottom - top)
    left = top_left + depth * (bottom_left - top_left)
    right = top_right + depth * (bottom_right - top_right)
    return (depth >= 0.0) & (depth <= 1.0) & (xs >= left) & (xs <= right)


def segment(xs, ys, x0, y0, x1, y1, thickness):
    """Thick straight line from (x0, y0) to (x1, y1) with round ends: the pixels closer to the
    segment than thickness / 2."""
    along_x, along_y = x1 - x0, y1 - y0
    # Where each pixel's closest point on the segment lies: 0 at its start, 1 at its end.
    position = ((xs - x0) * along_x + (ys - y0) * along_y) / (along_x**2 + along_y**2)
    position = np.clip(position, 0.0, 1.0)
    squared_distance = (xs - x0 - position * along_x) ** 2 + (ys - y0 - position * along_y) ** 2
    return squared_distance <= (thickness / 2) ** 2


def paint(images, mask, tone):
    """Set the pixels of `mask` to `tone` (a number, or (N, 1, 1) per image), in place."""
    np.copyto(images, np.broadcast_to(tone, images.shape), where=mask)


def tight_boxes(masks):
    """(N, H, W) masks -> (N, 4) float32 corner boxes [x_min, y_min, x_max, y_max] in pixel units.

    The box runs along pixel boundaries: x_min is the first column holding a mask pixel and x_max
    is one past the last, so the box covers exactly the columns (and rows) the shape touches.
    An empty mask gets the box [0, 0, 0, 0].
    """
    columns_used = masks.any(axis=1)
    rows_used = masks.any(axis=2)
    boxes = np.stack(
        [
            columns_used.argmax(axis=1),
            rows_used.argmax(axis=1),
            masks.shape[2] - columns_used[:, ::-1].argmax(axis=1),
            masks.shape[1] - rows_used[:, ::-1].argmax(axis=1),
        ],
        axis=1,
    ).astype(np.float32)
    boxes[~columns_used.any(axis=1)] = 0.0
    return boxes
