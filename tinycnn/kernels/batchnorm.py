"""Batch normalization kernels, each beside its plain NumPy twin (`reference_...`), which the
tests hold it equal to.

Per channel c, over the M = N * H * W values of a batch x (N, C, H, W):

    mean_c = (1/M) Σ x        var_c = (1/M) Σ (x - mean_c)²        inv_std_c = 1 / sqrt(var_c + eps)
    x̂ = (x - mean_c) * inv_std_c                                  out = γ_c x̂ + β_c

backward, with dout = dL/dout:

    dβ_c = Σ dout      dγ_c = Σ dout * x̂
    dx   = γ_c * inv_std_c / M * (M * dout - dβ_c - x̂ * dγ_c)

With relu=True the same kernels compute batch norm then ReLU (the layer `BatchNormReLU2D`):

    out = max(0, γ_c x̂ + β_c)        backward: the formulas above with dout = 0 where out was 0

They take a floor, -inf alone and 0 with the ReLU, and write max(floor, value) as they write out.
The backward finds the clamped values again from x, γ and β, which it reads anyway, instead of
from a stored mask. So the ReLU adds no pass over memory, no array and no wake-up of the threads.
Measured on lesson 8's detector step (batch 32 of 64 x 64, float32, 2-core AMD EPYC Zen 4; eight
processes of each version taking turns, the fastest tenth of each one's steps): 16.5 ms with the
ReLU inside batch norm against 18.4 ms with ReLU layers (medians; 16.3-19.8 and 17.6-24.1 ms).
The test costs the backward about 15% (0.108 against 0.093 ms on 32 x 64 x 8 x 8), where the
ReLU layer alone took 0.11 ms forward and backward. It runs once a value: the backward's first
pass writes the gradient that passed the ReLU into dx, and the second pass turns it into dL/dx
in place. Against testing again in the second pass, on a 2-core AMD EPYC Zen 2 (CPU family 23),
the two codes taking turns in one process (medians of 60 pairs), BatchNormReLU2D's forward and
backward took 0.238 against 0.292 ms on (32, 128, 4, 4) (channel by channel, before the short
rows below) and 0.366 against 0.410 ms on (32, 64, 8, 8) on one core (the one-pass statistics
of `_channel_statistics` included); BatchNorm2D, which has no test to save, 0.954 against
0.957 ms on (32, 16, 32, 32) on one core and 0.613 against 0.591 ms on two.

The kernels take the channels in parts, one part per thread (`threads.parts_if_faster`), and
walk each (n, c) plane as one contiguous row. The forward reads x once for the statistics (the
sums of x - x_0 and (x - x_0)² around the channel's first value: `_channel_statistics` says why
no digit that matters is lost) and once more to write, both in one loop over the channels
(`_forward`: one hand-over to the other thread, not two; threads.py says what one costs); the
backward recomputes x̂ from x instead of keeping a copy. Sums run in float64 whatever the dtype.

Planes of at most SHORT_ROWS values go sample by sample instead (`_short_row_statistics`,
`_normalize_short_rows`, `_short_rows_backward`). A 4 x 4 plane of float32 is one 64-byte cache
line, and the channel's next plane lies C lines further on: channel by channel, every line is a
separate trip to memory that the prefetcher does not see coming. Sample by sample, the part's
channels' planes are one run of memory, read in order, with each sum kept per place (a lane,
LLVM vectorizes across them) and a channel's lanes added at the end. Measured on the detector's
last batch norm, BatchNormReLU2D on (32, 128, 4, 4), forward and backward, against channel by
channel (2-core AMD EPYC Zen 2, CPU family 23; the two codes taking turns in one process,
medians of 60 pairs): 0.503 against 0.703 ms on one core with the caches flushed before each
call, as in a training step where x was written long before the backward reads it; 0.547
against 0.633 ms on two threads; 0.225 against 0.232 ms with everything in cache. On 8 x 8
planes, four lines each, the forward's statistics were slower this way (0.093 against
0.067 ms).

In parts rather than as numba parallel loops (`prange` over C), batchnorm_pool.py's kernels on
the detector's four pooled blocks, (32, 8, 64, 64) to (32, 64, 8, 8), took 0.272, 0.195, 0.110
and 0.166 ms forward against 0.375, 0.267, 0.164 and 0.232 ms, and 0.723, 0.433, 0.278 and
0.284 ms backward against 0.781, 0.476, 0.337 and 0.342 ms (medians of 200 calls, three rounds;
one core: 0.472 to 0.999 ms); the detector's step, each code in its own process taking turns,
16.21 and 14.40 ms against 16.69 and 16.10 ms (faster in 13 and 15 rounds of 20; 2-core AMD
EPYC Zen 4, CPU family 25). threads.py's Helper says why a hand-over costs less than a
parallel loop's wake-ups.

The trick that matters is `fastmath={"reassoc"}` on the sums (see REORDER_SUMS). On the
detector's first activation (32 x 16 x 64 x 64, float32, 2 threads, AMD EPYC Zen 4 shared with
other work) it took the forward from 19 ms to 0.5 ms and the backward from 2 to 16 ms
(noisy) to 1.1 ms; the NumPy twins took 45 to 60 ms and 60 to 80 ms.

batchnorm_pool.py builds batch norm, ReLU and max-pooling in one pass from the loops below.
"""

