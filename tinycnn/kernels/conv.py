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

from tinycnn.kernels.layout import VECTOR, batch_planes, tap_grid
from tinycnn.kernels.taps import correlate, tap_grads


def _kernel_taps(channels, kernel_h, kernel_w):
    """Every tap (c, di, dj) of a kernel, in the order of weights.reshape(C_out, -1)."""
    c, di, dj = np.indices((channels, kernel_h, kernel_w))
    return c.ravel(), di.ravel(), dj.ravel()


def _correlate(x, weights, bias, stride, top, left, out_h, out_w):
    """out[n, f, i, j] = bias[f] + sum_{c,di,dj} w[f, c, di, dj] * x[n, c, i*s + di - top, j*s + dj - left],
    x taken as zero outside its H x W: the forward pass with asymmetric (even negative) padding."""
    n_filters, channels, kernel_h, kernel_w = weights.shape
    taps = _kernel_taps(channels, kernel_h, kernel_w)
    grid, offsets = tap_grid(x.shape, taps, stride, top, left, out_h, out_w)
    planes = batch_planes(x, stride, grid.rows, grid.width, grid.lead, grid.length)
    out = np.empty((x.shape[0], n_filters, out_h, out_w), x.dtype)
    flat_weights = np.ascontiguousarray(weights).reshape(n_filters, -1)
    correlate(planes, offsets, flat_weights, bias, grid.rows, grid.width, out, numba.get_num_threads())
    return out


def conv2d_forward(x, weights, bias, stride, padding):
    """out[n, f, i, j] = bias[f] + sum_{c,di,dj} w[f, c, di, dj] * x_pad[n, c, i*s + di, j*s + dj]."""
    x = np.ascontiguousarray(x)
    bias = np.ascontiguousarray(bias)
    _, _, height, width = x.shape
    k = weights.shape[2]
    out_h = (height + 2 * padding - k) // stride + 1
    out_w = (width + 2 * padding - k) // stride + 1
    return _correlate(x, weights, bias, stride, padding, padding, out_h, out_w)


def conv2d_backward_input(dout, weights, input_shape, stride, padding):
    """dx (input_shape): dx[n, c, y, x] = sum_{f,i,j} dout[n, f, i, j] * w[f, c, y + p - i*s, x + p - j*s].

    Phase a of the rows, y + p = u*s + a, meets only taps di = m*s + a, from output rows
    i = u - m: a stride-1 correlation of dout with w[:, :, a::s] flipped (m' = M - 1 - m),
    its padding M - 1 - u0 for the first phase row u0 inside dx. Stride 1: one phase, M = k,
    u0 = p, padding k - 1 - p: dx is the forward pass of dout with the flipped, transposed kernel.
    """
    dout = np.ascontiguousarray(dout)
    _, channels, height, width = input_shape
    s, p = stride, padding
    dx = np.empty(input_shape, dout.dtype)
    no_bias = np.zeros(channels, dout.dtype)
    for a in range(s):
        for b in range(s):
            u0, v0 = -((a - p) // s), -((b - p) // s)  # first phase row and column inside dx
            y0, x0 = u0 * s + a - p, v0 * s + b - p  # where they land in dx
            out_h, out_w = len(range(y0, height, s)), len(range(x0, width, s))
            if out_h == 0 or out_w == 0:
                continue
            sub_kernel = weights[:, :, a::s, b::s]
            taps_h, taps_w = sub_kernel.shape[2:]
            if taps_h == 0 or taps_w == 0:  # stride > k: no window covers this phase
                dx[:, :, y0::s, x0::s] = 0
                continue
            flipped = sub_kernel[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            top, left = taps_h - 1 - u0, taps_w - 1 - v0
            phase = _correlate(dout, flipped, no_bias, 1, top, left, out_h, out_w)
            if s == 1:
                return phase
            dx[:, :, y0::s, x0::s] = phase
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
    k, s, p = kernel_size, stride, padding
    grid, offsets = tap_grid(x.shape, _kernel_taps(channels, k, k), s, p, p, out_h, out_w)
    planes = batch_planes(x, s, grid.rows, grid.width, grid.lead, grid.length)
    # dout on the grid of the outputs q, zero where an output is thrown away.
    total = -(-n_samples * grid.rows * grid.width // VECTOR) * VECTOR
    dout_planes = batch_planes(dout, 1, grid.rows, grid.width, 0, total).reshape(n_filters, total)
    dweights = tap_grads(planes, offsets, dout_planes, numba.get_num_threads())
    dbias = dout.sum(axis=(0, 2, 3))
    return dweights.reshape(n_filters, channels, k, k), dbias
