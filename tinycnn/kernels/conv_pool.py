"""A convolution, its ReLU and a 2x2 max-pooling in one pass each way: lesson 4's blocks
(the layer ConvReLUMaxPool2D).

Stride 1, any k >= 2 and padding, windows 2x2 with stride 2. With c = conv(x) (N, F, H_c, W_c):

    forward:   out[n, f, i, j]    = max(0, max_{di, dj < 2} c[n, f, 2i + di, 2j + dj])
               argmax[n, f, i, j] = di * 2 + dj of the window's first maximum (uint8)
    backward:  dc[n, f, 2i + di, 2j + dj] = dout[n, f, i, j] where out > 0 and argmax says
               (di, dj), 0 elsewhere; then the convolution's backward with dc.

the same numbers as Conv2D then ReLUMaxPool2D, bit for bit, where Conv2D takes its direct loops
(elsewhere to rounding: see `chosen_for`). Those two layers pass the whole
convolution c through memory: the convolution writes it (8 MiB on lesson 4's first block at
batch 64) and the pooling reads it back; backward, the pooling writes dc, as large, and the
convolution reads it again to lay it out as planes. Here the convolution's loop pools its
accumulators before they leave the cache (`taps.correlate` with an argmax to fill), and the
backward unpools dout straight into the planes the convolution's backward reads
(`_unpool_planes`), so c and dc never exist. A network's first layer, which needs no input
gradient, does not lay dc out at all: its weight gradient builds dc a block at a time in the
cache, where it sums it (`_unpooled_weight_grads`).

Lesson 4's training step (batch 64), its network built both ways in one process with the same
weights (each block one ConvReLUMaxPool2D, or Conv2D then ReLUMaxPool2D), taking turns 20 steps
at a time (medians of 260 steps, two processes; 2-core AMD EPYC Zen 4, CPU family 25): 13.5
against 15.7 ms and 12.9 against 14.5 ms. Forward and backward, its first block 2.7 against
4.4 ms and 2.5 against 3.8 ms, its second 4.5 against 5.4 ms and 4.4 against 5.0 ms; its third,
where Conv2D would take Winograd's road, 4.3 against 4.0 ms and 4.1 against 3.8 ms (see
`chosen_for`).
"""

import numba
import numpy as np
from numba import njit

from tinycnn.kernels import arguments, conv
from tinycnn.kernels.layout import (
    CHANNELS,
    TAPS,
    ceil_div,
    empty_planes,
    forward_geometry,
    phase_geometry,
    zero,
)
from tinycnn.kernels.taps import grad_block_len, tap_grads_four
from tinycnn.kernels.threads import part_range, parts_if_faster
from tinycnn.runtime import one_at_a_time


def chosen_for(x_shape, weights_shape, stride, padding, pool_size, pool_stride):
    """True where ConvReLUMaxPool2D runs this module's pass: stride 1, k >= 2, 2x2 pooling
    windows with stride 2, and a convolution's output of 2x2 or more. Elsewhere it runs the
    convolution's road (roads.py), then ReLUMaxPool2D's kernels: the same function.

    Winograd's road included, though Conv2D takes it for 3x3 kernels on small maps or with many
    channels. On lesson 4's third block, (64, 16, 16, 16) -> 32, Winograd's road and then the
    pooling's and ReLU's kernels took 3.5 ms forward and backward against 4.2 ms for this pass
    (medians of 200 calls, taking turns), and lesson 4's step 13.1 against 13.6 ms (24 rounds,
    one process each, taking turns); but that one layer compiled four Winograd kernels and the
    pooling's and ReLU's, which nothing else in lesson 4 needs: its first run, with an empty
    numba cache, took 8.4 s from launch to exit against 6.3 s (three processes each, taking
    turns; 2-core AMD EPYC Zen 4, CPU family 25)."""
    k = weights_shape[2]
    if stride != 1 or k < 2 or pool_size != 2 or pool_stride != 2:
        return False
    out_h, out_w = (size + 2 * padding - k + 1 for size in x_shape[2:])
    return min(out_h, out_w) >= 2