import numpy as np
from numba import njit

from tinycnn.kernels import arguments
from tinycnn.kernels.threads import part_range, parts_if_faster
from tinycnn.runtime import one_at_a_time

REORDER_SUMS = {"reassoc"}
"""LLVM may add a sum's terms in another order: several partial sums in SIMD lanes instead of
one chain of dependent additions, each waiting for the last (only this fast-math flag: NaN and
infinity keep their meaning)."""


SHORT_ROWS = 16
"""Planes of at most this many values (4 x 4 maps: one 64-byte cache line of float32 a plane) go
sample by sample, not channel by channel: see the module docstring."""


@njit(cache=True, fastmath=REORDER_SUMS)
def _channel_statistics(x, c, eps):
    """(mean, inv_std) of channel c of x (N, C, L), in float64, from one pass over the channel:
    the sums of d = x - x_0 and of d², around x_0, the channel's first value,

        mean = x_0 + Σd / M        var = Σd² / M - (Σd / M)²

    The subtraction amplifies the sums' rounding by 1 + ((x_0 - mean) / std)², and x_0, one of
    the M values, lies at most sqrt(M) standard deviations off the mean: the factor is at most
    M + 1, about 10 where x_0 lies a few deviations off, whatever the values' distance from 0.
    Around 0 instead (Σx² / M - mean²) it would be 1 + (mean / std)²: 1e12 for 1000 +- 0.001,
    twelve of float64's sixteen digits. One pass, not two (the mean, then the squares around
    it): batch norm's forward on (32, 128, 4, 4) took 1.22 against 1.68 ns a value on one core
    (2-core AMD EPYC Zen 2, CPU family 23)."""
    n_samples = x.shape[0]
    shift = np.float64(x[0, c, 0])
    total, squares = 0.0, 0.0
    for n in range(n_samples):
        row = x[n, c]
        for q in range(row.size):
            deviation = row[q] - shift
            total += deviation
            squares += deviation * deviation
    return _moments(shift, total, squares, n_samples * x.shape[2], eps)


@njit(cache=True)
def _moments(shift, total, squares, count, eps):
    """(mean, inv_std) from the sums of d = x - shift and of d² over count values."""
    mean_deviation = total / count
    variance = squares / count - mean_deviation * mean_deviation
    if variance < 0.0:  # rounding, where every value is about the same; a NaN stays NaN
        variance = 0.0
    return shift + mean_deviation, 1.0 / np.sqrt(variance + eps)


@njit(cache=True)
def _gradient_terms(total, total_deviation, gamma, inv_std, count):
    """(dβ, dγ, slope, offset) of one channel from Σ dout and Σ dout (x - mean) over its count
    values, for dx = a dout - (x - mean) slope - offset, a = γ inv_std: the module docstring's
    dx = a (dout - mean(dout) - x̂ mean(dout x̂)) with the means' factors gathered."""
    a = gamma * inv_std
    dgamma = total_deviation * inv_std
    return total, dgamma, a * inv_std * inv_std * total_deviation / count, a * total / count


