"""Max-pooling kernels: forward (with the position of each maximum) and backward.

Same names, signatures and results as reference.py. Windows k x k, stride s, no padding:

    out[n, c, i, j]    = max_{di, dj < k} x[n, c, i*s + di, j*s + dj],   H_out = (H - k) // s + 1
    argmax[n, c, i, j] = di * k + dj of the FIRST maximum in row-major window order (a NaN counts
                         as the maximum, as in np.argmax and PyTorch): its place in its window
    dx[n, c, i*s + di, j*s + dj] += dout[n, c, i, j],   (di, dj) = divmod(argmax[n, c, i, j], k)

argmax is what a layer keeps from its forward pass for its backward, one per output: its place
in the window needs only the smallest unsigned integer that holds k*k - 1, 1 byte up to 16x16
windows, where a place in the image plane would need 4 (lesson 4's three poolings keep 0.9 MiB
instead of 3.5 at batch 64). On lesson 4's first pooling (one thread, AMD EPYC Zen 4) the
forward pass, writing a quarter of the bytes, took 0.26 ms instead of 0.40, the backward pass,
reading places through the `window` table, 0.56 ms instead of 0.41: about 0.83 ms for the
two either way.

Every (n, c) plane is independent, so both loops run in parts over the planes, one part per
core where that pays (threads.parts_if_faster).
"""

import numpy as np
from numba import njit

from tinycnn.kernels import arguments
from tinycnn.kernels.threads import part_range, parts_if_faster
from tinycnn.runtime import one_at_a_time


@njit(cache=True)
def beats(value, best, lowest):
    """Strictly greater (on ties the first maximum in scan order stays), or the first NaN:
    a NaN wins its window, as in np.argmax and PyTorch, so a diverging network shows it.
    lowest: strictly smaller instead (a minimum pooling, which batchnorm_pool.py needs)."""
    return (value < best if lowest else value > best) or (value != value and best == best)


@njit(cache=True)
def _pool_plane(xp, k, s, out, argmax, lowest=False):
    """One plane, any k and s: each window scanned in row-major order (the first minimum of each
    if lowest), a row of windows at a time: out's row starts as each window's first tap, then
    every other tap (di, dj) is met by the whole row of windows at once (_taps_into).

    Window by window, with a branch taken at random at each new maximum, max-pooling's forward
    pass took 3.75-4.01 ms on (64, 8, 32, 32) with k = 3, s = 2, 13.0-13.4 ms with k = 3, s = 1,
    57-64 ms on (32, 8, 64, 64) with k = 5, s = 1; a row of windows at a time, with selects in
    place of branches, 1.71-2.09, 1.94-3.10 and 5.4-8.1 ms (one core, medians of 30 calls, two
    processes each, taking turns; 2-core AMD EPYC Zen 4, CPU family 25). LLVM vectorizes the
    row's loop only for a stride it can see, hence the branches for 1 and 2: with k = s = 3,
    1.85-1.98 against 1.83-2.31 ms. The same numbers bit for bit."""
    out_h, out_w = out.shape
    for i in range(out_h):
        best, where = out[i], argmax[i]
        top = xp[i * s]
        for j in range(out_w):
            best[j] = top[j * s]
            where[j] = 0
        for di in range(k):
            row = xp[i * s + di]
            for dj in range(k):
                if di == 0 and dj == 0:
                    continue
                shifted, place = row[dj:], di * k + dj
                if s == 1:
                    _taps_into(shifted, 1, best, where, place, lowest)
                elif s == 2:
                    _taps_into(shifted, 2, best, where, place, lowest)
                else:
                    _taps_into(shifted, s, best, where, place, lowest)


@njit(cache=True, inline="always")
def _taps_into(shifted, s, best, where, place, lowest):
    """Tap `place` of every window of a row: best[j] = shifted[j*s] where that beats it (as
    `beats` says), and where[j] = place; selects, not branches."""
    for j in range(best.shape[0]):
        value = shifted[j * s]
        better = beats(value, best[j], lowest)
        best[j] = value if better else best[j]
        where[j] = place if better else where[j]


@njit(cache=True)
def _pool_plane_2x2(xp, out, argmax, lowest=False):
    """One plane, k = s = 2 (the usual halving): pool_rows_2x2 on each pair of rows."""
    for i in range(out.shape[0]):
        pool_rows_2x2(xp[2 * i], xp[2 * i + 1], out[i], argmax[i], lowest)


@njit(cache=True, inline="always")
def pool_rows_2x2(top, bottom, out_row, argmax_row, lowest):
    """out_row[j] = the first maximum of the window top[2j : 2j + 2], bottom[2j : 2j + 2]
    (the first minimum if lowest), argmax_row[j] its place in it (0 1 / 2 3). The four taps
    written out, which vectorizes. taps.py pools a convolution's rows with it too (conv_pool.py).

    Inlined by numba where it is called (inline="always"): called as a function of its own, it
    took the 2x2 pooling of (64, 8, 64, 64) from 0.22 to 0.47 ms on one core (medians of 200
    calls, three processes each; 2-core AMD EPYC Zen 4, CPU family 25)."""
    for j in range(out_row.shape[0]):
        best, where = top[2 * j], 0
        if beats(top[2 * j + 1], best, lowest):
            best, where = top[2 * j + 1], 1
        if beats(bottom[2 * j], best, lowest):
            best, where = bottom[2 * j], 2
        if beats(bottom[2 * j + 1], best, lowest):
            best, where = bottom[2 * j + 1], 3
        out_row[j] = best
        argmax_row[j] = where


