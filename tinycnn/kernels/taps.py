"""The two hot loops of every convolution, over batch planes (the last rung: see layout.py).

A "tap" is one (input plane, di, dj) term of the convolution sum, stored as the fixed offset
where it reads the planes. With q = n*rows*width + i*width + j running over the whole batch,
forward pass, input gradient and weight gradient all reduce to:

    correlate:  out[n, f, i, j] = bias[f] + sum_t w[f, t] * x[offsets[t] + q]
    tap_grads:  g[f, t]         = sum_q d[f, q] * x[offsets[t] + q]

Speed comes from the innermost loop: it runs over consecutive outputs q, reads each input run
through a slice taken outside the loop (computed indices inside it cost vector gathers), and uses
every loaded input for 4 output channels x 3 taps, so the FMA units, not the loads, set the pace.
Both loops take whole blocks only (F a multiple of 4, T of 3): `whole_taps` and `whole_blocks`
pad a problem with zero weights, and the padding taps read a plane that holds only zeros (the last
one of the batch planes), never a real input: 0 * inf is NaN, so a padding tap that re-read a real
pixel would turn an inf there into NaN. Likewise the weight gradient takes the inputs of kept
outputs only (`keep`): a thrown-away output has a zero gradient, but its window may cover a real
inf. The 4 accumulator rows start at least 256 bytes apart within a 4 KiB page
(layout.accumulator_stride). A load is first matched against the stores in flight on the low
12 bits of its address, so a load of one row that shares them with a store just made to another
row waits for it ("4K aliasing"). What that costs depends on where the rows sit in physical
memory, so it showed as one process fast and the next up to 2.3x slower. Measured on one core of
a 2-core AMD EPYC Zen 4, forward pass (64, 8, 32, 32) -> 16, the same four rows placed at 40
places in memory, two processes: rows starting 0, 64 or 128 bytes apart within the page, 9-18 of
the 40 places ran at 16-60 GFLOP/s instead of 66-70; 256, 384, 512 or 1024 bytes apart, all 40
ran at 65-70; 2048 bytes (every other row aliasing again), 8-9 slow. In five processes each,
before and after: that pass on one core took 29 GFLOP/s in one process and 54-61 in the others;
now 57-60 in all five. The finished rows are copied out of the accumulators element by
element: a slice assignment first checks whether the two slices overlap, which costs more than
copying a row of 8 to 64 numbers. On one core, the whole forward pass (layout included) went from
59-61 to 73-74 GFLOP/s on (64, 8, 32, 32) -> 16, 63-64 to 73-74 on (64, 16, 16, 16) -> 32 and
62-63 to 68-69 on (32, 32, 8, 8) -> 64 (three processes each, taking turns); on two threads
the times stayed within their noise.
One loop body per kernel compiles in half the time of one with remainder loops; the padding
costs nothing for 3x3 kernels and channel counts that are multiples of 4, and little otherwise (a
lone output channel, as in a grayscale input gradient, does 4x). Measured in one process on
Zen 4, a `keep` select inside the weight-gradient loop cost 0-3% of it (a bool mask; a float
mask 10-17%); on a Zen 2 (AVX2) about a third, so the loop now has none (tap_grads_four).

A forward pass with stride 1 whose threads' parts can take whole samples hands correlate its
images, not their planes: it lays each sample out as batch planes just before it reads them.

Where a forward pass has the shapes in_registers.chosen_for names (on AVX-512, float32, whole
blocks of 8 output channels, ...), conv.py hands it to in_registers.py instead: correlate's loop
again, the same sums in the same order, held in registers through all the taps, not in L1
accumulators.

A 1x1 convolution (stride 1, no padding) needs no planes: in NCHW memory a sample's channel c
already starts at c*H*W, so `pointwise` and `pointwise_grads` run the same two inner loops with
the channels as taps, straight from the input (see their docstrings for the measured gain).
"""

import numpy as np
from numba import njit