@njit(cache=True, fastmath=REORDER_SUMS)
def _short_row_statistics(x, channels, eps, mean, inv_std):
    """mean[c], inv_std[c] for each c in `channels` (a range) of x (N, C, L) with short rows:
    `_channel_statistics`'s sums, taken sample by sample over the channels' planes together
    (one run of x, in memory order), each sum kept per place, a place's lane, and a channel's
    lanes added at the end."""
    n_samples, _, length = x.shape
    rows = x.reshape(n_samples, -1)
    start, stop = channels.start * length, channels.stop * length
    run = stop - start
    shift, total, squares = np.empty(run), np.zeros(run), np.zeros(run)
    for c in channels:
        shift[c * length - start : (c + 1) * length - start] = x[0, c, 0]
    for n in range(n_samples):
        row = rows[n][start:stop]
        for k in range(run):
            deviation = row[k] - shift[k]
            total[k] += deviation
            squares[k] += deviation * deviation
    for c in channels:
        lanes = slice(c * length - start, (c + 1) * length - start)
        mean[c], inv_std[c] = _moments(
            shift[lanes.start], total[lanes].sum(), squares[lanes].sum(), n_samples * length, eps
        )


@njit(cache=True)
def _clamped(value, centre, a, b, floor):
    """Whether the forward set (value - centre) * a + b to the floor. Compiled without
    fast-math, so that forward and backward round alike and agree."""
    return (value - centre) * a + b <= floor


@njit(cache=True)
def _normalize_channel(x, c, centre, a, b, floor, out):
    """out[:, c] = max(floor, (x[:, c] - centre) * a + b), in float64 before rounding to out's
    dtype: with float32 x far from 0 (say 1000 +- 0.001), x * a + b would cancel away every
    digit. A NaN stays NaN, so a diverging network shows it."""
    for n in range(x.shape[0]):
        row, out_row = x[n, c], out[n, c]
        for q in range(row.size):
            value = (row[q] - centre) * a + b
            out_row[q] = floor if value <= floor else value


@njit(cache=True)
def _places(channels, length, mean, inv_std, gamma, beta):
    """(start, stop, centre, a, b) for short rows: the places [start, stop) that `channels`
    cover among a sample's C * L values, and at each place its channel's centre, a = γ inv_std
    and β."""
    start, stop = channels.start * length, channels.stop * length
    centre, a, b = np.empty(stop - start), np.empty(stop - start), np.empty(stop - start)
    for c in channels:
        lanes = slice(c * length - start, (c + 1) * length - start)
        centre[lanes], a[lanes], b[lanes] = mean[c], gamma[c] * inv_std[c], beta[c]
    return start, stop, centre, a, b


@njit(cache=True)
def _normalize_short_rows(x, channels, mean, inv_std, gamma, beta, floor, out):
    """`_normalize_channel` for each channel in `channels` of x (N, C, L) with short rows,
    sample by sample over the channels' planes together, each place with its channel's
    centre, a = γ inv_std and β: the same arithmetic, value by value."""
    n_samples, _, length = x.shape
    rows, out_rows = x.reshape(n_samples, -1), out.reshape(n_samples, -1)
    start, stop, centre, a, b = _places(channels, length, mean, inv_std, gamma, beta)
    run = stop - start
    for n in range(n_samples):
        row, out_row = rows[n][start:stop], out_rows[n][start:stop]
        for k in range(run):
            value = (row[k] - centre[k]) * a[k] + b[k]
            out_row[k] = floor if value <= floor else value


@parts_if_faster
@njit(cache=True, nogil=True)
def _forward(x, eps, gamma, beta, floor, mean, inv_std, out, part, n_parts):
    """Training: each channel's statistics, then the channel normalized with them, while its
    values are still in the core's cache; part `part` of n_parts of the channels. Short rows:
    the statistics of all the part's channels, then all of them normalized."""
    channels = part_range(x.shape[1], part, n_parts)
    if x.shape[2] <= SHORT_ROWS:
        _short_row_statistics(x, channels, eps, mean, inv_std)
        _normalize_short_rows(x, channels, mean, inv_std, gamma, beta, floor, out)
        return
    for c in channels:
        centre, scale = _channel_statistics(x, c, eps)
        mean[c], inv_std[c] = centre, scale
        _normalize_channel(x, c, centre, gamma[c] * scale, beta[c], floor, out)


@parts_if_faster
@njit(cache=True, nogil=True)
def _normalize(x, mean, inv_std, gamma, beta, floor, out, part, n_parts):
    """Evaluation: out = max(floor, (x - mean_c) * γ_c inv_std_c + beta_c), given statistics."""
    channels = part_range(x.shape[1], part, n_parts)
    if x.shape[2] <= SHORT_ROWS:
        _normalize_short_rows(x, channels, mean, inv_std, gamma, beta, floor, out)
        return
    for c in channels:
        _normalize_channel(x, c, mean[c], gamma[c] * inv_std[c], beta[c], floor, out)