@one_at_a_time
def conv_relu_maxpool_forward(x, weights, bias, padding):
    """(out, argmax, planes): out (N, F, H_c // 2, W_c // 2) and argmax (uint8) as in the module
    docstring, planes x's batch planes, which conv_relu_maxpool_backward reads (None for an empty
    batch). x (N, C, H, W), weights (F, C, k, k), bias (F,) or None (zeros), stride 1.

    Against the two layers' kernels, taking turns call by call (medians of 200 calls; 2-core AMD
    EPYC Zen 4, CPU family 25): (64, 1, 64, 64) -> 8 channels 0.98 ms against 1.60 ms on two
    threads, 1.05 against 1.65 ms on one; (64, 8, 32, 32) -> 16 1.26 against 1.56 ms, and 2.32
    against 2.68 ms.
    """
    x, weights, bias, padding = arguments.conv_relu_maxpool_forward(x, weights, bias, padding)
    n_samples = x.shape[0]
    n_filters, _, k, _ = weights.shape
    _, _, conv_h, conv_w = arguments.convolution_output(x.shape, n_filters, k, 1, padding)
    out = np.empty((n_samples, n_filters, conv_h // 2, conv_w // 2), x.dtype)
    argmax = np.empty(out.shape, np.uint8)
    if n_samples == 0:
        return out, argmax, None
    planes = conv.forward_pass(x, weights, bias, 1, padding, (conv_h, conv_w), out, argmax)
    return out, argmax, planes


@one_at_a_time
def conv_relu_maxpool_backward(
    x_shape, dout, out, argmax, weights, padding, planes, input_grad=True
):
    """(dx or None, dweights, dbias) from dout, and out, argmax and planes as the forward pass
    returned them for images of x_shape: the convolution's gradients with dc of the module
    docstring, which is laid out as planes while it is unpooled, never as an array of its own.

    Forward and backward together against the two layers' kernels, taking turns call by call
    (medians of 200 calls, two processes; 2-core AMD EPYC Zen 4, CPU family 25): (64, 1, 64, 64)
    -> 8 without the input gradient (a first layer) 2.29-2.33 ms against 3.62-3.70 ms;
    (64, 8, 32, 32) -> 16 4.19-4.31 ms against 4.82-5.02 ms.
    """
    x_shape, dout, out, argmax, weights, padding, input_grad = arguments.conv_relu_maxpool_backward(
        x_shape, dout, out, argmax, weights, padding, input_grad
    )
    n_filters, _, k, _ = weights.shape
    _, _, conv_h, conv_w = arguments.convolution_output(x_shape, n_filters, k, 1, padding)
    if x_shape[0] == 0:
        dweights, dbias = np.zeros(weights.shape, dout.dtype), np.zeros(n_filters, dout.dtype)
        return (np.zeros(x_shape, dout.dtype) if input_grad else None), dweights, dbias
    planes = conv.kept_planes(planes, x_shape, dout.dtype, k, 1, padding, conv_h, conv_w)
    if planes is None:
        raise ValueError("planes must be what conv_relu_maxpool_forward returned for this x")
    if not input_grad:  # a network's first layer: dc is never laid out
        grid, offsets = forward_geometry(tuple(x_shape), k, 1, padding, conv_h, conv_w)
        keep = conv.kept_outputs(x_shape[0], grid, conv_h, conv_w)
        shares = _unpooled_weight_grads(planes, offsets, dout, out, argmax, grid, keep)
        return None, *conv.weights_and_bias(shares, n_filters, x_shape[1], k)
    conv_shape = (x_shape[0], n_filters, conv_h, conv_w)
    dout_grid, _ = phase_geometry(conv_shape, k, x_shape, 1, padding)
    n_planes = n_filters + -n_filters % CHANNELS
    rows, width, lead, length = dout_grid
    dout_planes = empty_planes(n_planes, x_shape[0], rows, width, lead, length, dout.dtype)
    _unpool_planes(dout, out, argmax, n_planes, rows, width, lead, length, dout_planes)
    return conv.backward_from_planes(planes, dout_planes, x_shape, weights, padding, conv_h, conv_w)


@parts_if_faster
@njit(cache=True, nogil=True)
def _unpool_planes(dout, out, argmax, n_planes, rows, width, lead, length, planes, part, n_parts):
    """planes = dc of the module docstring as batch_planes would lay it out (layout.py) on the
    grid (rows, width, lead, length): n_planes + 1 flat planes, their margins zero already,
    plane f holding dc[:, f], those from F (dout's channels) on all zeros (whole blocks of
    output channels, and the zero plane); a call fills part `part` of n_parts of the (plane,
    sample) blocks (threads.parts_if_faster). dout, out, argmax (N, F, H_out, W_out), the
    pooled output's gradient, values and places."""
    n_samples, n_filters, out_h, out_w = dout.shape
    window = np.array((0, 1, width, width + 1))  # a place in the window, as a distance in a plane
    zero_value = dout.dtype.type(0)
    n_jobs = n_planes * n_samples
    for job in part_range(n_jobs, part, n_parts):
        f, n = job // n_samples, job % n_samples
        first = f * length + lead + n * rows * width
        block = planes[first : first + rows * width]
        zero(block)
        if f >= n_filters:
            continue
        for i in range(out_h):
            for j in range(out_w):
                # ReLU's backward, no gradient where it gave 0, as a choice between two values
                # already loaded: a branch on out > 0, which comes out either way at random,
                # made this loop 3-4x slower (3.5 against 0.9 ms on lesson 4's first block).
                gradient = dout[n, f, i, j]
                value = gradient if out[n, f, i, j] > 0 else zero_value
                # The pooling's: onto the zero at the window's maximum, as max-pooling's
                # backward adds it (the same bits, -0.0 included).
                block[2 * i * width + 2 * j + window[argmax[n, f, i, j]]] += value


def _unpooled_weight_grads(x, offsets, dout, out, argmax, grid, keep):
    """taps.tap_grads' shares (n_threads, F', T + 1) of the weight and bias gradients with dc of
    the module docstring, for a layer that needs no input gradient (a network's first): dc is
    never laid out as planes. For each block of outputs q that tap_grads would sum from dc's
    planes, the grid rows it touches are built instead, four output channels at a time, in a
    buffer that stays in the cache (`_gradient_row`), and summed by tap_grads' own loop
    over the same blocks, in the same shares and order: the same numbers as unpooling into
    planes, then tap_grads, bit for bit.

    x, offsets, keep as tap_grads takes them: x's batch planes on `grid`, that of the
    convolution's outputs; dout, out, argmax (N, F, H_out, W_out) as in `_unpool_planes`.

    Lesson 4's first block, (64, 1, 64, 64) -> 8, against _unpool_planes then tap_grads, taking
    turns call by call (medians of 600 calls, two processes; 2-core AMD EPYC Zen 4, CPU family
    25): 0.93-1.03 ms against 1.25-1.42 ms on two threads, 1.40-1.54 ms against 1.65-1.99 ms on
    one: dc's planes (8.6 MB there) are neither written nor read back. Lesson 4's step, that
    block's backward taken both ways in turns, 20 steps at a time (30 rounds, one process
    each): 14.84 against 15.78 ms, 13.08 against 14.32 ms, 13.12 against 12.99 ms (a busy host).

    The shares run in parts on Python threads (threads.parts_if_faster), each a serial loop, and
    not as a numba parallel loop, which compiled in 1.6-2.0 s (its twin 0.8 s more) against
    0.8 s for this one: lesson 4's first run, with an empty numba cache, ends 0.5 s later than
    without this loop (7.20 against 6.73 s, medians of five processes each, taking turns), not
    1.4 s. Compiled without fastmath: with it, building dc alone took 0.97 ms instead of
    0.47 ms (two threads).
    """
    n_shares = numba.get_num_threads()  # tap_grads' shares: the same sums
    n_out = dout.shape[1] + -dout.shape[1] % CHANNELS  # whole blocks, as the planes' count
    shares = np.empty((n_shares, n_out, offsets.shape[0] + 1), x.dtype)
    _weight_grad_shares(shares, x, offsets, dout, out, argmax, grid.rows, grid.width, keep)
    return shares


@parts_if_faster
@njit(cache=True, nogil=True)
def _weight_grad_shares(shares, x, offsets, dout, out, argmax, rows, width, keep, part, n_parts):
    """_unpooled_weight_grads' shares of part `part` of n_parts: share s sums the blocks of
    outputs that tap_grads' share s sums (taps.grad_block_len)."""
    n_shares, n_out = shares.shape[0], shares.shape[1]
    total = keep.shape[0]
    block_len = grad_block_len(total, n_shares)
    # dc on the whole rows a block touches (a row more at each end), a row per output channel
    # as in dc's planes, built four channels at a time
    rows_of_dc = np.empty((n_out, block_len + 2 * width), x.dtype)
    zeroed = np.empty((TAPS, block_len), x.dtype)  # tap_grads_four's
    for share in part_range(n_shares, part, n_parts):
        grads = shares[share]
        grads[:] = 0
        for q0 in range(share * block_len, total, n_shares * block_len):
            run = min(block_len, total - q0)
            first_row, end_row = q0 // width, ceil_div(q0 + run, width)
            for f in range(0, n_out, CHANNELS):
                for r in range(f, f + CHANNELS):
                    for g in range(first_row, end_row):
                        at = (g - first_row) * width
                        row = rows_of_dc[r, at : at + width]
                        _gradient_row(row, g // rows, g % rows, r, dout, out, argmax)
                # output q at column q - first_row * width: a negative lead
                lead = -first_row * width
                tap_grads_four(grads, x, rows_of_dc, lead, keep, offsets, f, q0, run, zeroed)


@njit(cache=True, inline="always")
def _gradient_row(row, n, y, f, dout, out, argmax):
    """row = dc[n, f, y] on the grid's width (0 past the pooled columns, and all 0 for a row
    past the pooled ones, a sample or a channel past dout's): each pooled window's gradient
    where ReLU passed it, at the one of its two places in row y that argmax names; + 0 makes a
    -0.0 gradient the +0.0 that _unpool_planes' sum onto zero gives, so the two build the
    same bits.

    Branch-free, every test a choice between values already loaded (see `_unpool_planes`): a
    row outside dout reads its last row, and names a place no window has (4), so that every
    choice gives 0. With an `if` around the loop instead, building every row of dc for lesson
    4's first block took 0.70 ms against 0.42 ms (one core, 2-core AMD EPYC Zen 4, CPU family
    25)."""
    n_samples, n_filters, out_h, out_w = dout.shape
    zero_value = row.dtype.type(0)
    i = y // 2
    inside = n < n_samples and f < n_filters and i < out_h
    left = 2 * (y % 2) if inside else 4  # argmax's places (di * 2 + dj) in this row: dj 0 or 1
    n, f, i = min(n, n_samples - 1), min(f, n_filters - 1), min(i, out_h - 1)
    gradients, values, places = dout[n, f, i], out[n, f, i], argmax[n, f, i]
    for j in range(out_w):
        gradient = gradients[j] + zero_value if values[j] > 0 else zero_value
        place = places[j]
        row[2 * j] = gradient if place == left else zero_value
        row[2 * j + 1] = gradient if place == left + 1 else zero_value
    for x in range(2 * out_w, row.shape[0]):
        row[x] = zero_value
