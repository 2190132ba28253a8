"""Batch norm, ReLU and max-pooling as one pass (the layer `BatchNormReLUMaxPool2D`), each kernel
beside its plain NumPy twin (`reference_...`), which the tests hold it equal to.

Per channel c, batch norm then ReLU is a function of one number (batchnorm.py):

    out = max(0, a_c (x - mean_c) + β_c)        a_c = γ_c inv_std_c

It never decreases as x grows where a_c >= 0, and never increases where a_c < 0. So the largest
output of a pooling window comes from the window's largest x (its smallest where a_c < 0), and
the kernels pool x first, then normalize and clamp only the values they kept: one in k*k. The
windows are k x k with stride s >= k: they do not overlap. The forward pass takes the statistics
of x (in training, as batchnorm.py does), then in each window the place p of its first largest
x (first smallest where a_c < 0; a NaN wins, as in pool.py), and

    out = max(0, a_c (x_p - mean_c) + β_c)

In the backward pass dout reaches x only at those places, and only where out was not clamped;
call that dy, 0 everywhere else. Batch norm's sums then need those places alone, and one more
pass over x writes dx (M = N H W):

    dβ_c = Σ dy        dγ_c = Σ dy x̂
    dx = a_c (dy - dβ_c / M - x̂ dγ_c / M)

In evaluation mode, with the running statistics, dx = a_c dy.

BatchNormReLU2D then MaxPool2D compute the same outputs, bit for bit: rounding to float32 never
puts a smaller value above a larger one. Their gradients agree to rounding, except in a window
whose largest outputs tie only after rounding (or all tie, where a_c = 0): there MaxPool2D sends
the gradient to the first of them, this layer to the largest x, the true maximum before rounding.

Neither the full-size output nor its gradient is ever written. Measured on lesson 8's detector
(its four pooled blocks, batch 32, float32, 2-core AMD EPYC Zen 4), the layers' forward and
backward passes, the fastest tenth of 150 calls each taking turns: 2.38 ms against 2.97 ms for
BatchNormReLU2D then MaxPool2D (0.95 against 1.21 ms on the first block); the whole training
step 16.6 against 17.0 ms (the fastest tenth of 120 steps, eight processes each, medians).

The backward pass adds a_c dy at every chosen place, clamped or not (dy = 0 there), rather than
branch on the ReLU's pattern of signs: mispredicted about every other window, that branch took
it from 0.55 to 1.09 ms on the first block. Fusing the passes without pooling first (every value
normalized, then pooled from a small buffer in the cache) was slower than the two layers: the
time goes to arithmetic, not to memory, and pooling first leaves three quarters of it out.

The backward pass goes sample by sample, and within a sample channel by channel (each channel's
sums kept in dβ and dγ as they grow): a sample's planes of a part's channels are one run of
memory, where a channel's planes lie C planes apart, each a few cache lines that the prefetcher
does not see coming (batchnorm.py's short rows tell the same story). The same sums in the same
order, so the same bits. Against channel by channel, on a 2-core AMD EPYC Zen 2 (CPU family 23;
the two codes taking turns in one process, medians of 60 calls each, the caches flushed before
each, as in a training step where x was written long before): the detector's blocks (32, 64,
8, 8), (32, 32, 16, 16) and (32, 16, 32, 32) took 0.53, 0.62 and 0.90 ms against 0.85, 0.82
and 0.99 ms on one core, 0.59, 0.68 and 1.03 against 0.59, 0.84 and 1.10 ms on two threads;
(32, 8, 64, 64) and everything with warm caches within 0.98x-1.07x.

The first pass keeps dy, one number a window, in an array (dout's shape, a part's channels), so
that the second pass adds a_c dy at each chosen place without finding the clamped values again.
With that, and each road of `_backward` one call (its docstring says why), the layer's backward
took 0.343, 0.421, 0.661 and 1.267 ms against 0.448, 0.500, 0.724 and 1.351 ms on (32, 64, 8,
8), (32, 32, 16, 16), (32, 16, 32, 32) and (32, 8, 64, 64) on one core with warm caches; 0.425,
0.538, 0.925 and 1.574 against 0.524, 0.601, 0.992 and 1.717 ms with the caches flushed; 0.240,
0.278, 0.413 and 0.744 against 0.291, 0.317, 0.436 and 0.769 ms on two threads (the two codes
taking turns in one process, medians of 60 calls each; Zen 2). The sums round the same; dx
may differ in its last bit.
"""

import numpy as np
from numba import njit

