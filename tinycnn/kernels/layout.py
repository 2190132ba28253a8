"""Flat planes: the memory layout that turns a convolution into long contiguous runs.

A padded image plane of `rows` x `width` pixels is stored row after row in one flat vector. The
pixel under tap (di, dj) of output (i, j) then sits at  (i*width + j) + (di*width + dj):
one fixed offset per tap, so a run of consecutive outputs reads a run of consecutive inputs
(the columns past the last output of a row are computed too, and thrown away).

Stride s: the padded plane is first split into s*s phase planes, phase (a, b) holding the rows
a, a+s, a+2s, ... and the columns b, b+s, ... ("space to depth"). Output (i, j) under tap
(di, dj) reads padded pixel (i*s + di, j*s + dj), which is pixel (i + di//s, j + dj//s) of
phase (di % s, dj % s): a stride-s convolution becomes a stride-1 one over s*s times the channels.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def to_flat_planes(a, pad, stride, rows, width):
    """a (N, C, H, W) -> (N, C*s*s*rows*width), zero-padded by `pad` and split into s*s phases.

    With Y = y + pad, X = x + pad:  a[n, c, y, x] lands in phase plane (c*s + Y % s)*s + X % s
    at row Y // s, column X // s. Pixels beyond rows x width are left out (no window reads them).
    """
    n_samples, channels, height, in_width = a.shape
    s = stride
    plane = rows * width
    out = np.zeros((n_samples, channels * s * s * plane), a.dtype)
    for nc in prange(n_samples * channels):
        n = nc // channels
        c = nc % channels
        for y in range(height):
            row = (y + pad) // s
            if row >= rows:
                break
            for b in range(s):
                x0 = (b - pad) % s  # first column x with (x + pad) % s == b
                col0 = (x0 + pad) // s
                count = min((in_width - x0 + s - 1) // s, width - col0)
                if count > 0:
                    start = (((c * s + (y + pad) % s) * s + b) * rows + row) * width + col0
                    out[n, start : start + count] = a[n, c, y, x0 : x0 + count * s : s]
    return out
