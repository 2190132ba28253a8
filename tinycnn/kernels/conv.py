"""Convolution kernels: forward pass, input gradient, weight and bias gradients.

Same names, signatures and results as the lecture's loops in reference.py; the work is done by
the two tap loops of taps.py over the flat planes of layout.py. Shapes: x (N, C_in, H, W),
weights (C_out, C_in, k, k), bias (C_out,), dout (N, C_out, H_out, W_out), one float dtype.

- forward:         x in flat (phase) planes, taps (c, di, dj), weights as (C_out, C_in*k*k).
- input gradient:  each stride phase (a, b) of dx is a stride-1 correlation of zero-padded dout
                   with the flipped, transposed sub-kernel w[:, :, a::s, b::s]: no multiplications
                   by the zeros a "dilated" dout would hold.
- weight gradient: dw[f, t] = dout[f] . (x run under tap t), summed over samples; db = sum of dout.
"""

import numba
import numpy as np

from tinycnn.kernels.layout import to_flat_planes
from tinycnn.kernels.taps import correlate, tap_grads


def _output_size(size, kernel_size, stride, padding):
    return (size + 2 * padding - kernel_size) // stride + 1


def _input_planes(x, kernel_size, stride, padding, out_h, out_w):
    """x as flat phase planes, the row width, and the offset of every tap (c, di, dj)."""
    channels = x.shape[1]
    k, s = kernel_size, stride
    reach = (k - 1) // s  # how far a window reaches into a phase plane, in rows and columns
    rows, width = out_h + reach, out_w + reach
    planes = to_flat_planes(x, padding, s, rows, width)
    c = np.arange(channels)[:, None]
    di, dj = np.divmod(np.arange(k * k), k)
    offsets = ((c * s + di % s) * s + dj % s) * (rows * width) + (di // s) * width + dj // s
    return planes, width, offsets.ravel()


def conv2d_forward(x, weights, bias, stride, padding):
    """out[n, f, i, j] = bias[f] + sum_{c,di,dj} w[f, c, di, dj] * x_pad[n, c, i*s + di, j*s + dj]."""
    x = np.ascontiguousarray(x)
    weights = np.ascontiguousarray(weights)
    bias = np.ascontiguousarray(bias)
    n_samples, channels, height, width = x.shape
    n_filters, _, k, _ = weights.shape
    out_h = _output_size(height, k, stride, padding)
    out_w = _output_size(width, k, stride, padding)
    planes, row_width, offsets = _input_planes(x, k, stride, padding, out_h, out_w)
    out = np.empty((n_samples, n_filters, out_h, out_w), x.dtype)
    correlate(planes, offsets, weights.reshape(n_filters, channels * k * k), bias, row_width, out)
    return out


def conv2d_backward_input(dout, weights, input_shape, stride, padding):
    """dx (input_shape): dx_pad[n, c, Y, X] = sum_{f,i,j} dout[n,f,i,j] * w[f, c, Y - i*s, X - j*s].

    For Y = u*s + a only taps di = m*s + a meet Y, from output row i = u - m: phase (a, b) of dx
    is a stride-1 correlation of dout, padded by reach = (k-1)//s, with w[:, :, a::s, b::s]
    flipped in (m, n) and transposed in (f, c).
    """
    dout = np.ascontiguousarray(dout)
    weights = np.ascontiguousarray(weights)
    n_samples, channels, height, width = input_shape
    n_filters, _, k, _ = weights.shape
    s, p = stride, padding
    reach = (k - 1) // s
    # Padded dx rows Y < p + H hold phase rows u < ceil((p + H) / s); each reads dout rows u - m.
    rows = -(-(p + height) // s) + reach
    row_width = -(-(p + width) // s) + reach
    planes = to_flat_planes(dout, reach, 1, rows, row_width)
    dx = np.empty(input_shape, dout.dtype)
    filters = np.arange(n_filters)[:, None, None]
    no_bias = np.zeros(channels, dout.dtype)
    for a in range(s):
        for b in range(s):
            u0, v0 = -((a - p) // s), -((b - p) // s)  # first phase row and column inside dx
            y0, x0 = u0 * s + a - p, v0 * s + b - p  # where they land in dx
            if y0 >= height or x0 >= width:
                continue
            if s == 1:
                phase = dx
            else:
                phase_shape = (n_samples, channels, len(range(y0, height, s)), len(range(x0, width, s)))
                phase = np.empty(phase_shape, dout.dtype)
            sub_kernel = weights[:, :, a::s, b::s]
            taps_h, taps_w = sub_kernel.shape[2], sub_kernel.shape[3]
            if taps_h == 0 or taps_w == 0:  # stride > k: no window covers this phase
                phase[...] = 0
            else:
                m = np.arange(reach + 1 - taps_h, reach + 1)[:, None]
                n = np.arange(reach + 1 - taps_w, reach + 1)
                offsets = filters * (rows * row_width) + (u0 + m) * row_width + (v0 + n)
                flipped = sub_kernel[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
                flipped = np.ascontiguousarray(flipped).reshape(channels, -1)
                correlate(planes, offsets.ravel(), flipped, no_bias, row_width, phase)
            if s > 1:
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
    k = kernel_size
    planes, row_width, offsets = _input_planes(x, k, stride, padding, out_h, out_w)
    # dout in the same row width, zero in the thrown-away columns: one long dot product per tap.
    dout_rows = to_flat_planes(dout, 0, 1, out_h, row_width).reshape(n_samples, n_filters, -1)
    length = (out_h - 1) * row_width + out_w
    dweights = tap_grads(planes, offsets, dout_rows, length, numba.get_num_threads())
    dweights = dweights.reshape(n_filters, channels, k, k)
    dbias = dout.sum(axis=(0, 2, 3))
    return dweights, dbias
