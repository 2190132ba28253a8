"""Convolution kernels: forward pass, input gradient, weight and bias gradients.

Same names, arguments and results as the lecture's loops in reference.py (plus keep_planes and
planes, to reuse x's batch planes; conv2d_backward, both gradients at once, has no loop of its own
there). Each function below reads the same way: ask layout.py for the geometry (grid and tap
offsets) and the batch planes, then run one of the two loops of taps.py over them (the reader's
one return, to this file, sits between the two: see kernels/__init__.py for the path and a
drawing of a tap offset). A forward pass with stride 1 mostly does both in one pass, sample by
sample (forward_pass).
Shapes: x (N, C_in, H, W), weights (C_out, C_in, k, k), bias (C_out,),
dout (N, C_out, H_out, W_out), one float dtype.

- forward:         taps (c, di, dj), weights as (C_out, C_in*k*k).
- input gradient:  a forward correlation of dout with the flipped, transposed kernel. With
                   stride s, each phase (a, b) of dx (rows a, a+s, ...) is its own stride-1
                   correlation with the sub-kernel w[:, :, a::s, b::s]: no multiplications by
                   the zeros a "dilated" dout would hold. All s*s phases run in one call.
- weight gradient: dw[f, t] = dout[f] . (the input run under tap t), one long dot product over
                   the whole batch; db = the sum of dout (the bias: a tap that always reads 1).
- both gradients:  conv2d_backward, the layer's backward: the two above, sharing their layouts
                   (x's planes kept by the forward pass, one set of planes of dout).

The loops take whole blocks of 4 output channels x 3 taps; other sizes are padded with zero
weights (layout.whole_blocks) whose taps read a plane of zeros, and the extra outputs are dropped:
an inf in the input stays inf, a NaN stays NaN, exactly where the lecture's loops put them.
"""

import numba
import numpy as np

from tinycnn.kernels import arguments, in_registers
from tinycnn.kernels.layout import (
    CHANNELS,
    batch_planes,
    empty_planes,
    forward_geometry,
    in_pairs,
    phase_geometry,
    whole_blocks,
    whole_taps,
    whole_vectors,
)
from tinycnn.kernels.taps import correlate, pointwise, pointwise_grads, tap_grads
from tinycnn.runtime import one_at_a_time

NOT_POOLED = np.empty((0, 0, 0, 0), np.uint8)
"""correlate's argmax when its outputs are written as they are, not pooled (conv_pool.py's)."""
SAMPLES_PER_PART = 8  # forward_pass lays out each sample as it goes from this many a part on


def useful_stride(input_shape, kernel_size, stride, padding):
    """`stride`, or the smallest stride with the same windows. Once the stride passes the start
    of the last window that fits, a row (column) has one window, at 0, whatever the stride; but
    the stride phases take s*s planes (layout.py), so a needlessly large stride costs memory and
    time for nothing (stride 20000 on an 8x8 input ran out of memory). Same results."""
    input_shape = arguments.image_shape(input_shape)
    window = arguments.window(input_shape, kernel_size, stride, padding)
    return arguments.useful_stride(input_shape, *window)


@one_at_a_time
def conv2d_forward(x, weights, bias, stride, padding, keep_planes=False):
    """out[n, f, i, j] = bias[f] + sum_{c,di,dj} w[f,c,di,dj] * x_pad[n, c, i*s + di, j*s + dj].

    bias None means no bias (zeros), as in the lecture's loops. With keep_planes, returns
    (out, planes): x laid out as batch planes (None for a 1x1 convolution, which needs none), for
    conv2d_backward_params to reuse rather than build again.
    """
    x, weights, bias, stride, padding = arguments.conv2d_forward(x, weights, bias, stride, padding)
    keep_planes = arguments.flag(keep_planes, "keep_planes")
    n_samples, _, height, width = x.shape
    n_filters, _, k, _ = weights.shape
    stride = arguments.useful_stride(x.shape, k, stride, padding)
    out = np.empty(arguments.convolution_output(x.shape, n_filters, k, stride, padding), x.dtype)
    out_h, out_w = out.shape[2:]
    if n_samples == 0:
        return (out, None) if keep_planes else out
    if k == 1 and stride == 1 and padding == 0:  # a matrix product per sample: no layout needed
        flat_weights, bias = whole_blocks(weights.reshape(n_filters, -1), bias)
        pointwise(
            x.reshape(n_samples, -1, height * width),
            flat_weights,
            bias,
            out.reshape(n_samples, n_filters, -1),
        )
        return (out, None) if keep_planes else out
    planes = forward_pass(x, weights, bias, stride, padding, (out_h, out_w), out, NOT_POOLED)
    return (out, planes) if keep_planes else out