from tinycnn.kernels import arguments
from tinycnn.kernels.batchnorm import (
    REORDER_SUMS,
    SHORT_ROWS,
    _channel_statistics,
    _clamped,
    _normalize_channel,
    _short_row_statistics,
    affine,
)
from tinycnn.kernels.pool import _pool_plane, _pool_plane_2x2, _pooled_arrays
from tinycnn.kernels.threads import part_range, parts_if_faster
from tinycnn.runtime import one_at_a_time


@njit(cache=True)
def _pool_channel(x, c, k, s, centre, a, b, out, argmax):
    """out[:, c] = max(0, a (x at each window's chosen place - centre) + b), argmax[:, c] the
    places: x pooled first, then the kept values normalized in place (batchnorm.py's loop)."""
    lowest = a < 0
    for n in range(x.shape[0]):
        if k == 2 and s == 2:
            _pool_plane_2x2(x[n, c], out[n, c], argmax[n, c], lowest)
        else:
            _pool_plane(x[n, c], k, s, out[n, c], argmax[n, c], lowest)
    flat = out.reshape(out.shape[0], out.shape[1], out.shape[2] * out.shape[3])
    _normalize_channel(flat, c, centre, a, b, 0.0, flat)


@parts_if_faster
@njit(cache=True, nogil=True)
def _forward(x, eps, gamma, beta, k, s, mean, inv_std, out, argmax, part, n_parts):
    """Training: each channel's statistics, then the channel pooled and normalized; part `part`
    of n_parts of the channels. Short rows (batchnorm.SHORT_ROWS): the statistics of all the
    part's channels first, taken as batchnorm.py's training forward takes them of the same x,
    so that the outputs stay those of the three layers in a row, bit for bit."""
    n_samples, channels, height, width = x.shape
    flat = x.reshape(n_samples, channels, height * width)
    part_channels = part_range(channels, part, n_parts)
    if height * width <= SHORT_ROWS:  # the statistics batchnorm.py takes of the same x
        _short_row_statistics(flat, part_channels, eps, mean, inv_std)
    for c in part_channels:
        if height * width > SHORT_ROWS:
            mean[c], inv_std[c] = _channel_statistics(flat, c, eps)
        _pool_channel(x, c, k, s, mean[c], gamma[c] * inv_std[c], beta[c], out, argmax)


@parts_if_faster
@njit(cache=True, nogil=True)
def _inference(x, mean, inv_std, gamma, beta, k, s, out, argmax, part, n_parts):
    """Evaluation: the same with given statistics."""
    for c in part_range(x.shape[1], part, n_parts):
        _pool_channel(x, c, k, s, mean[c], gamma[c] * inv_std[c], beta[c], out, argmax)


