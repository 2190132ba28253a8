"""Max-pooling kernels: forward (with the position of each maximum) and backward.

Same names, signatures and results as reference.py. Windows k x k, stride s, no padding:

    out[n, c, i, j]    = max_{di, dj < k} x[n, c, i*s + di, j*s + dj],   H_out = (H - k) // s + 1
    argmax[n, c, i, j] = (i*s + di) * W + (j*s + dj) of the FIRST maximum in row-major window order
                         (a NaN counts as the maximum, as in np.argmax and PyTorch)
    dx[n, c].flat[argmax[n, c, i, j]] += dout[n, c, i, j]

Every (n, c) plane is independent, so both loops run in parallel over planes.
"""

import numpy as np
from numba import njit, prange

from tinycnn.kernels.threads import threads_if_faster
from tinycnn.runtime import one_at_a_time


@njit(cache=True)
def _beats(value, best):
    """Strictly greater (on ties the first maximum in scan order stays), or the first NaN:
    a NaN wins its window, as in np.argmax and PyTorch, so a diverging network shows it."""
    return value > best or (value != value and best == best)


@njit(cache=True)
def _pool_plane(xp, k, s, out, argmax):
    """One plane, any k and s: scan each window in row-major order."""
    width = xp.shape[1]
    out_h, out_w = out.shape
    for i in range(out_h):
        for j in range(out_w):
            best = xp[i * s, j * s]
            where = i * s * width + j * s
            for di in range(k):
                row = xp[i * s + di]
                for dj in range(k):
                    if _beats(row[j * s + dj], best):
                        best = row[j * s + dj]
                        where = (i * s + di) * width + j * s + dj
            out[i, j] = best
            argmax[i, j] = where


@njit(cache=True)
def _pool_plane_2x2(xp, out, argmax):
    """One plane, k = s = 2 (the usual halving): the four taps written out, which vectorizes."""
    width = xp.shape[1]
    out_h, out_w = out.shape
    for i in range(out_h):
        top, bottom = xp[2 * i], xp[2 * i + 1]
        out_row, argmax_row = out[i], argmax[i]
        first = 2 * i * width
        for j in range(out_w):
            best, where = top[2 * j], first + 2 * j
            if _beats(top[2 * j + 1], best):
                best, where = top[2 * j + 1], first + 2 * j + 1
            if _beats(bottom[2 * j], best):
                best, where = bottom[2 * j], first + width + 2 * j
            if _beats(bottom[2 * j + 1], best):
                best, where = bottom[2 * j + 1], first + width + 2 * j + 1
            out_row[j] = best
            argmax_row[j] = where


@threads_if_faster
@njit(cache=True, parallel=True)
def _pool_planes(x, k, s, out, argmax):
    """Fill out and argmax (P, H_out, W_out) from the planes x (P, H, W)."""
    for plane in prange(x.shape[0]):
        if k == 2 and s == 2:
            _pool_plane_2x2(x[plane], out[plane], argmax[plane])
        else:
            _pool_plane(x[plane], k, s, out[plane], argmax[plane])


@threads_if_faster
@njit(cache=True, parallel=True)
def _unpool_planes(dout, argmax, dx):
    """dx[p] = 0, then dx[p, argmax[p, q]] += dout[p, q], for every plane p of dx (P, H*W)."""
    n_planes, n_outputs = dout.shape
    for plane in prange(n_planes):
        dx_plane = dx[plane]
        for i in range(dx_plane.shape[0]):  # zeroed here, in parallel, just before use
            dx_plane[i] = 0
        for q in range(n_outputs):
            dx_plane[argmax[plane, q]] += dout[plane, q]


@one_at_a_time
def maxpool2d_forward(x, kernel_size, stride):
    """(out (N, C, H_out, W_out), argmax int32 of the same shape): see the module docstring."""
    x = np.ascontiguousarray(x)
    n_samples, channels, height, width = x.shape
    out_h = (height - kernel_size) // stride + 1
    out_w = (width - kernel_size) // stride + 1
    out = np.empty((n_samples, channels, out_h, out_w), x.dtype)
    argmax = np.empty((n_samples, channels, out_h, out_w), np.int32)
    planes = x.reshape(n_samples * channels, height, width)
    out_planes, argmax_planes = out.reshape(-1, out_h, out_w), argmax.reshape(-1, out_h, out_w)
    _pool_planes(planes, kernel_size, stride, out_planes, argmax_planes)
    return out, argmax


@one_at_a_time
def maxpool2d_backward(dout, argmax, input_shape):
    """dx (input_shape): each dout goes to its window's first maximum; overlaps add up."""
    dout = np.ascontiguousarray(dout)
    argmax = np.ascontiguousarray(argmax)
    n_samples, channels, height, width = input_shape
    n_planes = n_samples * channels
    dx = np.empty((n_planes, height * width), dout.dtype)
    _unpool_planes(dout.reshape(n_planes, -1), argmax.reshape(n_planes, -1), dx)
    return dx.reshape(input_shape)