from tinycnn.kernels.layout import (
    BLOCK,
    CHANNELS,
    TAPS,
    accumulator_stride,
    ceil_div,
    lay_out_sample,
    part_jobs,
    whole_vectors,
)
from tinycnn.kernels.pool import pool_rows_2x2
from tinycnn.kernels.threads import part_range, parts_if_faster

# Let LLVM reorder sums (to vectorize the reductions) and fuse multiply-adds; NaN and inf keep
# their meaning, so a diverging network still shows NaN.
FAST = {"reassoc", "contract"}


@njit(cache=True, fastmath=FAST)
def _accumulate(acc, x, offsets, weights, f, first_tap, end_tap, start, length):
    """acc[r, :length] += sum_t weights[f + r, t] * x[start + offsets[t] :][:length], r < 4,
    over the taps first_tap <= t < end_tap (a whole number of TAPS)."""
    a0 = acc[0, :length]
    a1 = acc[1, :length]
    a2 = acc[2, :length]
    a3 = acc[3, :length]
    for t in range(first_tap, end_tap, TAPS):
        o0 = start + offsets[t]
        o1 = start + offsets[t + 1]
        o2 = start + offsets[t + 2]
        x0 = x[o0 : o0 + length]
        x1 = x[o1 : o1 + length]
        x2 = x[o2 : o2 + length]
        w00, w01, w02 = weights[f, t], weights[f, t + 1], weights[f, t + 2]
        w10, w11, w12 = weights[f + 1, t], weights[f + 1, t + 1], weights[f + 1, t + 2]
        w20, w21, w22 = weights[f + 2, t], weights[f + 2, t + 1], weights[f + 2, t + 2]
        w30, w31, w32 = weights[f + 3, t], weights[f + 3, t + 1], weights[f + 3, t + 2]
        for q in range(length):
            v0, v1, v2 = x0[q], x1[q], x2[q]
            a0[q] += w00 * v0 + w01 * v1 + w02 * v2
            a1[q] += w10 * v0 + w11 * v1 + w12 * v2
            a2[q] += w20 * v0 + w21 * v1 + w22 * v2
            a3[q] += w30 * v0 + w31 * v1 + w32 * v2