@njit(cache=True, fastmath=REORDER_SUMS)
def _place_sums(plane, d, places, k, s, centre, a, b, scale, dy):
    """(Σ dy, Σ dy x̂) over one plane's chosen places, dy = d where the forward did not clamp,
    0 where it did; dy, one number a window, kept for `_plane_grad`."""
    sum_dy, sum_dy_xhat = 0.0, 0.0
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            value = plane[i * s + places[i, j] // k, j * s + places[i, j] % k]
            grad = d[i, j]  # loaded first: then the next line compiles to a select, not a branch
            passed = 0.0 if _clamped(value, centre, a, b, 0.0) else grad
            dy[i, j] = passed
            sum_dy += passed
            sum_dy_xhat += passed * (value - centre) * scale
    return sum_dy, sum_dy_xhat


@njit(cache=True, fastmath=REORDER_SUMS)
def _plane_grad(plane, dy, places, k, s, centre, a, scale, mean_dy, mean_dy_xhat, dx_plane):
    """dx = a (dy - mean_dy - x̂ mean_dy_xhat) over one plane: first with dy = 0 everywhere,
    then a dy added at each chosen place, the one `_place_sums` kept (0 where the forward
    clamped). Added there whether clamped or not: a branch on a ReLU's random pattern of
    signs, mispredicted about every other window, took the detector's first block 3x as long
    (0.61 against 0.21 ms)."""
    for y in range(plane.shape[0]):
        row, dx_row = plane[y], dx_plane[y]
        for q in range(row.size):
            dx_row[q] = a * (0.0 - mean_dy - (row[q] - centre) * scale * mean_dy_xhat)
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            dx_plane[i * s + places[i, j] // k, j * s + places[i, j] % k] += a * dy[i, j]


@njit(cache=True, fastmath=REORDER_SUMS)
def _backward_channels(
    k, s, x, dout, argmax, mean, inv_std, gamma, beta, batch, dx, dgamma, dbeta, channels
):
    """_backward for `channels` (a range), sample by sample (the module docstring says why)."""
    n_samples, _, height, width = x.shape
    dy = np.empty((n_samples, len(channels), *dout.shape[2:]), dout.dtype)  # _place_sums fills it
    count = n_samples * height * width
    dbeta[channels.start : channels.stop] = 0.0  # the sums, kept where they go
    dgamma[channels.start : channels.stop] = 0.0
    for n in range(n_samples):
        for c in channels:
            centre, scale = mean[c], inv_std[c]
            a, b = gamma[c] * scale, beta[c]
            kept = dy[n, c - channels.start]
            sums = _place_sums(x[n, c], dout[n, c], argmax[n, c], k, s, centre, a, b, scale, kept)
            dbeta[c] += sums[0]
            dgamma[c] += sums[1]
    for n in range(n_samples):
        for c in channels:
            centre, scale = mean[c], inv_std[c]
            a, kept = gamma[c] * scale, dy[n, c - channels.start]
            mean_dy = dbeta[c] / count if batch else 0.0
            mean_dy_xhat = dgamma[c] / count if batch else 0.0
            _plane_grad(
                x[n, c], kept, argmax[n, c], k, s, centre, a, scale, mean_dy, mean_dy_xhat, dx[n, c]
            )


@parts_if_faster
@njit(cache=True, nogil=True)
def _backward(
    x, dout, argmax, k, s, mean, inv_std, gamma, beta, batch, dx, dgamma, dbeta, part, n_parts
):
    """batch: the statistics are the batch's (training), so that dx has batch norm's mean
    terms. The usual 2x2 windows pass k and s as constants: the compiler turns the divisions by
    k into shifts (a third faster on the detector's first block than with k a variable). Each
    road is one call of `_backward_channels`, not a branch around each plane's calls: with both
    roads' calls in the loops, LLVM did not inline them, and (32, 64, 8, 8) took 0.375 against
    0.288 ms (one core, 2-core AMD EPYC Zen 2, CPU family 23)."""
    channels = part_range(x.shape[1], part, n_parts)
    if k == 2 and s == 2:
        _backward_channels(
            2, 2, x, dout, argmax, mean, inv_std, gamma, beta, batch, dx, dgamma, dbeta, channels
        )
    else:
        _backward_channels(
            k, s, x, dout, argmax, mean, inv_std, gamma, beta, batch, dx, dgamma, dbeta, channels
        )


@one_at_a_time
def batchnorm_relu_maxpool_forward(x, gamma, beta, eps, kernel_size, stride):
    """Training mode: x (N, C, H, W) -> (out, argmax) of shape (N, C, H_out, W_out), and
    (mean, inv_std) per channel (C,) float64, as batchnorm_forward gives them."""
    x, gamma, beta, eps, k, s = arguments.batchnorm_relu_maxpool_forward(
        x, gamma, beta, eps, kernel_size, stride
    )
    out, argmax = _pooled_arrays(x, k, s)
    mean, inv_std = np.empty(x.shape[1]), np.empty(x.shape[1])
    gamma64, beta64 = gamma.astype(np.float64), beta.astype(np.float64)
    _forward(x, eps, gamma64, beta64, k, s, mean, inv_std, out, argmax)
    return out, argmax, mean, inv_std


@one_at_a_time
def batchnorm_relu_maxpool_inference(x, gamma, beta, mean, inv_std, kernel_size, stride):
    """(out, argmax) with given statistics (C,) float64: the running ones in evaluation."""
    x, gamma, beta, mean, inv_std, k, s = arguments.batchnorm_relu_maxpool_inference(
        x, gamma, beta, mean, inv_std, kernel_size, stride
    )
    out, argmax = _pooled_arrays(x, k, s)
    gamma64, beta64 = gamma.astype(np.float64), beta.astype(np.float64)
    _inference(x, mean, inv_std, gamma64, beta64, k, s, out, argmax)
    return out, argmax


@one_at_a_time
def batchnorm_relu_maxpool_backward(
    x, dout, argmax, mean, inv_std, gamma, beta, kernel_size, stride, batch_statistics=True
):
    """dL/dout (N, C, H_out, W_out) -> dL/dx (x's dtype), dγ and dβ (C,) float64, for the forward
    that gave argmax with these statistics: the batch's (batch_statistics=True, training) or
    given ones (False: the running statistics of evaluation mode)."""
    x, dout, argmax, mean, inv_std, gamma, beta, k, s, batch = (
        arguments.batchnorm_relu_maxpool_backward(
            x, dout, argmax, mean, inv_std, gamma, beta, kernel_size, stride, batch_statistics
        )
    )
    dx = np.empty_like(x)
    dgamma, dbeta = np.empty(x.shape[1]), np.empty(x.shape[1])
    gamma64, beta64 = gamma.astype(np.float64), beta.astype(np.float64)
    _backward(x, dout, argmax, k, s, mean, inv_std, gamma64, beta64, batch, dx, dgamma, dbeta)
    return dx, dgamma, dbeta


def _windows(x, k, s, out_h, out_w):
    """x's windows as (N, C, H_out, W_out, k*k), each in row-major order."""
    rows = (np.arange(out_h) * s)[:, None, None, None] + np.arange(k)[None, None, :, None]
    cols = (np.arange(out_w) * s)[None, :, None, None] + np.arange(k)[None, None, None, :]
    return x[:, :, rows, cols].reshape(*x.shape[:2], out_h, out_w, k * k)


def _chosen(x, gamma, mean, inv_std, k, s, out_h, out_w):
    """(argmax, x at those places): per window the first largest x, or the first smallest where
    γ inv_std < 0; np.argmax and np.argmin take the first NaN, as the kernels do."""
    windows = _windows(x, k, s, out_h, out_w)
    lowest = (gamma.astype(np.float64) * inv_std < 0)[:, None, None]
    places = np.where(lowest, windows.argmin(axis=-1), windows.argmax(axis=-1))
    return places, np.take_along_axis(windows, places[..., None], axis=-1)[..., 0]


def reference_batchnorm_relu_maxpool_forward(x, gamma, beta, eps, kernel_size, stride):
    """The formulas of the module docstring in NumPy: the twin of the training forward."""
    x, gamma, beta, eps, k, s = arguments.batchnorm_relu_maxpool_forward(
        x, gamma, beta, eps, kernel_size, stride
    )
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 2, 3))
    inv_std = 1.0 / np.sqrt(((x64 - mean[:, None, None]) ** 2).mean(axis=(0, 2, 3)) + eps)
    out, argmax = reference_batchnorm_relu_maxpool_inference(x, gamma, beta, mean, inv_std, k, s)
    return out, argmax, mean, inv_std