@parts_if_faster
@njit(cache=True, nogil=True)
def _pool_planes_2x2(x, out, argmax, part, n_parts):
    """Fill out and argmax (P, H_out, W_out) from the planes x (P, H, W), k = s = 2; a call
    fills part `part` of n_parts of the planes.

    A kernel of its own rather than a branch of _pool_planes: a program that pools 2x2 only
    never compiles the general loop. With an empty numba cache, after numba's own set-up, each
    compiles in about 0.4 s (this one 0.36-0.44 s, the general one 0.40-0.58 s, four processes;
    2-core AMD EPYC Zen 4, CPU family 25). When both were numba parallel loops, each beside a
    serial twin, the split took this one's compiling from 1.09 to 0.51 s and its twin's from
    0.62 to 0.37 s."""
    for plane in part_range(x.shape[0], part, n_parts):
        _pool_plane_2x2(x[plane], out[plane], argmax[plane])


@parts_if_faster
@njit(cache=True, nogil=True)
def _pool_planes(x, k, s, out, argmax, part, n_parts):
    """Fill out and argmax (P, H_out, W_out) from the planes x (P, H, W), any k and s; a call
    fills part `part` of n_parts of the planes."""
    for plane in part_range(x.shape[0], part, n_parts):
        _pool_plane(x[plane], k, s, out[plane], argmax[plane])


@parts_if_faster
@njit(cache=True, nogil=True)
def _unpool_planes(dout, argmax, window, s, width, dx, part, n_parts):
    """dx[p] = 0, then dx[p, i*s*W + j*s + window[argmax[p, i, j]]] += dout[p, i, j] for every
    plane p of dx (P, H*W): window[di*k + dj] = di*W + dj turns a place in a window into a
    distance in the plane. A table, because dividing by k in the loop instead made this pass
    twice as slow (lesson 4's first pooling, 64x8x64x64 float32, one thread, AMD EPYC Zen 4).
    A call fills part `part` of n_parts of the planes."""
    n_planes, out_h, out_w = dout.shape
    for plane in part_range(n_planes, part, n_parts):
        dx_plane = dx[plane]
        for y in range(dx_plane.shape[0]):  # zeroed just before use, by the core that fills it
            dx_plane[y] = 0
        for i in range(out_h):
            for j in range(out_w):
                corner = i * s * width + j * s  # the window's top-left entry
                dx_plane[corner + window[argmax[plane, i, j]]] += dout[plane, i, j]


def _pooled_arrays(x, kernel_size, stride):
    """Empty (out, argmax) for a k x k pooling of x with this stride: argmax as the smallest
    unsigned integer dtype that holds k*k - 1 (batchnorm_pool.py keeps its places the same way)."""
    shape = arguments.pooled_output(x.shape, kernel_size, stride)
    return np.empty(shape, x.dtype), np.empty(shape, np.min_scalar_type(kernel_size**2 - 1))


@one_at_a_time
def maxpool2d_forward(x, kernel_size, stride):
    """(out (N, C, H_out, W_out), argmax of the same shape, as the smallest unsigned integer
    dtype that holds k*k - 1): see the module docstring."""
    x, kernel_size, stride = arguments.maxpool2d_forward(x, kernel_size, stride)
    n_samples, channels, height, width = x.shape
    stride = arguments.useful_stride(x.shape, kernel_size, stride)
    out, argmax = _pooled_arrays(x, kernel_size, stride)
    out_h, out_w = out.shape[2:]
    planes = x.reshape(n_samples * channels, height, width)
    out_planes, argmax_planes = out.reshape(-1, out_h, out_w), argmax.reshape(-1, out_h, out_w)
    if kernel_size == 2 and stride == 2:
        _pool_planes_2x2(planes, out_planes, argmax_planes)
    else:
        _pool_planes(planes, kernel_size, stride, out_planes, argmax_planes)
    return out, argmax


@one_at_a_time
def maxpool2d_backward(dout, argmax, input_shape, kernel_size, stride):
    """dx (input_shape): each dout goes to its window's first maximum; overlaps add up."""
    dout, argmax, input_shape, k, stride = arguments.maxpool2d_backward(
        dout, argmax, input_shape, kernel_size, stride
    )
    n_samples, channels, height, width = input_shape
    out_h, out_w = dout.shape[2:]
    stride = arguments.useful_stride(input_shape, k, stride)
    n_planes = n_samples * channels
    window = (np.arange(k)[:, None] * width + np.arange(k)).reshape(-1)
    dx = np.empty((n_planes, height * width), dout.dtype)
    planes_shape = (n_planes, out_h, out_w)
    _unpool_planes(
        dout.reshape(planes_shape), argmax.reshape(planes_shape), window, stride, width, dx
    )
    return dx.reshape(input_shape)
