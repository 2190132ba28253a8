"""What every public kernel, and its plain twin, checks before its first loop.

numba does not check array bounds. A kernel handed an argmax that points outside its window, or
weights with more input channels than the images, reads and writes past the ends of its arrays:
a wrong answer, or a crash that takes a notebook's kernel down with it (a max-pool backward with
the wrong kernel size did, every time). The layers pass only what they have checked, but the
kernels are public too (lesson 6 calls them), and so are their twins in reference.py, im2col.py
and batchnorm.py, which a learner reads and calls first.

So each public function has a check here, named after it: `arguments.conv2d_forward` for
`conv.conv2d_forward` and `reference.conv2d_forward`. It returns the arguments checked (arrays
C-contiguous, numbers as ints or floats), or raises TypeError (wrong type) or ValueError (wrong
value) naming the argument. A kernel and its twin call the same one, so they accept and refuse
the same arguments with the same words. Shapes are compared and a few numbers read, 1 to 4
microseconds a call. Lesson 4's `predict` on one image (10 kernel calls; medians of 3000 calls,
2-core AMD EPYC Zen 4, family 25, shared): 0.236 ms with every check, 0.216 with them patched out
in the same process; 0.227 ms with the fewer checks before bias, planes, dtypes and memory were
checked too. Forward and backward on a batch of 64 (28 to 36 ms on the shared machine) showed
no difference beyond the noise.
"""

import math

import numpy as np

from tinycnn.checks import (
    flag,
    float_array,
    memory_bytes,
    non_negative_int,
    positive_int,
    real_number,
)

# --- the public functions' arguments, one check each ----------------------------------------


def conv2d_forward(x, weights, bias, stride, padding):
    """(x, weights, bias, stride, padding): x (N, C_in, H, W), weights (C_out, C_in, k, k) and
    bias (C_out,) of x's dtype, bias None meaning zeros (no bias), stride >= 1, padding >= 0, the
    window inside the padded images, and the padded images and the output within memory."""
    x = images(x)
    weights, bias, stride, padding = convolution(x.shape, weights, bias, stride, padding, x.dtype)
    if bias is None:
        bias = np.zeros(weights.shape[0], x.dtype)
    k = weights.shape[2]
    fits_in_memory(
        lambda: f"padding={padding} (x of shape {x.shape}, weights of shape {weights.shape})",
        x.dtype,
        {
            "padded images": padded(x.shape, padding),
            "an output": convolution_output(x.shape, weights.shape[0], k, stride, padding),
        },
    )
    return x, weights, bias, stride, padding


def conv2d_backward_input(dout, weights, input_shape, stride, padding):
    """(dout, weights, input_shape, stride, padding): dout of the convolution's output shape,
    weights of dout's dtype; dx and its padded copy within memory."""
    input_shape = image_shape(input_shape)
    dout = images(dout, "dout")
    weights, _, stride, padding = convolution(
        input_shape, weights, None, stride, padding, dout.dtype, "dout", "input_shape"
    )
    k = weights.shape[2]
    output_gradient(dout, input_shape, k, stride, padding, weights.shape[0], "input_shape")
    fits_in_memory(
        lambda: f"input_shape={input_shape} with padding={padding}",
        dout.dtype,
        {"dx": input_shape, "dx padded": padded(input_shape, padding)},
    )
    return dout, weights, input_shape, stride, padding


def conv2d_backward_params(x, dout, kernel_size, stride, padding):
    """(x, dout, kernel_size, stride, padding): dout of the output shape and x's dtype, the
    padded images within memory. (The numba kernel also takes x's planes: see kept_planes.)"""
    x = images(x)
    return (x, *weight_gradient(x.shape, x.dtype, dout, kernel_size, stride, padding))


def weight_gradient(x_shape, dtype, dout, kernel_size, stride, padding):
    """(dout, kernel_size, stride, padding) for the weight gradient of images of x_shape and
    dtype (None: x is its shape alone, where its planes stand for it; they must then have
    dout's dtype, see kept_planes)."""
    kernel_size, stride, padding = window(x_shape, kernel_size, stride, padding)
    dout = output_gradient(images(dout, "dout"), x_shape, kernel_size, stride, padding)
    dtype = dout.dtype if dtype is None else same_dtype(dout, dtype, "dout", "x").dtype
    fits_in_memory(
        lambda: f"padding={padding} (x of shape {tuple(x_shape)})",
        dtype,
        {
            "padded images": padded(x_shape, padding),
            "dweights": (dout.shape[1], x_shape[1], kernel_size, kernel_size),
        },
    )
    return dout, kernel_size, stride, padding