def forward_pass(x, weights, bias, stride, padding, out_size, out, argmax):
    """x's batch planes, having filled out (N, F, out_h, out_w), out_size = (out_h, out_w), with
    the correlation of x (checked, N > 0) by the direct loops, their sums in registers where
    in_registers.chosen_for says so (the same numbers); or, argmax not empty, out and argmax
    with its pooling (conv_pool.py: stride 1, out half of out_size).

    With stride 1 (or 2, below), each sample laid out just before its outputs are computed
    (correlate or correlate_in_registers, handed the images; in_registers.py has the latter's times)
    where the threads' parts, whole samples each, come out even or nearly so: the same samples each,
    or SAMPLES_PER_PART or more each (at most one more in one part, an eighth more work); otherwise
    all of x laid out first (batch_planes), then the loop, whose parts may split a sample. The same
    numbers either way. For correlate, against batch_planes then correlate, taking turns call by
    call (medians of 200 calls, two processes; 2-core AMD EPYC Zen 2, CPU family 23), on two
    threads: (64, 8, 32, 32) -> 16 1.05-1.06 against 1.19-1.20 ms; pooled (conv_pool.py), lesson 4's
    blocks (64, 1, 64, 64) -> 8 0.83 against 0.88 ms, (64, 8, 32, 32) -> 16 1.39 against 1.53-1.54
    ms, (64, 16, 16, 16) -> 32 1.61 against 1.73 ms; (32, 3, 128, 128) -> 16 4.38-4.47 against
    4.58-4.71 ms. On one core, 1.005x-1.03x as fast. With stride 2, (64, 8, 32, 32) -> 16 took 0.447
    against 0.512 ms, but its layout (`_pair_planes`'s loop) in correlate added 1.1 s to compiling
    lesson 4's first step, which has no strided convolution (7.9 s against 9.0 s; with
    `_phase_planes`' loop too, 9.8 s): strided passes through correlate are laid out first.
    correlate_in_registers, which lesson 4 never compiles, lays out stride 2 as it goes too, where
    batch_planes deals rows in pairs (in_pairs; in_registers.py has the times); other strides are
    laid out first.
    """
    n_filters, k = weights.shape[0], weights.shape[2]
    grid, offsets = forward_geometry(x.shape, k, stride, padding, *out_size)
    flat_weights, bias = whole_blocks(weights.reshape(n_filters, -1), bias)
    one_phase = np.array([(0, len(offsets), *out_size, 0, 0, 1)], np.int64)  # all of out
    n_samples, n_threads = x.shape[0], numba.get_num_threads()
    whole_samples = n_samples % n_threads == 0 or n_samples >= SAMPLES_PER_PART * n_threads
    in_registers_chosen = argmax.size == 0 and in_registers.chosen_for(
        out.shape, out.itemsize, len(offsets)
    )
    if whole_samples and (stride == 1 or in_registers_chosen and in_pairs(x, stride)):
        n_planes = x.shape[1] * stride * stride
        planes = empty_planes(n_planes, n_samples, *grid, x.dtype)
        laying_out = np.ascontiguousarray(x).reshape(-1), x.shape, grid.lead
    else:
        planes, laying_out = batch_planes(x, stride, *grid), laid_out(x.dtype)
    if in_registers_chosen:
        in_registers.correlate_in_registers(
            planes, offsets, flat_weights, bias, grid.rows, grid.width, out, *laying_out, stride
        )
        return planes
    correlate(
        planes,
        offsets,
        flat_weights,
        bias,
        grid.rows,
        grid.width,
        out,
        one_phase,
        argmax,
        *laying_out,
        n_threads,
    )
    return planes


def laid_out(dtype):
    """correlate's arguments from `images` to `lead` for planes laid out already: no images."""
    return np.empty(0, dtype), (0, 0, 0, 0), 0


