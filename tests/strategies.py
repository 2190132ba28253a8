"""Shared hypothesis strategies: boxes, lecture-format targets and network outputs."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

GRID = 64
"""Dyadic grid: multiples of 1/64 add, halve and subtract exactly in floating point."""


def grid_fractions(low=0, high=GRID):
    """Multiples of 1/GRID from low/GRID to high/GRID, exact in float32 and float64."""
    return st.integers(low, high).map(lambda step: step / GRID)


@st.composite
def centre_boxes(draw, min_size=1e-3):
    """One box [b_x, b_y, b_h, b_w] (4,) float64 inside [0, 1], with sizes >= min_size."""
    centre = draw(st.lists(st.floats(0, 1), min_size=2, max_size=2))
    size = draw(st.lists(st.floats(min_size, 1), min_size=2, max_size=2))
    return np.array(centre + size)


@st.composite
def grid_boxes(draw):
    """One box [b_x, b_y, b_h, b_w] on the dyadic grid, positive size, corners on the grid too."""
    x_min, y_min = draw(grid_fractions(0, GRID - 1)), draw(grid_fractions(0, GRID - 1))
    width = draw(grid_fractions(1, GRID - round(x_min * GRID)))
    height = draw(grid_fractions(1, GRID - round(y_min * GRID)))
    return np.array([x_min + width / 2, y_min + height / 2, height, width])


def junk():
    """Anything at all, for the "don't care" entries of a target: NaN and inf included."""
    return st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def localization_targets(draw, num_classes, min_rows=1, max_rows=6, junk_when_empty=False):
    """Targets (N, K+5) float64: p_c = 1 rows with a box inside the image and a one-hot class,
    p_c = 0 rows all zeros, or holding junk after p_c if junk_when_empty."""
    n = draw(st.integers(min_rows, max_rows))
    y = np.zeros((n, 5 + num_classes))
    for row in range(n):
        if draw(st.booleans()):
            y[row, 0] = 1.0
            y[row, 1:5] = draw(centre_boxes())
            y[row, 5 + draw(st.integers(0, num_classes - 1))] = 1.0
        elif junk_when_empty:
            y[row, 1:] = draw(st.lists(junk(), min_size=4 + num_classes, max_size=4 + num_classes))
    return y


@st.composite
def landmark_targets(draw, num_landmarks=3, min_rows=1, max_rows=6, junk_when_empty=False):
    """Targets (N, 1+2L) float64: is_face = 1 rows with points in [0, 1], is_face = 0 rows all
    zeros, or holding junk after is_face if junk_when_empty."""
    n = draw(st.integers(min_rows, max_rows))
    width = 1 + 2 * num_landmarks
    y = np.zeros((n, width))
    for row in range(n):
        if draw(st.booleans()):
            y[row, 0] = 1.0
            y[row, 1:] = draw(st.lists(st.floats(0, 1), min_size=width - 1, max_size=width - 1))
        elif junk_when_empty:
            y[row, 1:] = draw(st.lists(junk(), min_size=width - 1, max_size=width - 1))
    return y


def raw_outputs(rows, width, bound=10.0, dtype=np.float64):
    """A network's raw output (rows, width): finite numbers in [-bound, bound]."""
    return arrays(
        dtype, (rows, width), elements=st.floats(-bound, bound, width=np.dtype(dtype).itemsize * 8)
    )


@st.composite
def conv_geometries(draw, max_kernel=5, max_size=9, max_in=3, max_out=6, max_batch=2):
    """One convolution's geometry: kernel 1..max_kernel, stride 1-3, padding 0..k-1, non-square
    images up to max_size with room for at least one window, as a dict of n, c_in, c_out,
    hw (H, W), k, stride, padding."""
    k = draw(st.integers(1, max_kernel))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, k - 1))
    height = draw(st.integers(max(1, k - 2 * padding), max_size))
    width = draw(st.integers(max(1, k - 2 * padding), max_size))
    return {
        "n": draw(st.integers(1, max_batch)),
        "c_in": draw(st.integers(1, max_in)),
        "c_out": draw(st.integers(1, max_out)),
        "hw": (height, width),
        "k": k,
        "stride": stride,
        "padding": padding,
    }