def reference_batchnorm_relu_maxpool_inference(x, gamma, beta, mean, inv_std, kernel_size, stride):
    """The twin of batchnorm_relu_maxpool_inference."""
    x, gamma, beta, mean, inv_std, k, s = arguments.batchnorm_relu_maxpool_inference(
        x, gamma, beta, mean, inv_std, kernel_size, stride
    )
    template, argmax_template = _pooled_arrays(x, k, s)
    places, chosen = _chosen(x, gamma, mean, inv_std, k, s, *template.shape[2:])
    out = affine(chosen, gamma, beta, mean, inv_std)
    out = np.where(out <= 0, 0.0, out)  # a NaN stays NaN
    return out.astype(x.dtype), places.astype(argmax_template.dtype)


def reference_batchnorm_relu_maxpool_backward(
    x, dout, argmax, mean, inv_std, gamma, beta, kernel_size, stride, batch_statistics=True
):
    """The twin of batchnorm_relu_maxpool_backward."""
    x, dout, argmax, mean, inv_std, gamma, beta, k, s, batch = (
        arguments.batchnorm_relu_maxpool_backward(
            x, dout, argmax, mean, inv_std, gamma, beta, kernel_size, stride, batch_statistics
        )
    )
    n_samples, channels, out_h, out_w = dout.shape
    x64 = x.astype(np.float64)
    count = n_samples * x.shape[2] * x.shape[3]
    # dy: dout at each window's chosen place, where the forward did not clamp; 0 elsewhere
    n, c, i, j = np.indices(dout.shape)
    y, q = i * s + argmax // k, j * s + argmax % k
    chosen = x64[n, c, y, q]
    passed = np.where(affine(chosen, gamma, beta, mean, inv_std) <= 0, 0.0, dout)
    dy = np.zeros_like(x64)
    dy[n, c, y, q] = passed
    x_hat = (x64 - mean[:, None, None]) * inv_std[:, None, None]
    dbeta, dgamma = dy.sum(axis=(0, 2, 3)), (dy * x_hat).sum(axis=(0, 2, 3))
    scale = (gamma.astype(np.float64) * inv_std)[:, None, None]
    if batch:
        dx = scale * (dy - dbeta[:, None, None] / count - x_hat * dgamma[:, None, None] / count)
    else:
        dx = scale * dy
    return dx.astype(x.dtype), dgamma, dbeta