@one_at_a_time
def conv2d_backward_input(dout, weights, input_shape, stride, padding):
    """dx (input_shape): dx[n, c, y, x] = sum_{f,i,j} dout[n,f,i,j] * w[f, c, y+p - i*s, x+p - j*s].

    Phase a of the rows, y + p = u*s + a, meets only taps di = m*s + a, from output rows
    i = u - m: a stride-1 correlation of dout with w[:, :, a::s] flipped (m' = M - 1 - m),
    padded by M - 1 - u0 for the first phase row u0 inside dx. Stride 1: one phase, M = k,
    u0 = p, padding k - 1 - p: dx is the forward pass of dout with the flipped, transposed kernel.
    """
    dout, weights, input_shape, stride, padding = arguments.conv2d_backward_input(
        dout, weights, input_shape, stride, padding
    )
    k = weights.shape[2]
    if input_shape[0] == 0:
        return np.zeros(input_shape, dout.dtype)
    stride = arguments.useful_stride(input_shape, k, stride, padding)
    channels, s = input_shape[1], stride
    if weights.shape[2] == 1 and stride == 1 and padding == 0:  # dx[n] = w^T dout[n]
        n_samples, n_filters, height, width = dout.shape
        dx = np.empty(input_shape, dout.dtype)
        transposed = weights.reshape(n_filters, channels).T
        flat_weights, no_bias = whole_blocks(transposed, np.zeros(channels, dout.dtype))
        pointwise(
            dout.reshape(n_samples, n_filters, -1),
            flat_weights,
            no_bias,
            dx.reshape(n_samples, channels, -1),
        )
        return dx
    grid, phases = phase_geometry(dout.shape, weights.shape[2], tuple(input_shape), s, padding)
    planes = batch_planes(dout, 1, *grid) if grid is not None else None
    return _input_grad(planes, grid, phases, weights, input_shape, stride, dout.dtype)