@parts_if_faster
@njit(cache=True, nogil=True, fastmath=FAST)
def correlate(
    x, offsets, weights, bias, rows, width, out, phases, argmax, images, image_shape, lead,
    n_threads, part, n_parts
):  # fmt: skip
    """For each phase (first_tap, end_tap, out_h, out_w, y0, x0, step), a row of phases:
    out[n, f, y0 + i*step, x0 + j*step] = bias[f] + sum_t weights[f, t] * x[offsets[t] + q]
    over the phase's taps first_tap <= t < end_tap, with q = n*rows*width + i*width + j, for
    i < out_h, j < out_w.

    x flat batch planes, offsets (T,), weights (F', T), bias (F',) in whole blocks (F' >= F,
    each phase's taps a multiple of TAPS), out (N, F, H, W) filled in place. A forward pass is
    one phase that fills all of out; an input gradient with stride s has s*s phases, each
    filling every s-th row and column of dx from its own taps of the same planes of dout. Each
    sample's rows down to its last row of outputs are cut into blocks, each computed as one run,
    every phase in turn; a call computes part `part` of n_parts of the blocks
    (threads.parts_if_faster: the callers leave the two out). A sample's rows below its outputs
    (the padding rows of its planes) are in no block: when blocks ran on across samples, those
    rows' outputs were computed and thrown away. On one core, (64, 8, 32, 32) -> 16 took
    1.91-2.00 ms against 2.02-2.07 ms, and with stride 2 0.519-0.527 against 0.546-0.555 ms
    (medians of 200 calls, four processes each, taking turns; 2-core AMD EPYC Zen 4, CPU
    family 25).

    argmax empty (0 numbers), as above. Otherwise one phase, pooled: out (N, F, out_h // 2,
    out_w // 2) receives max(0, the maximum of each 2x2 window) of the correlation, and argmax
    (uint8, the same shape) the place of that maximum in its window, as `_pool_out` says: a
    convolution, its ReLU and a 2x2 max-pooling in one pass (conv_pool.py), the correlation
    never written to memory. Its blocks then hold whole pairs of rows.

    All phases in one call, each block of rows through every phase before the next block:
    the rows of dx a block fills are still in the cache for the next phase's, and the threads
    wake once, not s*s times. The input gradient's four phases of (64, 8, 32, 32) -> 16, stride
    2, took 0.78-0.88 ms in one call against 1.06-1.26 ms in four (medians of 300 calls each,
    taking turns call by call, three processes; 2-core AMD EPYC Zen 4, CPU family 25). On one
    core, copying the outputs out of the accumulators, every s-th number of a row of dx one at
    a time, took 45% of it.

    images empty: x holds the planes already. Otherwise a forward pass (one phase, stride 1) that
    lays out its input as it goes: images (N, C, H, W) of image_shape as one flat run, and x
    empty_planes' planes on the grid (rows, width, lead, x's planes' length). Each sample is laid
    out (layout.lay_out_sample) just before its first block, by the part that computes its blocks,
    and the parts take whole samples: a sample's planes (37 KB for one of (64, 8, 32, 32)) are still
    in the cache when its blocks read them, where batch_planes wrote all of them (2.4 MB) first, and
    the other core is woken once, not twice. The same blocks in the same order: the same numbers,
    and x filled as batch_planes fills it. What two parts share: a part's first sample reads up to
    `lead` numbers before its block of each plane, the end of the previous sample's block, which the
    other part lays out. All of them are zeros (padding rows and columns), so this part writes those
    zeros itself first (layout.part_jobs): both parts write the same zeros there, and whichever
    comes first, every read finds a zero.
    """
    n_samples = out.shape[0]
    pooled = argmax.size > 0
    unit = 2 if pooled else 1  # rows per unit: a block holds whole units of a sample
    # A sample's units down to its last output, no further: the rows below hold thrown-away
    # outputs only. No block spans two samples.
    units = out.shape[2] if pooled else _max_out_rows(phases)
    if units == 0:
        return
    target = max(1, _rows_per_block(n_samples * units * unit, width, n_threads) // unit)
    blocks_per_sample = ceil_div(units, target)
    units_per_block = ceil_div(units, blocks_per_sample)  # a sample's blocks as even as can be
    run = whole_vectors(unit * units_per_block * width)
    acc = np.empty((CHANNELS, accumulator_stride(run, out.itemsize)), out.dtype)
    laying_out = images.size > 0
    blocks = part_jobs(
        x, images, image_shape[1], lead, rows, width, n_samples, blocks_per_sample, part, n_parts
    )
    for block in blocks:
        n = block // blocks_per_sample
        u0 = (block % blocks_per_sample) * units_per_block
        u1 = min(u0 + units_per_block, units)
        if laying_out and u0 == 0:
            lay_out_sample(images, image_shape, n, rows, width, lead, x)
        g0 = n * rows + unit * u0
        g1 = n * rows + unit * u1
        start = g0 * width
        length = whole_vectors((g1 - g0) * width)  # no scalar tail loop
        for phase in range(phases.shape[0]):
            first_tap, end_tap = phases[phase, 0], phases[phase, 1]
            out_h, out_w = phases[phase, 2], phases[phase, 3]
            y0, x0, step = phases[phase, 4], phases[phase, 5], phases[phase, 6]
            for f in range(0, weights.shape[0], CHANNELS):
                for r in range(CHANNELS):
                    acc[r, :length] = bias[f + r]
                _accumulate(acc, x, offsets, weights, f, first_tap, end_tap, start, length)
                if pooled:
                    _pool_out(acc, n, u0, u1, width, f, out, argmax)
                    continue
                for g in range(g0, g1):
                    i = g - n * rows
                    if i < out_h:
                        _copy_out(acc, (g - g0) * width, out_w, out, n, f, y0 + i * step, x0, step)


@njit(cache=True, inline="always")
def _copy_out(acc, row, out_w, out, n, f, y, x0, step):
    """out_w sums of each row of acc (up to CHANNELS output channels) from `row` on, to row y
    of out's planes (n, f + r), every step-th number from column x0. Element by element, every
    index unsigned: a slice assignment first checks whether the two slices overlap, which cost
    more than copying a short row, and numba tests each signed index (a negative one counts
    from the end). Against slices of each row of acc and out, one core, medians of 200 calls
    taking turns call by call: correlate's forward pass of (64, 8, 32, 32) -> 16 0.647 against
    0.692 ms with stride 2, 2.11 against 2.18 ms with stride 1, of (32, 1, 64, 64) -> 8 0.422
    against 0.456 ms; the input gradient of (64, 8, 32, 32) -> 16 with stride 2 (four phases,
    every other number of dx's rows) 1.10 against 1.32 ms (2-core AMD EPYC Zen 2, CPU family
    23)."""
    un, uy, ux0, urow = np.uint64(n), np.uint64(y), np.uint64(x0), np.uint64(row)
    for r in range(np.uint64(min(CHANNELS, out.shape[1] - f))):
        channel = np.uint64(f) + r
        if step == 1:
            for j in range(np.uint64(out_w)):
                out[un, channel, uy, ux0 + j] = acc[r, urow + j]
        else:
            ustep = np.uint64(step)
            for j in range(np.uint64(out_w)):
                out[un, channel, uy, ux0 + j * ustep] = acc[r, urow + j]


@njit(cache=True)
def _max_out_rows(phases):
    """The most rows of outputs any phase (a row of correlate's phases) has."""
    most = 0
    for phase in range(phases.shape[0]):
        most = max(most, phases[phase, 2])
    return most


@njit(cache=True)
def _pool_out(acc, n, u0, u1, width, f, out, argmax):
    """The accumulators' pairs of rows u0 <= i < u1 of sample n (the block's rows start at its
    row 2 u0), output channels f + r, pooled 2x2 into out and argmax (N, F, H_out, W_out):
    out = max(0, the window's first maximum), argmax = its place di * 2 + dj, by max-pooling's
    own loop (pool.pool_rows_2x2) and ReLU's test, so exactly as ReLUMaxPool2D computes them."""
    out_w = out.shape[3]
    for i in range(u0, u1):
        top = 2 * (i - u0) * width
        for r in range(min(CHANNELS, out.shape[1] - f)):
            upper = acc[r, top : top + 2 * out_w]
            lower = acc[r, top + width : top + width + 2 * out_w]
            pooled = out[n, f + r, i]
            pool_rows_2x2(upper, lower, pooled, argmax[n, f + r, i], False)
            for j in range(out_w):  # the ReLU, as activation.py's: a NaN stays NaN
                pooled[j] = 0 if pooled[j] <= 0 else pooled[j]


@njit(cache=True, fastmath=FAST)
def _accumulate_one(acc, x, offset, weights, f, t, start, length):
    """acc[r, :length] += weights[f + r, t] * x[start + offset :][:length], r < 4: one tap, for
    the taps left over after whole blocks of TAPS."""
    x0 = x[start + offset : start + offset + length]
    for r in range(CHANNELS):
        weight = weights[f + r, t]
        row = acc[r, :length]
        for q in range(length):
            row[q] += weight * x0[q]


@parts_if_faster
@njit(cache=True, nogil=True, fastmath=FAST)
def pointwise(x, weights, bias, out, part, n_parts):
    """out[n, f, q] = bias[f] + sum_c weights[f, c] * x[n, c, q]: a 1x1 convolution (stride 1,
    no padding) read straight from x (N, C, L), with no batch planes to lay out.

    In a sample's own memory, channel c starts at c*L: the "taps" are the channels, at offsets
    c*L, and the same _accumulate loop runs over runs of q within each sample. The channels
    left over after whole blocks of TAPS get _accumulate_one (there is no zero plane to read
    here). weights (F', C) with F' a multiple of CHANNELS (F' >= F), bias (F',), out (N, F, L).
    The input gradient of a 1x1 convolution is the same product with the transposed weights.
    A call computes part `part` of n_parts of the (sample, block) jobs (threads.parts_if_faster).

    Measured in one process on a busy Zen 4 (AMD EPYC, family 25), against the same 1x1
    convolution through batch planes and `correlate`: forward 1.9-3.8x and input gradient
    1.5-2.8x as fast on (32, 128, 8, 8) -> 16 and (32, 64, 16, 16) -> 32 (1 and 2 threads):
    no copy of the input into planes, and no outputs computed only to be thrown away.
    """
    n_samples, channels, length = x.shape
    n_out = out.shape[1]
    block_len = min(BLOCK, whole_vectors(length))
    blocks_per_sample = ceil_div(length, block_len)
    acc = np.empty((CHANNELS, accumulator_stride(block_len, out.itemsize)), out.dtype)
    whole = channels - channels % TAPS
    offsets = np.arange(channels) * length
    n_jobs = n_samples * blocks_per_sample
    for job in part_range(n_jobs, part, n_parts):
        n, block = job // blocks_per_sample, job % blocks_per_sample
        start = block * block_len
        run = min(block_len, length - start)
        sample = x[n].reshape(-1)
        for f in range(0, weights.shape[0], CHANNELS):
            for r in range(CHANNELS):
                acc[r, :run] = bias[f + r]
            _accumulate(acc, sample, offsets, weights, f, 0, whole, start, run)
            for t in range(whole, channels):
                _accumulate_one(acc, sample, offsets[t], weights, f, t, start, run)
            for r in range(min(CHANNELS, n_out - f)):
                out[n, f + r, start : start + run] = acc[r, :run]


@njit(cache=True)
def _rows_per_block(total_rows, width, n_threads):
    """About BLOCK outputs per block, and a multiple of n_threads blocks to share them evenly."""
    n_blocks = ceil_div(ceil_div(total_rows * width, BLOCK), n_threads) * n_threads
    return max(1, ceil_div(total_rows, n_blocks))


@njit(cache=True, fastmath=FAST)
def tap_grads_four(grads, x, d, d_lead, keep, offsets, f, q0, length, zeroed):
    """grads[f + r, t] += d[f + r, d_lead + q0 :][:length] . x[q0 + offsets[t] :][:length],
    r < 4, over the outputs q that keep (keep[q] True), and the bias, a tap that always reads 1:
    grads[f + r, T] += sum(d[f + r, d_lead + q0 :][:length]). zeroed: (TAPS, >= length)
    numbers to work in.

    A thrown-away output has d = 0, so its products add 0, unless the input it reads is inf or
    NaN: 0 * inf is NaN. So each three taps' sums are first taken over all the outputs, and
    only where one of them comes out inf or NaN taken again, over copies of the inputs with 0 at
    the outputs thrown away: the same sums either way, bit for bit. With the choice of x or 0 in
    the loop instead, on AVX2 (16 registers for its 12 sums, 7 runs and the choice) the weight
    gradient of (64, 8, 32, 32) -> 16 took 3.15 ms on one core and 1.62 ms on two, against
    2.05-2.08 and 1.09-1.12 ms this way; of (64, 16, 16, 16) -> 32 3.23 and 1.64 ms against
    2.17 and 1.14 ms (2-core AMD EPYC Zen 2, CPU family 23)."""
    zero = x.dtype.type(0)
    kept = keep[q0 : q0 + length]
    start = d_lead + q0
    d0 = d[f, start : start + length]
    d1 = d[f + 1, start : start + length]
    d2 = d[f + 2, start : start + length]
    d3 = d[f + 3, start : start + length]
    b0 = b1 = b2 = b3 = zero
    for q in range(length):
        b0 += d0[q]
        b1 += d1[q]
        b2 += d2[q]
        b3 += d3[q]
    bias = offsets.shape[0]
    grads[f, bias] += b0
    grads[f + 1, bias] += b1
    grads[f + 2, bias] += b2
    grads[f + 3, bias] += b3
    for t in range(0, offsets.shape[0], TAPS):
        o0 = q0 + offsets[t]
        o1 = q0 + offsets[t + 1]
        o2 = q0 + offsets[t + 2]
        x0 = x[o0 : o0 + length]
        x1 = x[o1 : o1 + length]
        x2 = x[o2 : o2 + length]
        copied = False
        while True:  # not `for` over two passes: LLVM unrolled that, compiling the loop twice
            s00 = s01 = s02 = s10 = s11 = s12 = zero
            s20 = s21 = s22 = s30 = s31 = s32 = zero
            for q in range(length):
                v0, v1, v2 = x0[q], x1[q], x2[q]
                e0, e1, e2, e3 = d0[q], d1[q], d2[q], d3[q]
                s00 += e0 * v0
                s01 += e0 * v1
                s02 += e0 * v2
                s10 += e1 * v0
                s11 += e1 * v1
                s12 += e1 * v2
                s20 += e2 * v0
                s21 += e2 * v1
                s22 += e2 * v2
                s30 += e3 * v0
                s31 += e3 * v1
                s32 += e3 * v2
            total = s00 + s01 + s02 + s10 + s11 + s12 + s20 + s21 + s22 + s30 + s31 + s32
            if copied or total - total == zero:  # no inf or NaN among them
                break
            copied = True
            x0, x1, x2 = _kept_inputs(x0, x1, x2, kept, zeroed)
        grads[f, t] += s00
        grads[f, t + 1] += s01
        grads[f, t + 2] += s02
        grads[f + 1, t] += s10
        grads[f + 1, t + 1] += s11
        grads[f + 1, t + 2] += s12
        grads[f + 2, t] += s20
        grads[f + 2, t + 1] += s21
        grads[f + 2, t + 2] += s22
        grads[f + 3, t] += s30
        grads[f + 3, t + 1] += s31
        grads[f + 3, t + 2] += s32


@njit(cache=True, inline="always")
def _kept_inputs(x0, x1, x2, kept, copies):
    """Copies of three taps' inputs (L numbers each) into the rows of copies (3, >= L), 0 where
    kept[q] is False."""
    zero = copies.dtype.type(0)
    length = kept.shape[0]
    y0, y1, y2 = copies[0, :length], copies[1, :length], copies[2, :length]
    for q in range(length):
        y0[q] = x0[q] if kept[q] else zero
        y1[q] = x1[q] if kept[q] else zero
        y2[q] = x2[q] if kept[q] else zero
    return y0, y1, y2


@njit(cache=True)
def grad_block_len(total, n_threads):
    """The outputs q of each block in tap_grads' shares: about BLOCK, and a multiple of
    n_threads blocks over all `total`, so that the threads get even shares. The thread of share
    s sums the blocks starting at s * block_len, then every n_threads * block_len after it.
    (conv_pool.py's weight gradient takes the same blocks, so its sums are tap_grads' own.)"""
    n_blocks = ceil_div(ceil_div(total, BLOCK), n_threads) * n_threads
    return whole_vectors(ceil_div(total, n_blocks))


def tap_grads(x, offsets, d, d_lead, keep, n_threads):
    """shares (n_threads, F, T + 1), summing to g[f, t] = sum_q d[f, d_lead + q] * x[offsets[t] + q]
    and, in the last column, the bias gradient g[f, T] = sum_q d[f, d_lead + q].

    x flat batch planes, offsets in whole taps, d (F, *) output gradients laid out like the
    outputs q from column d_lead on (zero where an output is thrown away; F a multiple of 4),
    keep (L,) True where an output is kept, L a multiple of VECTOR: only those outputs' inputs
    enter the sums. (d_lead lets the input gradient's planes of dout, whose rows start with a
    lead, serve here too: conv.conv2d_backward.) Share s sums the blocks of q that
    grad_block_len gives it, on a thread of its own or all shares on one
    (threads.parts_if_faster: the same sums); the caller adds the shares (numba's sum over an
    axis would cost seconds of compile time).
    """
    shares = np.empty((n_threads, d.shape[0], offsets.shape[0] + 1), x.dtype)
    _tap_grad_shares(shares, x, offsets, d, d_lead, keep)
    return shares


@parts_if_faster
@njit(cache=True, nogil=True, fastmath=FAST)
def _tap_grad_shares(shares, x, offsets, d, d_lead, keep, part, n_parts):
    """tap_grads' shares of part `part` of n_parts, each summed from zero."""
    n_shares, n_out, total = shares.shape[0], d.shape[0], keep.shape[0]
    block_len = grad_block_len(total, n_shares)
    zeroed = np.empty((TAPS, block_len), x.dtype)  # tap_grads_four's
    for share in part_range(n_shares, part, n_parts):
        grads = shares[share]
        grads[:] = 0
        for q0 in range(share * block_len, total, n_shares * block_len):
            length = min(block_len, total - q0)
            for f in range(0, n_out, CHANNELS):
                tap_grads_four(grads, x, d, d_lead, keep, offsets, f, q0, length, zeroed)


def pointwise_grads(x, d, offsets, keep, n_threads):
    """shares (n_threads, F, T + 1), summing to g[f, c] = sum_{n,q} d[n, f, q] * x[n, c, q] and,
    in the last column, the bias gradient: the weight gradient of a 1x1 convolution (stride 1,
    no padding) straight from x (N, C, L) and d (N, F, L), F a multiple of 4.

    The same `tap_grads_four` loop as tap_grads, run per sample with the channels as taps
    (offsets c*L, padded to whole taps: the padding columns are dropped by the caller, so what
    they read does not matter) and keep (L,) all True: every output of a 1x1 convolution is
    kept. Share s sums the (sample, block) jobs s, s + n_threads, ... Measured in one process on
    a busy Zen 4 against the batch-plane path: 1.9-6.7x as fast on (32, 128, 8, 8) -> 16,
    (32, 64, 16, 16) -> 32 and (64, 16, 32, 32) -> 16, 1 and 2 threads (no planes to lay out).
    """
    shares = np.empty((n_threads, d.shape[1], offsets.shape[0] + 1), x.dtype)
    _pointwise_grad_shares(shares, x, d, offsets, keep)
    return shares


@parts_if_faster
@njit(cache=True, nogil=True, fastmath=FAST)
def _pointwise_grad_shares(shares, x, d, offsets, keep, part, n_parts):
    """pointwise_grads' shares of part `part` of n_parts, each summed from zero."""
    n_shares = shares.shape[0]
    n_samples, _, length = x.shape
    n_out = d.shape[1]
    block_len = min(BLOCK, length)
    blocks_per_sample = ceil_div(length, block_len)
    zeroed = np.empty((TAPS, block_len), x.dtype)  # tap_grads_four's
    for share in part_range(n_shares, part, n_parts):
        grads = shares[share]
        grads[:] = 0
        for job in range(share, n_samples * blocks_per_sample, n_shares):
            n, block = job // blocks_per_sample, job % blocks_per_sample
            q0 = block * block_len
            run = min(block_len, length - q0)
            sample = x[n].reshape(-1)
            for f in range(0, n_out, CHANNELS):
                tap_grads_four(grads, sample, d[n], 0, keep, offsets, f, q0, run, zeroed)
