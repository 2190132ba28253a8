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


class Grid(NamedTuple):
    """Where a batch of planes lives: plane p, sample n, row y, column x at
    p*length + lead + n*rows*width + y*width + x."""

    rows: int
    width: int
    lead: int
    length: int


def tap_grid(shape, taps, stride, top, left, out_h, out_w):
    """The grid a correlation needs, and each tap's offset into the planes.

    shape: the input's (N, C, H, W); taps: arrays (c, di, dj) of the taps used; output (i, j)
    reads input pixel (i*s + di - top, j*s + dj - left), zero outside the input.
    """
    n_samples, _, height, width = shape
    c, di, dj = taps
    s = stride
    row_shift, col_shift = (di - top) // s, (dj - left) // s
    phase = (c * s + (di - top) % s) * s + (dj - left) % s
    # Room for every output, for the zero rows (columns) a window reads above (left of) the
    # first pixel, which are the previous sample's (row's) trailing zeros, and below (right).
    rows = max(-(-height // s) + max(-row_shift.min(), 0), out_h + max(row_shift.max(), 0))
    row_width = max(-(-width // s) + max(-col_shift.min(), 0), out_w + max(col_shift.max(), 0))
    lead = max(0, -(row_shift.min() * row_width + col_shift.min()))
    reach = max(0, row_shift.max() * row_width + col_shift.max())
    length = lead + n_samples * rows * row_width + reach + VECTOR
    grid = Grid(int(rows), int(row_width), int(lead), int(length))
    offsets = phase * length + lead + row_shift * row_width + col_shift
    return grid, offsets.astype(np.int64)


@njit(cache=True, parallel=True)
def batch_planes(a, stride, rows, width, lead, length):
    """a (N, C, H, W) -> flat (C*s*s*length,): phase (ya, xa) of channel c is plane (c*s + ya)*s + xa,
    pixel (n, y, x) at its lead + n*rows*width + (y // s)*width + x // s; zeros everywhere else."""
    n_samples, channels, height, in_width = a.shape
    s = stride
    out = np.zeros(channels * s * s * length, a.dtype)
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