def conv2d_backward(x_shape, dtype, dout, weights, stride, padding, input_grad):
    """(dout, weights, stride, padding, input_grad) for the layer's backward on images of
    x_shape and dtype (None as in weight_gradient): both gradients' rules, and input_grad True
    or False (as the layers require: a string such as "no" would count as True)."""
    input_grad = flag(input_grad, "input_grad")
    dout = images(dout, "dout")
    if dtype is not None:
        same_dtype(dout, dtype, "dout", "x")
    weights, _, stride, padding = convolution(
        x_shape, weights, None, stride, padding, dout.dtype, "dout" if dtype is None else "x"
    )
    dtype = dout.dtype
    k = weights.shape[2]
    output_gradient(dout, x_shape, k, stride, padding, weights.shape[0])
    fits_in_memory(
        lambda: f"padding={padding} (x of shape {tuple(x_shape)})",
        dtype,
        {"dx": x_shape, "padded images": padded(x_shape, padding)},
    )
    return dout, weights, stride, padding, input_grad


def conv_relu_maxpool_forward(x, weights, bias, padding):
    """(x, weights, bias, padding): conv2d_forward's, with stride 1, k >= 2 and an output of
    2x2 or more, which the 2x2 pooling needs."""
    x, weights, bias, _, padding = conv2d_forward(x, weights, bias, 1, padding)
    _pooled_convolution(x.shape, weights.shape, padding, "x")
    return x, weights, bias, padding


def conv_relu_maxpool_backward(x_shape, dout, out, argmax, weights, padding, input_grad):
    """(x_shape, dout, out, argmax, weights, padding, input_grad): dout, out (its dtype) and
    argmax (places 0..3) of the pooled output's shape for images of x_shape, and the rest as
    conv_relu_maxpool_forward's; dx within memory."""
    x_shape = image_shape(x_shape, "x_shape")
    input_grad = flag(input_grad, "input_grad")
    dout = images(dout, "dout")
    weights, _, _, padding = convolution(
        x_shape, weights, None, 1, padding, dout.dtype, "dout", "x_shape"
    )
    expected = _pooled_convolution(x_shape, weights.shape, padding, "x_shape")

    def what():
        return f"the pooled output (for x_shape {tuple(x_shape)} and weights {weights.shape})"

    dout = same_shape(dout, expected, "dout", what)
    out = same_dtype(
        same_shape(images(out, "out"), expected, "out", what), dout.dtype, "out", "dout"
    )
    argmax = window_places(argmax, expected, 2)
    fits_in_memory(lambda: f"x_shape={tuple(x_shape)}", dout.dtype, {"dx": x_shape})
    return x_shape, dout, out, argmax, weights, padding, input_grad