@njit(cache=True, fastmath=REORDER_SUMS)
def _short_rows_backward(x, dout, channels, mean, inv_std, gamma, beta, floor, dx, dgamma, dbeta):
    """`_backward` for each channel in `channels` of x (N, C, L) with short rows, sample by
    sample over the channels' planes together: the sums kept per place, then added per
    channel, as in `_short_row_statistics`."""
    n_samples, _, length = x.shape
    rows, dout_rows = x.reshape(n_samples, -1), dout.reshape(n_samples, -1)
    dx_rows = dx.reshape(n_samples, -1)
    start, stop, centre, a, b = _places(channels, length, mean, inv_std, gamma, beta)
    run = stop - start
    with_relu = floor > -np.inf
    sum_dout, sum_dout_deviation = np.zeros(run), np.zeros(run)
    for n in range(n_samples):
        row, dout_row = rows[n][start:stop], dout_rows[n][start:stop]
        passed_row = dx_rows[n][start:stop]
        for k in range(run):
            value = row[k]
            clamped = with_relu and _clamped(value, centre[k], a[k], b[k], floor)
            passed = 0.0 if clamped else dout_row[k]
            passed_row[k] = passed
            sum_dout[k] += passed
            sum_dout_deviation[k] += passed * (value - centre[k])
    slope, offset = np.empty(run), np.empty(run)
    count = n_samples * length
    for c in channels:
        lanes = slice(c * length - start, (c + 1) * length - start)
        dbeta[c], dgamma[c], slope[lanes], offset[lanes] = _gradient_terms(
            sum_dout[lanes].sum(), sum_dout_deviation[lanes].sum(), gamma[c], inv_std[c], count
        )
    for n in range(n_samples):
        row, dx_row = rows[n][start:stop], dx_rows[n][start:stop]
        for k in range(run):
            dx_row[k] = a[k] * dx_row[k] - (row[k] - centre[k]) * slope[k] - offset[k]


@parts_if_faster
@njit(cache=True, nogil=True, fastmath=REORDER_SUMS)
def _backward(x, dout, mean, inv_std, gamma, beta, floor, dx, dgamma, dbeta, part, n_parts):
    """dout counts as 0 where the forward clamped (`_clamped`): the ReLU's backward. The first
    pass writes that gradient into dx, which the second pass turns into dL/dx in place."""
    n_samples, _, length = x.shape
    count = n_samples * length
    channels = part_range(x.shape[1], part, n_parts)
    if length <= SHORT_ROWS:
        _short_rows_backward(
            x, dout, channels, mean, inv_std, gamma, beta, floor, dx, dgamma, dbeta
        )
        return
    for c in channels:
        centre, scale = mean[c], inv_std[c]
        a, b = gamma[c] * scale, beta[c]
        with_relu = floor > -np.inf  # batch norm alone: LLVM takes the test out of the loops
        sum_dout, sum_dout_deviation = 0.0, 0.0
        for n in range(n_samples):
            row, dout_row, passed_row = x[n, c], dout[n, c], dx[n, c]
            for q in range(row.size):
                passed = 0.0 if with_relu and _clamped(row[q], centre, a, b, floor) else dout_row[q]
                passed_row[q] = passed  # kept in dx: the second pass needs no second test
                sum_dout += passed
                sum_dout_deviation += passed * (row[q] - centre)
        dbeta[c], dgamma[c], slope, offset = _gradient_terms(
            sum_dout, sum_dout_deviation, gamma[c], scale, count
        )
        for n in range(n_samples):
            row, dx_row = x[n, c], dx[n, c]
            for q in range(row.size):
                dx_row[q] = a * dx_row[q] - (row[q] - centre) * slope - offset


def _floor(relu):
    """The kernels' floor: 0 for batch norm then ReLU, -inf (nothing clamped) for batch norm."""
    return 0.0 if relu else -np.inf


@one_at_a_time
def batchnorm_forward(x, gamma, beta, eps, relu=False):
    """Training mode: x (N, C, H, W) -> out, and (mean, inv_std) per channel (C,) float64, which
    backward and the running statistics need. relu=True: out = max(0, out)."""
    # C order: a Fortran-order out would reshape into a copy
    x, gamma, beta, eps, relu = arguments.batchnorm_forward(x, gamma, beta, eps, relu)
    flat = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    mean = np.empty(x.shape[1])
    inv_std = np.empty(x.shape[1])
    out = np.empty_like(x)
    gamma64, beta64 = gamma.astype(np.float64), beta.astype(np.float64)
    _forward(flat, eps, gamma64, beta64, _floor(relu), mean, inv_std, out.reshape(flat.shape))
    return out, mean, inv_std


