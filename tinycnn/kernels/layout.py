"""Batch planes: the memory layout that turns a convolution into long contiguous runs.

Each input channel of the whole batch becomes one flat vector: sample after sample, row after
row, every row `width` long and every sample `rows` rows tall, the pixels followed by zeros.
A pixel (n, y, x) sits at  lead + n*rows*width + y*width + x,  so output (n, i, j) at
q = n*rows*width + i*width + j reads tap (di, dj) at  q + di*width + dj + (a fixed shift):
one offset per tap, and consecutive outputs read consecutive inputs. The zeros after a row
serve as its right padding and as the next row's left padding; the zero rows after a sample
serve as its bottom padding and as the next sample's top padding. Outputs that land on those
zeros are computed too, and thrown away.

Stride s: every channel is first split into s*s phases, phase (a, b) holding the pixels
y = Y*s + a, x = X*s + b at (Y, X) ("space to depth"). Output (i, j) under tap (di, dj) reads
pixel (i*s + di - top, j*s + dj - left): phase ((di - top) % s, (dj - left) % s) at
(i + (di - top) // s, j + (dj - left) // s), a stride-1 correlation over s*s times the channels.
"""

from typing import NamedTuple

import numpy as np
from numba import njit, prange

VECTOR = 16  # runs are rounded up to whole AVX-512 float32 vectors; the planes end in that slack


@njit(cache=True)
def ceil_div(a, b):
    """The smallest integer >= a / b (b > 0)."""
    return -(-a // b)


@njit(cache=True)
def whole_vectors(n):
    """n rounded up to a multiple of VECTOR."""
    return ceil_div(n, VECTOR) * VECTOR


class Grid(NamedTuple):
    """Where a batch of planes lives: plane p, sample n, row y, column x at
    p*length + lead + n*rows*width + y*width + x."""

    rows: int
    width: int
    lead: int
    length: int


def plan_grid(shape, stride, row_shifts, col_shifts, out_h, out_w):
    """The grid for input `shape` (N, C, H, W) split into stride phases, and outputs (out_h, out_w)
    whose taps read phase rows i + row_shifts (columns j + col_shifts), zero outside the input."""
    n_samples, _, height, width = shape
    s = stride
    row_lo, row_hi = min(row_shifts), max(row_shifts)
    col_lo, col_hi = min(col_shifts), max(col_shifts)
    # Room for every output, and for the zero rows (columns) a window reads above (left of) the
    # first pixel, which are the previous sample's (row's) trailing zeros, and below (right).
    rows = max(ceil_div(height, s) + max(-row_lo, 0), out_h + max(row_hi, 0))
    row_width = max(ceil_div(width, s) + max(-col_lo, 0), out_w + max(col_hi, 0))
    lead = max(0, -(row_lo * row_width + col_lo))
    reach = max(0, row_hi * row_width + col_hi)
    length = lead + n_samples * rows * row_width + reach + VECTOR
    return Grid(int(rows), int(row_width), int(lead), int(length))


def tap_offsets(grid, taps, stride, top, left):
    """Offset of each tap (c, di, dj) into the planes: output (i, j) reads input pixel
    (i*s + di - top, j*s + dj - left), which is phase plane ((c*s + (di - top) % s)*s + ...)
    at row i + (di - top) // s, column j + (dj - left) // s."""
    c, di, dj = taps
    s = stride
    phase = (c * s + (di - top) % s) * s + (dj - left) % s
    row_shift, col_shift = (di - top) // s, (dj - left) // s
    return (phase * grid.length + grid.lead + row_shift * grid.width + col_shift).astype(np.int64)


@njit(cache=True, parallel=True)
def batch_planes(a, stride, rows, width, lead, length):
    """a (N, C, H, W) -> flat ((C*s*s + 1)*length,): phase (ya, xa) of channel c is the plane
    (c*s + ya)*s + xa, pixel (n, y, x) at its lead + n*rows*width + (y // s)*width + x // s;
    zeros everywhere else. The last plane is all zeros: the padding taps read it (taps.py)."""
    n_samples, channels, height, in_width = a.shape
    s = stride
    out = np.zeros((channels * s * s + 1) * length, a.dtype)
    for job in prange(channels * n_samples):
        c, n = job // n_samples, job % n_samples
        for y in range(height):
            src = a[n, c, y]
            for xa in range(s):
                plane = (c * s + y % s) * s + xa
                start = plane * length + lead + (n * rows + y // s) * width
                dest = out[start : start + width]
                # Explicit loops: faster than slice assignment on rows this short.
                for x in range((in_width - xa + s - 1) // s):
                    dest[x] = src[x * s + xa]
    return out
