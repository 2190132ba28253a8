"""Convolution kernels: forward pass, input gradient, weight and bias gradients.

Same names, signatures and results as the lecture's loops in reference.py; the work is done by
the two tap loops of taps.py over the batch planes of layout.py. Shapes: x (N, C_in, H, W),
weights (C_out, C_in, k, k), bias (C_out,), dout (N, C_out, H_out, W_out), one float dtype.

- forward:         taps (c, di, dj), weights as (C_out, C_in*k*k).
- input gradient:  a forward correlation of dout with the flipped, transposed kernel. With
                   stride s, each phase (a, b) of dx (rows a, a+s, ...) is its own stride-1
                   correlation with the sub-kernel w[:, :, a::s, b::s]: no multiplications by
                   the zeros a "dilated" dout would hold.
- weight gradient: dw[f, t] = dout[f] . (the input run under tap t), one long dot product over
                   the whole batch; db = the sum of dout.
"""

import numba
import numpy as np

from tinycnn.kernels.layout import batch_planes, plan_grid, tap_offsets, whole_vectors
from tinycnn.kernels.taps import bias_grads, correlate, tap_grads


def _kernel_taps(channels, kernel_h, kernel_w):
    """Every tap (c, di, dj) of a kernel, in the order of weights.reshape(C_out, -1)."""
    c, di, dj = np.indices((channels, kernel_h, kernel_w))
    return c.ravel(), di.ravel(), dj.ravel()


def _input_planes(x, kernel_size, stride, padding, out_h, out_w):
    """x as batch planes for a forward pass, their grid, and the offset of every tap (c, di, dj)."""
    shifts = (np.arange(kernel_size) - padding) // stride
    grid = plan_grid(x.shape, stride, shifts, shifts, out_h, out_w)
    planes = batch_planes(x, stride, *grid)
    taps = _kernel_taps(x.shape[1], kernel_size, kernel_size)
    return planes, grid, tap_offsets(grid, taps, stride, padding, padding)


def conv2d_forward(x, weights, bias, stride, padding):
    """out[n, f, i, j] = bias[f] + sum_{c,di,dj} w[f,c,di,dj] * x_pad[n, c, i*s + di, j*s + dj]."""
    x = np.ascontiguousarray(x)
    weights = np.ascontiguousarray(weights)
    bias = np.ascontiguousarray(bias)
    n_samples, _, height, width = x.shape
    n_filters, _, k, _ = weights.shape
    out_h = (height + 2 * padding - k) // stride + 1
    out_w = (width + 2 * padding - k) // stride + 1
    planes, grid, offsets = _input_planes(x, k, stride, padding, out_h, out_w)
    out = np.empty((n_samples, n_filters, out_h, out_w), x.dtype)
    correlate(
        planes, offsets, weights.reshape(n_filters, -1), bias, grid.rows, grid.width,
        out, (out_h, out_w, 0, 0, 1), numba.get_num_threads(),
    )
    return out


def _phases(weights, input_shape, stride, padding):
    """Each stride phase (a, b) of dx as (sub-kernel w[:, :, a::s, b::s], top, left, placement):
    its correlation over dout reads dout[i + di - top, j + dj - left] for phase pixel (i, j),
    which lands in dx at (y0 + i*s, x0 + j*s); placement = (out_h, out_w, y0, x0, s)."""
    _, _, height, width = input_shape
    s, p = stride, padding
    phases = []
    for a in range(s):
        for b in range(s):
            u0, v0 = -((a - p) // s), -((b - p) // s)  # first phase row and column inside dx
            y0, x0 = u0 * s + a - p, v0 * s + b - p  # where they land in dx
            out_h, out_w = len(range(y0, height, s)), len(range(x0, width, s))
            if out_h > 0 and out_w > 0:
                sub_kernel = weights[:, :, a::s, b::s]
                top, left = sub_kernel.shape[2] - 1 - u0, sub_kernel.shape[3] - 1 - v0
                phases.append((sub_kernel, top, left, (out_h, out_w, y0, x0, s)))
    return phases


def conv2d_backward_input(dout, weights, input_shape, stride, padding):
    """dx (input_shape): dx[n, c, y, x] = sum_{f,i,j} dout[n,f,i,j] * w[f, c, y+p - i*s, x+p - j*s].

    Phase a of the rows, y + p = u*s + a, meets only taps di = m*s + a, from output rows
    i = u - m: a stride-1 correlation of dout with w[:, :, a::s] flipped (m' = M - 1 - m),
    padded by M - 1 - u0 for the first phase row u0 inside dx. Stride 1: one phase, M = k,
    u0 = p, padding k - 1 - p: dx is the forward pass of dout with the flipped, transposed kernel.
    """
    dout = np.ascontiguousarray(dout)
    channels, n_filters = input_shape[1], weights.shape[0]
    dx = np.empty(input_shape, dout.dtype)
    phases = []
    for sub_kernel, top, left, placement in _phases(weights, input_shape, stride, padding):
        if sub_kernel.size == 0:  # stride > k: no window covers this phase
            _, _, y0, x0, s = placement
            dx[:, :, y0::s, x0::s] = 0
        else:
            phases.append((sub_kernel, top, left, placement))
    if not phases:
        return dx
    # One layout of dout serves every phase: its grid has room for all their taps and outputs.
    row_shifts = [shift for w, top, _, _ in phases for shift in (-top, w.shape[2] - 1 - top)]
    col_shifts = [shift for w, _, left, _ in phases for shift in (-left, w.shape[3] - 1 - left)]
    out_h = max(placement[0] for *_, placement in phases)
    out_w = max(placement[1] for *_, placement in phases)
    grid = plan_grid(dout.shape, 1, row_shifts, col_shifts, out_h, out_w)
    planes = batch_planes(dout, 1, *grid)
    no_bias = np.zeros(channels, dout.dtype)
    for sub_kernel, top, left, placement in phases:
        taps = _kernel_taps(n_filters, *sub_kernel.shape[2:])
        flipped = np.ascontiguousarray(sub_kernel[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        correlate(
            planes, tap_offsets(grid, taps, 1, top, left), flipped.reshape(channels, -1), no_bias,
            grid.rows, grid.width, dx, placement, numba.get_num_threads(),
        )
    return dx


def conv2d_backward_params(x, dout, kernel_size, stride, padding):
    """(dweights (C_out, C_in, k, k), dbias (C_out,)):

    dw[f, c, di, dj] = sum_{n,i,j} dout[n, f, i, j] * x_pad[n, c, i*s + di, j*s + dj],
    db[f] = sum_{n,i,j} dout[n, f, i, j].
    """
    x = np.ascontiguousarray(x)
    dout = np.ascontiguousarray(dout)
    n_samples, channels, _, _ = x.shape
    _, n_filters, out_h, out_w = dout.shape
    k = kernel_size
    planes, grid, offsets = _input_planes(x, k, stride, padding, out_h, out_w)
    # dout on the grid of the outputs q, zero where an output is thrown away.
    total = whole_vectors(n_samples * grid.rows * grid.width)
    dout_planes = batch_planes(dout, 1, grid.rows, grid.width, 0, total).reshape(n_filters, total)
    dweights = tap_grads(planes, offsets, dout_planes, numba.get_num_threads()).sum(axis=0)
    return dweights.reshape(n_filters, channels, k, k), bias_grads(dout_planes)