def _pooled_convolution(x_shape, weights_shape, padding, images_name):
    """The shape of a stride-1 convolution's output pooled 2x2, for kernels of k >= 2 whose
    output is 2x2 or more; ValueError otherwise."""
    n_out, _, k, _ = weights_shape
    _, _, conv_h, conv_w = convolution_output(x_shape, n_out, k, 1, padding)
    if k < 2:
        raise ValueError(
            f"weights must be kernels of 2x2 or more here, got shape {tuple(weights_shape)} "
            "(for a 1x1 convolution, use conv2d_forward then the pooling)"
        )
    if min(conv_h, conv_w) < 2:
        raise ValueError(
            f"the convolution's output must be 2x2 or more to pool 2x2, got {conv_h}x{conv_w} "
            f"({images_name} of shape {tuple(x_shape)}, weights {tuple(weights_shape)}, "
            f"padding {padding})"
        )
    return (x_shape[0], n_out, conv_h // 2, conv_w // 2)


def maxpool2d_forward(x, kernel_size, stride):
    """(x, kernel_size, stride): images, and a k x k window (k, stride >= 1) inside them."""
    x = images(x)
    return (x, *pooling(x.shape, kernel_size, stride))


def maxpool2d_backward(dout, argmax, input_shape, kernel_size, stride):
    """(dout, argmax, input_shape, kernel_size, stride): dout and argmax of the pooled output's
    shape, argmax's places inside the window, dx within memory."""
    input_shape = image_shape(input_shape)
    k, stride = pooling(input_shape, kernel_size, stride)
    expected = pooled_output(input_shape, k, stride)

    def what():
        return f"the output (for input_shape {input_shape}, kernel_size {k}, stride {stride})"

    dout = same_shape(images(dout, "dout"), expected, "dout", what)
    argmax = window_places(argmax, expected, k)
    fits_in_memory(lambda: f"input_shape={input_shape}", dout.dtype, {"dx": input_shape})
    return dout, argmax, input_shape, k, stride


def relu_forward(x):
    """x: a float array of any shape, 0-d included."""
    return floats(x, "x")


def relu_backward(dout, out):
    """(dout, out): float arrays of one shape and dtype."""
    out = floats(out, "out")
    dout = same_shape(floats(dout, "dout"), out.shape, "dout", "out")
    return same_dtype(dout, out.dtype, "dout", "out"), out


def batchnorm_forward(x, gamma, beta, eps, relu):
    """(x, gamma, beta, eps, relu): images with values to take statistics of (N * H * W >= 1),
    one gamma and beta per channel, eps > 0, a bool."""
    x = images(x)
    if x.shape[0] * x.shape[2] * x.shape[3] == 0:
        raise ValueError(f"x must hold values to take statistics of, got x of shape {x.shape}")
    gamma, beta = channel_vectors(x.shape, gamma=gamma, beta=beta)
    return x, gamma, beta, epsilon(eps), flag(relu, "relu")


def batchnorm_inference(x, gamma, beta, mean, inv_std, relu):
    """(x, gamma, beta, mean, inv_std, relu): images, one of each vector per channel, a bool."""
    x = images(x)
    vectors = channel_vectors(x.shape, gamma=gamma, beta=beta, mean=mean, inv_std=inv_std)
    return x, *vectors, flag(relu, "relu")


def batchnorm_backward(x, dout, mean, inv_std, gamma, relu, beta):
    """(x, dout, mean, inv_std, gamma, relu, beta): dout of x's shape and dtype, one vector per
    channel, a bool, and beta (one per channel) when relu is True, which finds the clamped values
    again; beta may be None without relu."""
    x = images(x)
    dout = same_shape(images(dout, "dout"), x.shape, "dout", "x")
    same_dtype(dout, x.dtype, "dout", "x")
    vectors = channel_vectors(x.shape, mean=mean, inv_std=inv_std, gamma=gamma)
    relu = flag(relu, "relu")
    if beta is None:
        if relu:
            raise TypeError(
                "beta must be given with relu=True: the values ReLU set to 0 are found again "
                "from x, gamma and beta"
            )
        beta = np.zeros(x.shape[1])
    (beta,) = channel_vectors(x.shape, beta=beta)
    return x, dout, *vectors, relu, beta


def batchnorm_relu_maxpool_forward(x, gamma, beta, eps, kernel_size, stride):
    """(x, gamma, beta, eps, kernel_size, stride): batchnorm_forward's, and windows that do not
    overlap (stride >= kernel_size)."""
    x, gamma, beta, eps, _ = batchnorm_forward(x, gamma, beta, eps, False)
    return x, gamma, beta, eps, *separate_windows(x.shape, kernel_size, stride)


def batchnorm_relu_maxpool_inference(x, gamma, beta, mean, inv_std, kernel_size, stride):
    """(x, gamma, beta, mean, inv_std, kernel_size, stride): batchnorm_inference's, and windows
    that do not overlap."""
    x, *vectors, _ = batchnorm_inference(x, gamma, beta, mean, inv_std, False)
    return x, *vectors, *separate_windows(x.shape, kernel_size, stride)


def batchnorm_relu_maxpool_backward(
    x, dout, argmax, mean, inv_std, gamma, beta, kernel_size, stride, batch_statistics
):
    """(x, dout, argmax, mean, inv_std, gamma, beta, kernel_size, stride, batch_statistics):
    images, windows that do not overlap, dout of x's dtype and argmax of the pooled shape (its
    places inside the window), one vector per channel, a bool."""
    x = images(x)
    k, stride = separate_windows(x.shape, kernel_size, stride)
    expected = pooled_output(x.shape, k, stride)

    def what():
        return f"the pooled output (for x of shape {x.shape}, kernel_size {k}, stride {stride})"

    dout = same_shape(images(dout, "dout"), expected, "dout", what)
    same_dtype(dout, x.dtype, "dout", "x")
    argmax = window_places(argmax, expected, k)
    vectors = channel_vectors(x.shape, mean=mean, inv_std=inv_std, gamma=gamma, beta=beta)
    return x, dout, argmax, *vectors, k, stride, flag(batch_statistics, "batch_statistics")


def output_size(size, kernel_size, stride, padding):
    """(size, kernel_size, stride, padding): ints, size, k, stride >= 1, padding >= 0, and the
    window inside the padded size."""
    size = positive_int(size, "size")
    k, stride = positive_int(kernel_size, "kernel_size"), positive_int(stride, "stride")
    padding = non_negative_int(padding, "padding")
    if k > size + 2 * padding:
        raise ValueError(
            f"kernel_size {k} is larger than the padded size {size} + 2 * {padding} = "
            f"{size + 2 * padding}"
        )
    return size, k, stride, padding


def pad_spatial(x, padding):
    """(x, padding): images, padding >= 0, the padded images within memory."""
    x, padding = images(x), non_negative_int(padding, "padding")
    fits_in_memory(
        lambda: f"padding={padding} (x of shape {x.shape})",
        x.dtype,
        {"padded images": padded(x.shape, padding)},
    )
    return x, padding


def im2col_indices(x_shape, kernel_size, stride, padding):
    """(x_shape, kernel_size, stride, padding): a batch's shape, a window inside it, and the
    index arrays (C*k*k, H_out*W_out) within memory. A stride past the last window comes back
    as the smallest with the same windows: numpy's int64 indices cannot hold a stride of 2**63."""
    x_shape = image_shape(x_shape, "x_shape")
    k, stride, padding = window(x_shape, kernel_size, stride, padding)
    stride = useful_stride(x_shape, k, stride, padding)
    _, _, out_h, out_w = convolution_output(x_shape, 1, k, stride, padding)
    fits_in_memory(
        lambda: f"padding={padding} and kernel_size={k} (x_shape {x_shape})",
        np.dtype(np.int64),
        {"row and column indices": (2, x_shape[1] * k * k, out_h * out_w)},
    )
    return x_shape, k, stride, padding


def im2col(x, kernel_size, stride, padding):
    """(x, kernel_size, stride, padding): images, a window inside them, and the index arrays,
    the padded images and the columns (C*k*k, H_out*W_out*N), one per window, within memory."""
    x = images(x)
    _, k, stride, padding = im2col_indices(x.shape, kernel_size, stride, padding)
    columns_fit(x.shape, x.dtype, k, stride, padding)
    return x, k, stride, padding


def im2col_conv2d_forward(x, weights, bias, stride, padding):
    """(x, weights, bias, stride, padding) for im2col.conv2d_forward: conv2d_forward's rules, and
    im2col's arrays within memory."""
    x, weights, bias, stride, padding = conv2d_forward(x, weights, bias, stride, padding)
    _, k, stride, padding = im2col_indices(x.shape, weights.shape[2], stride, padding)
    columns_fit(x.shape, x.dtype, k, stride, padding)
    return x, weights, bias, stride, padding


def col2im(cols, x_shape, kernel_size, stride, padding):
    """(cols, x_shape, kernel_size, stride, padding): cols as im2col made them for x_shape."""
    x_shape, k, stride, padding = im2col_indices(x_shape, kernel_size, stride, padding)
    cols = floats(cols, "cols")

    def what():
        return (
            f"im2col's columns (for x_shape {x_shape}, kernel_size {k}, stride {stride}, "
            f"padding {padding})"
        )

    same_shape(cols, columns(x_shape, k, stride, padding), "cols", what)
    fits_in_memory(
        lambda: f"x_shape={x_shape} with padding={padding}",
        cols.dtype,
        {"padded images": padded(x_shape, padding)},
    )
    return cols, x_shape, k, stride, padding


def im2col_conv2d_backward(dout, cols, x_shape, weights, stride, padding):
    """(dout, cols, x_shape, weights, stride, padding) for im2col.conv2d_backward: dout of the
    output's shape, weights and cols of its dtype, cols as im2col made them."""
    x_shape = image_shape(x_shape, "x_shape")
    dout, weights, x_shape, stride, padding = conv2d_backward_input(
        dout, weights, x_shape, stride, padding
    )
    cols, _, _, stride, padding = col2im(cols, x_shape, weights.shape[2], stride, padding)
    return dout, same_dtype(cols, dout.dtype, "cols", "dout"), x_shape, weights, stride, padding


def winograd_forward(x, weights, bias):
    """(x, weights, bias): conv2d_forward's rules with stride 1 and padding 1, and 3x3 kernels
    over images of even height and width (whole 2x2 output tiles)."""
    x, weights, bias, _, _ = conv2d_forward(x, weights, bias, 1, 1)
    kernels_of_size(weights, 3)
    if x.shape[2] % 2 or x.shape[3] % 2:
        raise ValueError(
            f"x must have an even height and width (whole 2x2 tiles), got shape {x.shape}"
        )
    return x, weights, bias


def winograd_backward(dout, tiles, input_grad):
    """(dout, tiles, input_grad): tiles as winograd_forward returned them (their planes those of
    the variant for their x's shape: numba checks no bounds), dout of the output's shape and the
    tiles' dtype, input_grad True or False."""
    from tinycnn.kernels.winograd import Tiles, transforms_for  # here: winograd.py imports this

    input_grad = flag(input_grad, "input_grad")
    if not isinstance(tiles, Tiles):
        raise TypeError(
            f"tiles must be the Tiles winograd_forward returned, got {type(tiles).__name__}"
        )
    n_samples, channels, height, width = tiles.x_shape
    way = transforms_for(height, width)
    tile_count = n_samples * way.tiles_per_sample(height, width)
    if (
        np.shape(tiles.inputs) != (way.count, channels, tile_count)
        or np.ndim(tiles.kernels) != 3
        or np.shape(tiles.kernels)[0::2] != (way.count, channels)
    ):
        raise ValueError(
            f"tiles must be the Tiles winograd_forward returned for x of shape {tiles.x_shape}: "
            f"inputs ({way.count}, {channels}, {tile_count}) and kernels ({way.count}, C_out, "
            f"{channels}), got {np.shape(tiles.inputs)} and {np.shape(tiles.kernels)}"
        )
    dout = same_shape(
        images(dout, "dout"),
        (n_samples, tiles.kernels.shape[1], height, width),
        "dout",
        "the convolution's output",
    )
    same_dtype(dout, tiles.inputs.dtype, "dout", "the tiles")
    return dout, tiles, input_grad


def pointwise_forward(x, weights, bias):
    """(x, weights, bias): conv2d_forward's rules with stride 1, no padding and 1x1 kernels."""
    x, weights, bias, _, _ = conv2d_forward(x, weights, bias, 1, 0)
    return x, kernels_of_size(weights, 1), bias


def pointwise_backward(dout, kept, weights, input_grad):
    """(dout, x, weights, input_grad): kept as pointwise_forward returned it, and dout and
    weights as conv2d_backward's rules say for its x, with 1x1 kernels."""
    from tinycnn.kernels.pointwise_blas import Inputs  # here: pointwise_blas imports this module

    if not isinstance(kept, Inputs):
        raise TypeError(
            f"kept must be the Inputs pointwise_forward returned, got {type(kept).__name__}"
        )
    x = kept.x
    dout, weights, _, _, input_grad = conv2d_backward(
        x.shape, x.dtype, dout, weights, 1, 0, input_grad
    )
    return dout, x, kernels_of_size(weights, 1), input_grad


def dense_forward(x, weights, bias):
    """(x, weights, bias): x (N, in), weights (in, out) and bias (out,) of x's float dtype,
    C-contiguous."""
    x, weights = _dense_operands(x, weights)
    bias = same_shape(floats(bias, "bias"), (weights.shape[1],), "bias", "the output features")
    return x, weights, same_dtype(bias, x.dtype, "bias", "x")


def dense_backward(x, dout, weights, input_grad):
    """(x, dout, weights, input_grad): x and weights as dense_forward's, dout (N, out) of their
    shapes and dtype, input_grad True or False."""
    input_grad = flag(input_grad, "input_grad")
    x, weights = _dense_operands(x, weights)
    dout = np.ascontiguousarray(float_array(dout, "dout", 2, "(N, out_features)"))
    same_shape(dout, (x.shape[0], weights.shape[1]), "dout", "the output (N, out_features)")
    return x, same_dtype(dout, x.dtype, "dout", "x"), weights, input_grad


def _dense_operands(x, weights):
    """(x (N, in), weights (in, out)): float arrays of one dtype, C-contiguous, whose in agree."""
    x = np.ascontiguousarray(float_array(x, "x", 2, "(N, in_features)"))
    weights = float_array(weights, "weights", 2, "(in_features, out_features)")
    if weights.shape[0] != x.shape[1]:
        raise ValueError(
            f"weights take {weights.shape[0]} input features (weights.shape[0]), but x has "
            f"{x.shape[1]} (shape {x.shape})"
        )
    return x, same_dtype(np.ascontiguousarray(weights), x.dtype, "weights", "x")


# --- the rules they are made of --------------------------------------------------------------


def images(x, name="x"):
    """x as a C-contiguous float32 or float64 batch of images (N, C, H, W)."""
    return np.ascontiguousarray(float_array(x, name, 4, "(N, C, H, W)"))


def floats(x, name):
    """x as a C-contiguous float32 or float64 array of any shape (a 0-d array stays 0-d, which
    np.ascontiguousarray would make 1-d)."""
    x = float_array(x, name)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def image_shape(value, name="input_shape"):
    """A batch's shape (N, C, H, W) as a tuple of ints, N >= 0 and the others >= 1."""
    if isinstance(value, np.ndarray) or not isinstance(value, (tuple, list)) or len(value) != 4:
        raise TypeError(f"{name} must be a batch's shape (N, C, H, W), got {_short(value)}")
    sizes = [positive_int(size, f"{name}[{index}]") for index, size in enumerate(value[1:], 1)]
    return (non_negative_int(value[0], f"{name}[0]"), *sizes)


def same_shape(array, expected, name, what):
    """array (already a float array) must have the `expected` shape, described as `what` (a
    string, or a function that words it, only when needed)."""
    if array.shape != tuple(expected):
        what = what() if callable(what) else what
        raise ValueError(
            f"{name} must have the shape of {what}: {tuple(expected)}, got {array.shape}"
        )
    return array


def same_dtype(array, dtype, name, other):
    """array must have the dtype of `other` (numba would compile the kernel again, for seconds,
    for every mix of dtypes; PyTorch refuses a mix too)."""
    if array.dtype != dtype:
        raise TypeError(
            f"{name} must have the dtype of {other}, {dtype}, got {array.dtype} "
            f"({name}.astype(np.{dtype}) converts it)"
        )
    return array


def convolution(x_shape, weights, bias, stride, padding, dtype, dtype_of="x", images_name="x"):
    """(weights, bias, stride, padding) for images of x_shape (the argument images_name):
    weights (C_out, C_in, k, k) with C_in the images' channels, bias (C_out,) (None: not asked),
    both of `dtype` (that of the argument dtype_of), stride >= 1, padding >= 0, and a window
    that fits the padded image."""
    weights = np.ascontiguousarray(float_array(weights, "weights", 4, "(C_out, C_in, k, k)"))
    n_out, channels, k, k_w = weights.shape
    if k != k_w or k == 0 or n_out == 0:
        raise ValueError(f"weights must be (C_out, C_in, k, k) kernels, got shape {weights.shape}")
    if channels != x_shape[1]:
        raise ValueError(
            f"weights take {channels} input channels (weights.shape[1]), but {images_name} has "
            f"{x_shape[1]} (shape {tuple(x_shape)})"
        )
    same_dtype(weights, dtype, "weights", dtype_of)
    if bias is not None:
        bias = same_shape(floats(bias, "bias"), (n_out,), "bias", "the output channels")
        same_dtype(bias, dtype, "bias", dtype_of)
    _, stride, padding = window(x_shape, k, stride, padding, "weights.shape[2:]")
    return weights, bias, stride, padding


def kernels_of_size(weights, k):
    """weights (C_out, C_in, k', k'), already checked, must hold k x k kernels: the size the
    kernel takes (Winograd's 3x3, the 1x1 products')."""
    if weights.shape[2] != k:
        raise ValueError(
            f"weights must be {k}x{k} kernels (C_out, C_in, {k}, {k}), got {weights.shape}"
        )
    return weights


def window(x_shape, kernel_size, stride, padding, kernel="kernel_size"):
    """(kernel_size, stride, padding) for images of x_shape: k, stride >= 1, padding >= 0, and
    the k x k window inside the padded image (`kernel`: where k came from, for the message)."""
    k = positive_int(kernel_size, "kernel_size")
    stride, padding = positive_int(stride, "stride"), non_negative_int(padding, "padding")
    if k > min(x_shape[2], x_shape[3]) + 2 * padding:
        raise ValueError(
            f"the {k}x{k} kernel ({kernel}) is larger than the padded images "
            f"{x_shape[2] + 2 * padding}x{x_shape[3] + 2 * padding} (images of shape "
            f"{tuple(x_shape)}, padding {padding})"
        )
    return k, stride, padding


def output_gradient(dout, x_shape, k, stride, padding, n_out=None, images_name="x"):
    """dout (checked by `images`) of the convolution's output shape (any number of output
    channels if n_out is None) for images of x_shape (the argument images_name)."""
    expected = convolution_output(
        x_shape, dout.shape[1] if n_out is None else n_out, k, stride, padding
    )

    def what():
        return (
            f"the convolution's output (for {images_name} of shape {tuple(x_shape)}, "
            f"kernel_size {k}, stride {stride}, padding {padding})"
        )

    return same_shape(dout, expected, "dout", what)


def convolution_output(x_shape, n_out, k, stride, padding):
    """The output shape (N, C_out, H_out, W_out) of a convolution of images of x_shape."""
    out_h = (x_shape[2] + 2 * padding - k) // stride + 1
    out_w = (x_shape[3] + 2 * padding - k) // stride + 1
    return (x_shape[0], n_out, out_h, out_w)


def useful_stride(x_shape, k, stride, padding=0):
    """`stride`, or the smallest stride with the same windows, for a k x k window checked to fit
    the padded images of x_shape (conv.useful_stride says why: a needlessly large stride costs
    memory and time, and numba takes no integer beyond int64)."""
    return max(1, min(stride, max(x_shape[2], x_shape[3]) + 2 * padding - k + 1))


def pooled_output(x_shape, k, stride):
    """The output shape (N, C, H_out, W_out) of a k x k pooling (no padding) of images of
    x_shape: a convolution's, with the channels kept."""
    return convolution_output(x_shape, x_shape[1], k, stride, 0)


def padded(x_shape, padding):
    """The shape of images of x_shape with `padding` zeros around every plane."""
    n_samples, channels, height, width = x_shape
    return (n_samples, channels, height + 2 * padding, width + 2 * padding)


def columns(x_shape, k, stride, padding):
    """The shape of im2col's matrix (C*k*k, H_out*W_out*N)."""
    n_samples, _, out_h, out_w = convolution_output(x_shape, 1, k, stride, padding)
    return (x_shape[1] * k * k, out_h * out_w * n_samples)


def columns_fit(x_shape, dtype, k, stride, padding):
    """MemoryError unless im2col's padded images and columns fit in memory."""
    fits_in_memory(
        lambda: f"padding={padding} and kernel_size={k} (x of shape {x_shape})",
        dtype,
        {
            "padded images": padded(x_shape, padding),
            "columns": columns(x_shape, k, stride, padding),
        },
    )


def pooling(x_shape, kernel_size, stride):
    """(kernel_size, stride) for images of x_shape: both >= 1, the window inside the image."""
    k, s = positive_int(kernel_size, "kernel_size"), positive_int(stride, "stride")
    if k > min(x_shape[2], x_shape[3]):
        raise ValueError(
            f"kernel_size {k} is larger than the images {x_shape[2]}x{x_shape[3]} (shape "
            f"{tuple(x_shape)})"
        )
    return k, s


def separate_windows(x_shape, kernel_size, stride):
    """(kernel_size, stride) as pooling's, for stride >= kernel_size: windows that do not
    overlap, so that each input is the chosen place of one window at most. A stride past the
    last window comes back as the smallest with the same windows (useful_stride), but never
    below kernel_size, so that it passes this check again."""
    k, stride = pooling(x_shape, kernel_size, stride)
    return k, max(k, useful_stride(x_shape, k, stride_apart(k, stride)))


def stride_apart(kernel_size, stride):
    """stride, refused below kernel_size: the fused batch-norm pooling's windows must not
    overlap (its layer checks the same when it is built)."""
    if stride < kernel_size:
        raise ValueError(
            f"stride must be at least kernel_size {kernel_size} (windows that do not overlap), "
            f"got {stride}: for overlapping windows, use BatchNormReLU2D then MaxPool2D"
        )
    return stride


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


def kept_planes(planes, size, dtype):
    """planes: None, or what conv2d_forward(..., keep_planes=True) returned for this x, a 1-d
    array of `size` numbers of `dtype` (size None: the forward keeps no planes for this x and
    kernel, a 1x1 convolution or an empty batch). numba reads them without bounds checks."""
    if planes is None:
        return None
    what = "None or the planes conv2d_forward(..., keep_planes=True) returned for this x"
    if not isinstance(planes, np.ndarray):
        raise TypeError(f"planes must be {what}, got {_short(planes)}")
    if size is None:
        raise ValueError(
            "planes must be None here: conv2d_forward keeps none for a 1x1 convolution with "
            "stride 1 and no padding, or an empty batch"
        )
    if planes.dtype != dtype:
        raise TypeError(
            f"planes must be {what}: a contiguous ({size},) array of {dtype}, got "
            f"{planes.shape} of {planes.dtype}"
        )
    if planes.shape != (size,) or not planes.flags.c_contiguous:
        raise ValueError(
            f"planes must be {what}: a contiguous ({size},) array of {dtype}, got "
            f"{planes.shape} of {planes.dtype}"
        )
    return planes


def channel_vectors(x_shape, **vectors):
    """Each named vector (gamma, beta, mean, ...) as a float array of one number per channel."""
    return [
        same_shape(floats(vector, name), (x_shape[1],), name, "the channels of x")
        for name, vector in vectors.items()
    ]


def epsilon(eps):
    """eps, a finite number > 0."""
    return real_number(eps, "eps", low=0.0, low_open=True)


def fits_in_memory(cause, dtype, shapes):
    """Refuse, before anything is allocated, arrays ({what: shape}) of `dtype` (a numpy dtype)
    that together need more than the machine's memory, as a ValueError that starts with cause()
    (a function naming the arguments that ask for them: the message is worded only when needed).
    Without it, a padding of 10**4 allocated 11.9 GiB, then failed with numpy's MemoryError;
    10**9 with numpy's "array is too big", naming nothing. The memory is tinycnn.checks'
    `memory_bytes`, the same rule as the datasets' and the networks' sizes."""
    count = 0
    for shape in shapes.values():
        count += math.prod(shape)
    if count * dtype.itemsize > memory_bytes():
        arrays = " and ".join(f"{what} {tuple(shape)}" for what, shape in shapes.items())
        raise ValueError(
            f"{cause()} asks for {arrays}: {count * dtype.itemsize / 1e9:.3g} GB of {dtype}, "
            f"more than this machine's memory ({memory_bytes() / 1e9:.3g} GB)"
        )


def _short(value):
    """A wrong value for a message: its repr if short, else its type."""
    text = repr(value)
    return f"{text} ({type(value).__name__})" if len(text) <= 40 else f"a {type(value).__name__}"
