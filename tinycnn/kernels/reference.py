"""The lecture's loops: convolution, max-pooling and ReLU written to be read, not to be fast.

Every public numba kernel in `conv.py`, `pool.py` and `activation.py` has a twin here with the
same name and arguments (the numba convolution's also take an option to keep or reuse x's batch
planes), and the tests hold the two equal; `conv.conv2d_backward`, both gradients at once, is
held equal to the two gradients here. Shapes as in PyTorch: x (N, C, H, W),
weights (C_out, C_in, k, k).

Convolution (cross-correlation, no kernel flip), stride s, zero padding p:

    out[n, f, i, j] = bias[f] + sum_{c, di, dj} w[f, c, di, dj] * x_pad[n, c, i*s + di, j*s + dj]
    H_out = (H + 2p - k) // s + 1,   W_out = (W + 2p - k) // s + 1

Each function first hands its arguments to the check of the same name in `arguments.py`, the one
its numba twin calls: both accept the same arguments and refuse the others with the same words
(a list for x, a stride of 0, a bias one entry short: TypeError or ValueError naming it). bias
None means no bias.
"""

import numpy as np

from tinycnn.kernels import arguments


def output_size(size, kernel_size, stride, padding=0):
    """Number of window positions along one axis: (size + 2p - k) // s + 1."""
    size, kernel_size, stride, padding = arguments.output_size(size, kernel_size, stride, padding)
    return (size + 2 * padding - kernel_size) // stride + 1


def pad_spatial(x, padding):
    """x (N, C, H, W) -> (N, C, H + 2p, W + 2p), zeros around every plane."""
    x, p = arguments.pad_spatial(x, padding)
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def conv2d_forward(x, weights, bias, stride, padding):
    """out (N, C_out, H_out, W_out): slide every filter over every position of every image."""
    x, weights, bias, stride, padding = arguments.conv2d_forward(x, weights, bias, stride, padding)
    n_samples, _, height, width = x.shape
    n_filters, _, k, _ = weights.shape
    s = stride
    out_h = output_size(height, k, s, padding)
    out_w = output_size(width, k, s, padding)
    x_pad = pad_spatial(x, padding)
    out = np.zeros((n_samples, n_filters, out_h, out_w), dtype=x.dtype)
    for n in range(n_samples):
        for f in range(n_filters):
            for i in range(out_h):
                for j in range(out_w):
                    window = x_pad[n, :, i * s : i * s + k, j * s : j * s + k]
                    out[n, f, i, j] = np.sum(window * weights[f]) + bias[f]
    return out


def conv2d_backward_input(dout, weights, input_shape, stride, padding):
    """dx = dL/dx, shape input_shape: each output pixel hands its gradient back to its window.

    dx_pad[n, :, i*s : i*s + k, j*s : j*s + k] += dout[n, f, i, j] * w[f], then dx is dx_pad
    without its border: gradient that falls on the padding zeros goes nowhere.
    """
    dout, weights, input_shape, stride, padding = arguments.conv2d_backward_input(
        dout, weights, input_shape, stride, padding
    )
    n_samples, channels, height, width = input_shape
    n_filters, _, k, _ = weights.shape
    s, p = stride, padding
    _, _, out_h, out_w = dout.shape
    dx_pad = np.zeros((n_samples, channels, height + 2 * p, width + 2 * p), dtype=dout.dtype)
    for n in range(n_samples):
        for f in range(n_filters):
            for i in range(out_h):
                for j in range(out_w):
                    window = dx_pad[n, :, i * s : i * s + k, j * s : j * s + k]
                    window += dout[n, f, i, j] * weights[f]
    return dx_pad[:, :, p : p + height, p : p + width].copy()


def conv2d_backward_params(x, dout, kernel_size, stride, padding):
    """(dweights (C_out, C_in, k, k), dbias (C_out,)).

    dw[f] = sum_{n, i, j} dout[n, f, i, j] * x_pad[n, :, i*s : i*s + k, j*s : j*s + k]
    db[f] = sum_{n, i, j} dout[n, f, i, j]
    """
    x, dout, kernel_size, stride, padding = arguments.conv2d_backward_params(
        x, dout, kernel_size, stride, padding
    )
    n_samples, channels, _, _ = x.shape
    _, n_filters, out_h, out_w = dout.shape
    k, s = kernel_size, stride
    x_pad = pad_spatial(x, padding)
    dweights = np.zeros((n_filters, channels, k, k), dtype=x.dtype)
    for n in range(n_samples):
        for f in range(n_filters):
            for i in range(out_h):
                for j in range(out_w):
                    window = x_pad[n, :, i * s : i * s + k, j * s : j * s + k]
                    dweights[f] += dout[n, f, i, j] * window
    dbias = dout.sum(axis=(0, 2, 3))
    return dweights, dbias


def maxpool2d_forward(x, kernel_size, stride):
    """(out (N, C, H_out, W_out), argmax) with H_out = (H - k) // s + 1 (no padding).

    out[n, c, i, j] = max of the window x[n, c, i*s : i*s + k, j*s : j*s + k];
    argmax[n, c, i, j] = di * k + dj of the window's FIRST maximum in row-major order (its place
    in the window), as the smallest unsigned integer dtype that holds k*k - 1; a NaN counts as
    the maximum.
    """
    x, kernel_size, stride = arguments.maxpool2d_forward(x, kernel_size, stride)
    n_samples, channels, height, width = x.shape
    k, s = kernel_size, stride
    out_h = output_size(height, k, s)
    out_w = output_size(width, k, s)
    out = np.empty((n_samples, channels, out_h, out_w), dtype=x.dtype)
    argmax = np.empty((n_samples, channels, out_h, out_w), dtype=np.min_scalar_type(k * k - 1))
    for n in range(n_samples):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    window = x[n, c, i * s : i * s + k, j * s : j * s + k]
                    first = np.argmax(window)  # the first maximum, or the first NaN
                    out[n, c, i, j] = window.flat[first]
                    argmax[n, c, i, j] = first
    return out, argmax


def maxpool2d_backward(dout, argmax, input_shape, kernel_size, stride):
    """dx (input_shape): each dout goes to its window's maximum; overlapping windows add up."""
    dout, argmax, input_shape, kernel_size, stride = arguments.maxpool2d_backward(
        dout, argmax, input_shape, kernel_size, stride
    )
    n_samples, channels, out_h, out_w = dout.shape
    k, s = kernel_size, stride
    dx = np.zeros(input_shape, dtype=dout.dtype)
    for n in range(n_samples):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    di, dj = divmod(int(argmax[n, c, i, j]), k)
                    dx[n, c, i * s + di, j * s + dj] += dout[n, c, i, j]
    return dx


def relu_forward(x):
    """max(0, x), entry by entry; a NaN stays NaN."""
    x = arguments.relu_forward(x)
    return np.maximum(x, x.dtype.type(0))


def relu_backward(dout, out):
    """dL/dx = dout where the forward output was positive (x > 0), else 0."""
    dout, out = arguments.relu_backward(dout, out)
    return np.where(out > 0, dout, dout.dtype.type(0))
