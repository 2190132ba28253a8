"""The second rung: convolution by im2col in NumPy, as many courses (CS231n) teach it.

Every window is copied into a column of one big matrix with fancy indexing, the convolution is
one matrix product, and the input gradient goes back through col2im with `np.add.at`. Written the
usual way and not sabotaged: it is the honest baseline tinycnn's numba kernels are compared to
(benchmarks/bench_conv.py), and tests/test_kernels.py holds it equal to the lecture's loops.
The layers do not use it: the numba kernels (conv.py) are several times faster.

    cols (C*k*k, H_out*W_out*N),  out = w.reshape(C_out, -1) @ cols + b

Arguments are checked as the other rungs check them (`arguments.py`), once, at the top of each
public function; the private functions below them do the work on checked arguments.
"""

import numpy as np

from tinycnn.kernels import arguments


def im2col_indices(x_shape, kernel_size, stride, padding):
    """(channel, row, column) index arrays that pick every window of the padded input."""
    return _indices(*arguments.im2col_indices(x_shape, kernel_size, stride, padding))


def im2col(x, kernel_size, stride, padding):
    """x (N, C, H, W) -> cols (C*k*k, H_out*W_out*N)."""
    return _columns(*arguments.im2col(x, kernel_size, stride, padding))


def col2im(cols, x_shape, kernel_size, stride, padding):
    """The adjoint of im2col: add every column back onto the pixels it was copied from."""
    return _add_columns(*arguments.col2im(cols, x_shape, kernel_size, stride, padding))


def conv2d_forward(x, weights, bias, stride, padding):
    """(out (N, C_out, H_out, W_out), cols kept for the backward pass)."""
    x, weights, bias, stride, padding = arguments.im2col_conv2d_forward(
        x, weights, bias, stride, padding
    )
    n_filters, _, k, _ = weights.shape
    _, _, out_h, out_w = arguments.convolution_output(x.shape, n_filters, k, stride, padding)
    cols = _columns(x, k, stride, padding)
    out = weights.reshape(n_filters, -1) @ cols + bias.reshape(-1, 1)
    return out.reshape(n_filters, out_h, out_w, x.shape[0]).transpose(3, 0, 1, 2), cols


def conv2d_backward(dout, cols, x_shape, weights, stride, padding):
    """(dx, dweights, dbias) from the upstream gradient and the forward pass's cols."""
    dout, cols, x_shape, weights, stride, padding = arguments.im2col_conv2d_backward(
        dout, cols, x_shape, weights, stride, padding
    )
    n_filters, _, k, _ = weights.shape
    dbias = dout.sum(axis=(0, 2, 3))
    dout_rows = dout.transpose(1, 2, 3, 0).reshape(n_filters, -1)
    dweights = (dout_rows @ cols.T).reshape(weights.shape)
    dcols = weights.reshape(n_filters, -1).T @ dout_rows
    dx = _add_columns(dcols, x_shape, k, stride, padding)
    return dx, dweights, dbias


def _indices(x_shape, k, stride, padding):
    _, channels, _, _ = x_shape
    _, _, out_h, out_w = arguments.convolution_output(x_shape, 1, k, stride, padding)
    i0 = np.tile(np.repeat(np.arange(k), k), channels)
    i1 = stride * np.repeat(np.arange(out_h), out_w)
    j0 = np.tile(np.arange(k), k * channels)
    j1 = stride * np.tile(np.arange(out_w), out_h)
    rows = i0.reshape(-1, 1) + i1.reshape(1, -1)
    cols = j0.reshape(-1, 1) + j1.reshape(1, -1)
    chans = np.repeat(np.arange(channels), k * k).reshape(-1, 1)
    return chans, rows, cols


def _columns(x, k, stride, padding):
    p = padding
    x_padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    chans, rows, cols = _indices(x.shape, k, stride, padding)
    windows = x_padded[:, chans, rows, cols]  # (N, C*k*k, H_out*W_out)
    return windows.transpose(1, 2, 0).reshape(x.shape[1] * k**2, -1)


def _add_columns(cols, x_shape, k, stride, padding):
    n_samples, channels, height, width = x_shape
    p = padding
    x_padded = np.zeros((n_samples, channels, height + 2 * p, width + 2 * p), dtype=cols.dtype)
    chans, rows, columns = _indices(x_shape, k, stride, padding)
    windows = cols.reshape(channels * k**2, -1, n_samples).transpose(2, 0, 1)
    np.add.at(x_padded, (slice(None), chans, rows, columns), windows)
    return x_padded[:, :, p : p + height, p : p + width]
