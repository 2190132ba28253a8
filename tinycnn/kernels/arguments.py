"""What every public kernel checks before numba sees its arguments.

numba does not check array bounds. A kernel handed an argmax that points outside its window, or
weights with more input channels than the images, reads and writes past the ends of its arrays:
a wrong answer, or a crash that takes a notebook's kernel down with it (a max-pool backward with
the wrong kernel size did, every time). The layers pass only what they have checked, but the
kernels are public too (lesson 6 calls them), so each one checks its arguments here, by name,
before its first loop: shapes compared and a few numbers read, about a microsecond a call. In
one process with the checks patched in and out (2-core AMD EPYC Zen 4, family 25): lesson 4's
`predict` on one image took 0.251 against 0.242 ms, its training step 15.8 ms either way.
"""

import numpy as np

from tinycnn.checks import float_array, non_negative_int, positive_int, real_number


def images(x, name="x"):
    """x as a C-contiguous float32 or float64 batch of images (N, C, H, W)."""
    return np.ascontiguousarray(float_array(x, name, 4, "(N, C, H, W)"))


def floats(x, name):
    """x as a C-contiguous float32 or float64 array of any shape."""
    return np.ascontiguousarray(float_array(x, name))


def image_shape(value, name="input_shape"):
    """A batch's shape (N, C, H, W) as a tuple of ints, N >= 0 and the others >= 1."""
    if isinstance(value, np.ndarray) or not isinstance(value, (tuple, list)) or len(value) != 4:
        raise TypeError(f"{name} must be a batch's shape (N, C, H, W), got {value!r}")
    sizes = [positive_int(size, f"{name}[{index}]") for index, size in enumerate(value[1:], 1)]
    return (non_negative_int(value[0], f"{name}[0]"), *sizes)


def same_shape(array, expected, name, what):
    """array (already a float array) must have the `expected` shape, described as `what`."""
    if array.shape != tuple(expected):
        raise ValueError(
            f"{name} must have the shape of {what}, {tuple(expected)}, got {array.shape}"
        )
    return array


def convolution(x_shape, weights, bias, stride, padding):
    """(weights, bias, stride, padding) for images of x_shape: weights (C_out, C_in, k, k) with
    C_in the images' channels, bias (C_out,) (None: not asked), stride >= 1, padding >= 0, and a
    window that fits the padded image."""
    weights = np.ascontiguousarray(float_array(weights, "weights", 4, "(C_out, C_in, k, k)"))
    n_out, channels, k, k_w = weights.shape
    if k != k_w or k == 0 or n_out == 0:
        raise ValueError(f"weights must be (C_out, C_in, k, k) kernels, got shape {weights.shape}")
    if channels != x_shape[1]:
        raise ValueError(
            f"weights take {channels} input channels (weights.shape[1]), but the images have "
            f"{x_shape[1]} (shape {tuple(x_shape)})"
        )
    if bias is not None:
        bias = same_shape(floats(bias, "bias"), (n_out,), "bias", "the output channels")
    _, stride, padding = window(x_shape, k, stride, padding)
    return weights, bias, stride, padding


def window(x_shape, kernel_size, stride, padding):
    """(kernel_size, stride, padding) for images of x_shape: k, stride >= 1, padding >= 0, and
    the k x k window inside the padded image."""
    k = positive_int(kernel_size, "kernel_size")
    stride, padding = positive_int(stride, "stride"), non_negative_int(padding, "padding")
    if k > min(x_shape[2], x_shape[3]) + 2 * padding:
        raise ValueError(
            f"the {k}x{k} kernel is larger than the padded images "
            f"{x_shape[2] + 2 * padding}x{x_shape[3] + 2 * padding}"
        )
    return k, stride, padding


def output_gradient(dout, x_shape, k, stride, padding, n_out=None):
    """dout: a float array of the convolution's output shape (any number of output channels
    if n_out is None)."""
    dout = images(dout, "dout")
    expected = convolution_output(
        x_shape, dout.shape[1] if n_out is None else n_out, k, stride, padding
    )
    return same_shape(dout, expected, "dout", "the convolution's output")


def convolution_output(x_shape, n_out, k, stride, padding):
    """The output shape (N, C_out, H_out, W_out) of a convolution of images of x_shape."""
    out_h = (x_shape[2] + 2 * padding - k) // stride + 1
    out_w = (x_shape[3] + 2 * padding - k) // stride + 1
    return (x_shape[0], n_out, out_h, out_w)


def pooling(x_shape, kernel_size, stride):
    """(kernel_size, stride) for images of x_shape: both >= 1, the window inside the image."""
    k, s = positive_int(kernel_size, "kernel_size"), positive_int(stride, "stride")
    if k > min(x_shape[2], x_shape[3]):
        raise ValueError(
            f"kernel_size {k} is larger than the images {x_shape[2]}x{x_shape[3]} (shape "
            f"{tuple(x_shape)})"
        )
    return k, s


def window_places(argmax, expected, kernel_size):
    """argmax: an integer array of the pooled output's shape, each entry a place in its k x k
    window (0 <= argmax < k*k): a place outside it would send a gradient past dx's end."""
    if not isinstance(argmax, np.ndarray) or not np.issubdtype(argmax.dtype, np.integer):
        raise TypeError(
            f"argmax must be the integer array maxpool2d_forward returned, got "
            f"{getattr(argmax, 'dtype', type(argmax).__name__)}"
        )
    same_shape(argmax, expected, "argmax", "the pooled output")
    places = kernel_size * kernel_size
    if argmax.size and (argmax.min() < 0 or argmax.max() >= places):
        raise ValueError(
            f"argmax must hold places in a {kernel_size}x{kernel_size} window (0..{places - 1}), "
            f"found {int(argmax.min())}..{int(argmax.max())}: was it pooled with another "
            "kernel_size?"
        )
    return np.ascontiguousarray(argmax)


def channel_vectors(x_shape, **vectors):
    """Each named vector (gamma, beta, mean, ...) as a float array of one number per channel."""
    return [
        same_shape(floats(vector, name), (x_shape[1],), name, "the channels")
        for name, vector in vectors.items()
    ]


def epsilon(eps):
    """eps, a finite number > 0."""
    return real_number(eps, "eps", low=0.0, low_open=True)