def _input_grad(planes, grid, phases, weights, input_shape, stride, dtype):
    """dx from dout's planes on the grid of phase_geometry: every stride phase in one call of
    correlate, each phase a row of its table (its taps, and where its outputs land in dx)."""
    channels, s = input_shape[1], stride
    dx = np.empty(input_shape, dtype)
    zeros = np.zeros(channels, dtype)
    offsets, flat_weights, table = [], [], []
    for a, b, phase_offsets, placement in phases:
        if phase_offsets is None:  # stride > k: no window covers this phase
            _, _, y0, x0, _ = placement
            dx[:, :, y0::s, x0::s] = 0
            continue
        flipped = weights[:, :, a::s, b::s][:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        phase_weights, _ = whole_blocks(flipped.reshape(channels, -1), zeros)
        first_tap = sum(len(taken) for taken in offsets)
        table.append((first_tap, first_tap + len(phase_offsets), *placement))
        offsets.append(phase_offsets)
        flat_weights.append(phase_weights)
    if table:
        correlate(
            planes,
            np.concatenate(offsets),
            np.concatenate(flat_weights, axis=1),
            np.zeros(len(flat_weights[0]), dtype),
            grid.rows,
            grid.width,
            dx,
            np.array(table, np.int64),
            NOT_POOLED,
            *laid_out(dtype),
            numba.get_num_threads(),
        )
    return dx


@one_at_a_time
def conv2d_backward_params(x, dout, kernel_size, stride, padding, planes=None):
    """(dweights (C_out, C_in, k, k), dbias (C_out,)):

    dw[f, c, di, dj] = sum_{n,i,j} dout[n, f, i, j] * x_pad[n, c, i*s + di, j*s + dj],
    db[f] = sum_{n,i,j} dout[n, f, i, j].

    planes: x's batch planes from conv2d_forward(..., keep_planes=True) on this same x, if kept;
    they hold all of x that is read, so x may then be given as its shape alone (N, C_in, H, W).
    """
    x, x_shape, dtype = _input_and_shape(x, planes)
    dout, kernel_size, stride, padding = arguments.weight_gradient(
        x_shape, dtype, dout, kernel_size, stride, padding
    )
    n_samples, channels, _, _ = x_shape
    stride = arguments.useful_stride(x_shape, kernel_size, stride, padding)
    _, n_filters, out_h, out_w = dout.shape
    k = kernel_size
    planes = kept_planes(planes, x_shape, dout.dtype, k, stride, padding, out_h, out_w)
    if n_samples == 0:
        return np.zeros((n_filters, channels, k, k), dout.dtype), np.zeros(n_filters, dout.dtype)
    if n_filters % CHANNELS:  # whole blocks of output channels: zero gradients for the extra ones
        extra = np.zeros((n_samples, -n_filters % CHANNELS, out_h, out_w), dout.dtype)
        dout = np.concatenate((dout, extra), axis=1)
    if k == 1 and stride == 1 and padding == 0:  # dw = sum_n dout[n] x[n]^T: no layout needed
        length = out_h * out_w
        offsets = whole_taps(np.arange(channels, dtype=np.int64) * length, 0)
        shares = pointwise_grads(
            x.reshape(n_samples, channels, length),
            dout.reshape(n_samples, -1, length),
            offsets,
            np.ones(length, np.bool_),
            numba.get_num_threads(),
        )
        return weights_and_bias(shares, n_filters, channels, 1)
    grid, offsets = forward_geometry(x_shape, k, stride, padding, out_h, out_w)
    if planes is None:
        planes = batch_planes(x, stride, *grid)
    # dout on the grid of the outputs q, zero where an output is thrown away.
    total = whole_vectors(n_samples * grid.rows * grid.width)
    # (batch_planes' last plane, all zeros, is not needed here)
    dout_planes = batch_planes(dout, 1, grid.rows, grid.width, 0, total).reshape(-1, total)[:-1]
    return _weight_grads(planes, offsets, dout_planes, 0, grid, x_shape, n_filters, k, out_h, out_w)


def _input_and_shape(x, planes):
    """(x, its shape, its dtype): x contiguous, or as given where its planes stand for it (then
    x may be its shape alone, its dtype None, and only the shape is read)."""
    if planes is None:
        x = arguments.images(x)
        return x, x.shape, x.dtype
    if isinstance(x, np.ndarray):
        x = arguments.images(x)
        return x, x.shape, x.dtype
    return x, arguments.image_shape(x, "x"), None


def kept_planes(planes, x_shape, dtype, k, stride, padding, out_h, out_w):
    """planes checked against the planes conv2d_forward keeps for x_shape (stride: the useful
    one): the same geometry, so their size (numba reads them without bounds checks). The fused
    pass of conv_pool.py keeps the same planes, and checks them here too."""
    if planes is None:
        return None
    size = None
    if x_shape[0] > 0 and not (k == 1 and stride == 1 and padding == 0):
        grid, _ = forward_geometry(tuple(x_shape), k, stride, padding, out_h, out_w)
        size = (x_shape[1] * stride * stride + 1) * grid.length
    return arguments.kept_planes(planes, size, dtype)


def _weight_grads(planes, offsets, d, d_lead, grid, x_shape, n_filters, k, out_h, out_w):
    """(dweights, dbias) from x's planes and dout's planes d (F', *), outputs from column d_lead."""
    keep = kept_outputs(x_shape[0], grid, out_h, out_w)
    shares = tap_grads(planes, offsets, d, d_lead, keep, numba.get_num_threads())
    return weights_and_bias(shares, n_filters, x_shape[1], k)


def kept_outputs(n_samples, grid, out_h, out_w):
    """tap_grads' keep: True at the outputs q on the grid that are kept (i < out_h, j < out_w),
    False at those thrown away and in the slack up to whole vectors."""
    total = whole_vectors(n_samples * grid.rows * grid.width)
    keep = np.zeros(total, np.bool_)
    keep[: n_samples * grid.rows * grid.width].reshape(n_samples, grid.rows, grid.width)[
        :, :out_h, :out_w
    ] = True
    return keep


def weights_and_bias(shares, n_filters, channels, k):
    """(dweights (F, C, k, k), dbias (F,)) from the shares of tap_grads or pointwise_grads
    (n_threads, F', T' + 1): the taps in whole blocks (T' >= C*k*k), the bias last. Both are
    copied out whole (C-contiguous), so the optimizers' one-pass updates take them."""
    grads = shares.sum(axis=0)
    dweights = grads[:n_filters, : channels * k * k].reshape(n_filters, channels, k, k)
    return dweights.copy(), grads[:n_filters, -1].copy()


@one_at_a_time
def conv2d_backward(x, dout, weights, stride, padding, planes=None, input_grad=True):
    """(dx or None, dweights, dbias): conv2d_backward_input and conv2d_backward_params at once
    (the layer's backward), with the same results. Where both passes read dout on the same grid
    (stride 1, output channels in whole blocks), dout is laid out once for both: the input
    gradient's planes of dout serve the weight gradient too, from their lead on.
    planes: x's batch planes, as in conv2d_backward_params; given them, x may be its shape alone
    (Conv2D keeps only the planes, not x, between its forward and backward)."""
    x, x_shape, dtype = _input_and_shape(x, planes)
    dout, weights, stride, padding, input_grad = arguments.conv2d_backward(
        x_shape, dtype, dout, weights, stride, padding, input_grad
    )
    k, n_filters = weights.shape[2], weights.shape[0]
    stride = arguments.useful_stride(x_shape, k, stride, padding)
    out_h, out_w = dout.shape[2:]
    planes = kept_planes(planes, x_shape, dout.dtype, k, stride, padding, out_h, out_w)
    if x_shape[0] == 0:
        dweights, dbias = np.zeros(weights.shape, dout.dtype), np.zeros(n_filters, dout.dtype)
        return (np.zeros(x_shape, dout.dtype) if input_grad else None), dweights, dbias
    shared = input_grad and stride == 1 and n_filters % CHANNELS == 0
    if not (shared and one_layout(x_shape, dout.shape, k, padding)):
        dweights, dbias = conv2d_backward_params(x, dout, k, stride, padding, planes=planes)
        if not input_grad:
            return None, dweights, dbias
        return conv2d_backward_input(dout, weights, x_shape, stride, padding), dweights, dbias
    if planes is None:
        planes = batch_planes(x, 1, *forward_geometry(x_shape, k, 1, padding, out_h, out_w)[0])
    dout_planes = batch_planes(dout, 1, *phase_geometry(dout.shape, k, x_shape, 1, padding)[0])
    return backward_from_planes(planes, dout_planes, x_shape, weights, padding, out_h, out_w)


def one_layout(x_shape, dout_shape, kernel_size, padding):
    """True where one layout of dout serves both gradients of a stride-1 convolution: k > 1, and
    dout's planes for the input gradient (phase_geometry's grid) have the rows and width of x's
    planes (forward_geometry's), so the weight gradient reads them too, from their lead on."""
    if kernel_size == 1:
        return False
    out_h, out_w = dout_shape[2:]
    grid, _ = forward_geometry(tuple(x_shape), kernel_size, 1, padding, out_h, out_w)
    dout_grid, _ = phase_geometry(tuple(dout_shape), kernel_size, tuple(x_shape), 1, padding)
    return dout_grid is not None and dout_grid[:2] == grid[:2]


def backward_from_planes(planes, dout_planes, x_shape, weights, padding, out_h, out_w):
    """(dx, dweights, dbias) of a stride-1 convolution from x's planes (forward_geometry's
    grid) and dout's planes, laid out as batch_planes lays dout (N, F, out_h, out_w) out on
    phase_geometry's grid (one set of planes for both gradients), with whole blocks of output
    channels: F' >= F planes, those past F zeros. conv2d_backward's own end, and the end of
    conv_pool.py's backward where it needs the input gradient: it lays out dout's planes as it
    unpools."""
    k, n_filters = weights.shape[2], weights.shape[0]
    x_shape = tuple(x_shape)
    grid, offsets = forward_geometry(x_shape, k, 1, padding, out_h, out_w)
    dout_shape = (x_shape[0], n_filters, out_h, out_w)
    dout_grid, phases = phase_geometry(dout_shape, k, x_shape, 1, padding)
    d = dout_planes.reshape(-1, dout_grid.length)[: n_filters + -n_filters % CHANNELS]
    dweights, dbias = _weight_grads(
        planes, offsets, d, dout_grid.lead, grid, x_shape, n_filters, k, out_h, out_w
    )
    dx = _input_grad(dout_planes, dout_grid, phases, weights, x_shape, 1, dout_planes.dtype)
    return dx, dweights, dbias