@one_at_a_time
def batchnorm_inference(x, gamma, beta, mean, inv_std, relu=False):
    """Normalise x (N, C, H, W) with given statistics (C,) float64: the batch's in training, the
    running ones in evaluation. out = γ (x - mean) inv_std + β; relu=True: max(0, out)."""
    x, gamma, beta, mean, inv_std, relu = arguments.batchnorm_inference(
        x, gamma, beta, mean, inv_std, relu
    )
    flat = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    out = np.empty_like(x)
    gamma64, beta64 = gamma.astype(np.float64), beta.astype(np.float64)
    _normalize(flat, mean, inv_std, gamma64, beta64, _floor(relu), out.reshape(flat.shape))
    return out


@one_at_a_time
def batchnorm_backward(x, dout, mean, inv_std, gamma, relu=False, beta=None):
    """Training mode: dL/dout -> dL/dx (x's dtype), dγ and dβ (C,) float64. relu=True: the
    backward of batchnorm_forward(..., relu=True), which needs beta to find the clamped values."""
    x, dout, mean, inv_std, gamma, relu, beta = arguments.batchnorm_backward(
        x, dout, mean, inv_std, gamma, relu, beta
    )
    flat = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    dx = np.empty_like(x)
    dgamma = np.empty(x.shape[1])
    dbeta = np.empty(x.shape[1])
    _backward(
        flat,
        dout.reshape(flat.shape),
        mean,
        inv_std,
        gamma.astype(np.float64),
        beta.astype(np.float64),
        _floor(relu),
        dx.reshape(flat.shape),
        dgamma,
        dbeta,
    )
    return dx, dgamma, dbeta


def reference_batchnorm_forward(x, gamma, beta, eps, relu=False):
    """The formulas of the module docstring in NumPy: the twin of batchnorm_forward."""
    x, gamma, beta, eps, relu = arguments.batchnorm_forward(x, gamma, beta, eps, relu)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 2, 3))
    var = ((x64 - mean[:, None, None]) ** 2).mean(axis=(0, 2, 3))
    inv_std = 1.0 / np.sqrt(var + eps)
    out = affine(x64, gamma, beta, mean, inv_std)
    if relu:
        out = np.where(out <= 0, 0.0, out)  # a NaN stays NaN
    return out.astype(x.dtype), mean, inv_std


def reference_batchnorm_backward(x, dout, mean, inv_std, gamma, relu=False, beta=None):
    """The formulas of the module docstring in NumPy: the twin of batchnorm_backward."""
    x, dout, mean, inv_std, gamma, relu, beta = arguments.batchnorm_backward(
        x, dout, mean, inv_std, gamma, relu, beta
    )
    count = x.shape[0] * x.shape[2] * x.shape[3]
    x64 = x.astype(np.float64)
    x_hat = (x64 - mean[:, None, None]) * inv_std[:, None, None]
    dout = dout.astype(np.float64)
    if relu:  # ReLU's backward first: no gradient where the forward wrote 0
        dout = np.where(affine(x64, gamma, beta, mean, inv_std) <= 0, 0.0, dout)
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
    dx = (
        (gamma * inv_std)[:, None, None]
        / count
        * (count * dout - dbeta[:, None, None] - x_hat * dgamma[:, None, None])
    )
    return dx.astype(x.dtype), dgamma, dbeta


def affine(x, gamma, beta, mean, inv_std):
    """γ_c x̂ + β_c for x (N, C, H, W), in float64, computed as the kernels compute it,
    (x - mean) (γ inv_std) + β: where a ReLU follows, the values it clamps are exactly those the
    kernels clamp (the twins and BatchNormReLU2D's evaluation-mode backward find them with it).
    Arguments as batchnorm_inference's."""
    x, gamma, beta, mean, inv_std, _ = arguments.batchnorm_inference(
        x, gamma, beta, mean, inv_std, False
    )
    scale = (gamma.astype(np.float64) * inv_std)[:, None, None]
    shift = beta.astype(np.float64)[:, None, None]
    return (np.asarray(x, dtype=np.float64) - mean[:, None, None]) * scale + shift
