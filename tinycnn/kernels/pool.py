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
from tinycnn.kernels.layout import VECTOR
from tinycnn.kernels.threads import part_range, parts_if_faster
from tinycnn.runtime import one_at_a_time


@njit(cache=True)
def beats(value, best, lowest):
    """Strictly greater (on ties the first maximum in scan order stays), or the first NaN:
    a NaN wins its window, as in np.argmax and PyTorch, so a diverging network shows it.
    lowest: strictly smaller instead (a minimum pooling, which batchnorm_pool.py needs).

    `|` and `&`, not `or` and `and`: Python's short-circuit is a branch, on a random pattern of
    maxima, and on AVX2 LLVM left it a branch. Max-pooling 2x2 of (64, 8, 64, 64) on one core
    took 7.8 ms with it and 0.49 ms without (the same numbers; 2-core AMD EPYC Zen 2, CPU family
    23)."""
    return (value < best if lowest else value > best) | ((value != value) & (best == best))


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
def _extreme(value, current, lowest):
    """value if it is larger than current (smaller if lowest), else current: one compare and
    one choice, which x86 computes with no branch (maxss, minss). A NaN value keeps current."""
    if lowest:
        return value if value < current else current
    return value if value > current else current


@njit(cache=True, inline="always")
def _taps_into(shifted, s, best, where, place, lowest):
    """Tap `place` of every window of a row: best[j] = shifted[j*s] where that beats it (as
    `beats` says), and where[j] = place. Arithmetic and one-compare choices (_extreme), not
    branches: written as two choices on `beats`, LLVM made them one branch in scalar code,
    mispredicted at random. With them, on one core (2-core AMD EPYC Zen 2, CPU family 23),
    k = 3, s = 2 took (64, 8, 64, 64) from 14.9 to 6.2 ms and (32, 8, 128, 128) from 29.4 to
    8.2 ms, k = 3, s = 1 (64, 8, 16, 16) from 3.2 to 1.8 ms, but (64, 8, 32, 32), its rows of
    15 windows left as scalar code, from 3.8 to 4.6 ms."""
    for j in range(best.shape[0]):
        value, current = shifted[j * s], best[j]
        where[j] += beats(value, current, lowest) * (place - where[j])
        kept = _extreme(value, current, lowest)
        best[j] = value if (value != value) & (current == current) else kept


@njit(cache=True)
def _pool_plane_2x2(xp, out, argmax, lowest=False):
    """One plane, k = s = 2 (the usual halving): pool_rows_2x2 on each pair of rows."""
    for i in range(out.shape[0]):
        pool_rows_2x2(xp[2 * i], xp[2 * i + 1], out[i], argmax[i], lowest)


@njit(cache=True, inline="always")
def pool_rows_2x2(top, bottom, out_row, argmax_row, lowest):
    """out_row[j] = the first maximum of the window top[2j : 2j + 2], bottom[2j : 2j + 2]
    (the first minimum if lowest), argmax_row[j] its place in it (0 1 / 2 3). taps.py pools a
    convolution's rows with it too (conv_pool.py).

    Two loops for one result, bit for bit. LLVM vectorizes a loop only from a few vectors of
    outputs up (24 on AVX2), and below that runs it as scalar code, where a choice between two
    floats becomes a branch: on random data, mispredicted about half the time. So a row's
    whole vectors, from 2 x VECTOR outputs up, go through the four taps written out with `if`
    (vectorized, each `if` a blend), and the rest, short rows whole, through
    _window_2x2, which chooses with no branch: with both loops on AVX2, the 2x2 pooling of
    (1024, 32, 32) on one core took 0.47 ms instead of 4.24, of (2048, 16, 16) 0.65 instead of
    2.19; _window_2x2 alone on long rows was twice as slow as the loop with `if` (0.94 against
    0.46 ms on (512, 64, 64)). Medians of 30 calls, 2-core AMD EPYC Zen 2, CPU family 23.

    Inlined by numba where it is called (inline="always"): called as a function of its own, it
    took the 2x2 pooling of (64, 8, 64, 64) from 0.22 to 0.47 ms on one core (medians of 200
    calls, three processes each; 2-core AMD EPYC Zen 4, CPU family 25)."""
    n_out = out_row.shape[0]
    vectorized = n_out - n_out % VECTOR if n_out >= 2 * VECTOR else 0
    for j in range(vectorized):
        best, where = top[2 * j], 0
        if beats(top[2 * j + 1], best, lowest):
            best, where = top[2 * j + 1], 1
        if beats(bottom[2 * j], best, lowest):
            best, where = bottom[2 * j], 2
        if beats(bottom[2 * j + 1], best, lowest):
            best, where = bottom[2 * j + 1], 3
        out_row[j] = best
        argmax_row[j] = where
    # The rest, sliced so that its loop runs from 0: from `vectorized` on, a start numba cannot
    # prove >= 0, the loop got its branches back (1.80 against 0.47 ms on (1024, 32, 32)).
    top, bottom = top[2 * vectorized :], bottom[2 * vectorized :]
    out_row, argmax_row = out_row[vectorized:], argmax_row[vectorized:]
    for j in range(out_row.shape[0]):
        out_row[j], argmax_row[j] = _window_2x2(
            top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1], lowest
        )


@njit(cache=True, inline="always")
def _window_2x2(a, b, c, d, lowest):
    """(value, place) of the first maximum of the window (a b / c d), the first minimum if
    lowest, a NaN winning as `beats` says; with no choice between floats that LLVM turns into
    a branch in scalar code. The largest value, ignoring NaNs, by _extreme (one instruction,
    maxss or minss); its place, the first that equals it, or the first NaN if there is one; and
    the value, the first NaN's where there is one."""
    best = _extreme(d, _extreme(c, _extreme(b, a, lowest), lowest), lowest)
    nan_a, nan_b, nan_c, nan_d = a != a, b != b, c != c, d != d
    no_nan = not (nan_a | nan_b | nan_c | nan_d)
    at_a = ((a == best) & no_nan) | nan_a
    at_b = ((b == best) & no_nan) | nan_b
    at_c = ((c == best) & no_nan) | nan_c
    first_nan = a if nan_a else (b if nan_b else (c if nan_c else d))
    return best if no_nan else first_nan, 0 if at_a else (1 if at_b else (2 if at_c else 3))


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
