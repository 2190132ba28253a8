"""The course's networks, written out once so that lessons, benchmarks and tests share them.

The localizer and the landmark detector are the classic small CNN (`small_cnn`): three blocks of
conv 3x3 -> ReLU -> max-pool 2x2, each halving the image and doubling the channels, then two dense
layers (each block is one layer, `ConvReLUMaxPool2D`: the same numbers in fewer passes). Only the
last layer differs: K + 5 numbers for localization, 1 + 2 * 3 for landmarks, and where its
untrained outputs start. The detector is fully convolutional: conv-BatchNorm-ReLU blocks and a 1x1
head laid out as the YOLO grid. `convolutionalize` turns a classifier of crops into sliding
windows over a whole image.
"""

import numpy as np

from tinycnn import checks
from tinycnn.checks import positive_int
from tinycnn.detection import GridOutput, GridVectors
from tinycnn.layers import (
    BatchNormReLU2D,
    BatchNormReLUMaxPool2D,
    Conv2D,
    ConvReLUMaxPool2D,
    Dense,
    Flatten,
    GridLayout,
    ReLU,
)
from tinycnn.model import Sequential
from tinycnn.outputs import (
    Identity,
    LandmarkOutput,
    LocalizationOutput,
    OutputMap,
    output_from_config,
)
from tinycnn.targets import BOX, POINTS, landmark_width, localization_width

OUTPUT_WEIGHT_SCALE = 0.1
"""The last layer's initial weights, as a share of their usual (He) size: see `small_cnn`."""

SMALL_CNN_SIZES = {"outputs": 8, "image_size": 64, "channels": (8, 16, 32), "hidden": 128}
"""small_cnn's usual sizes: what a size that makes the network too large is measured against."""

DETECTOR_SIZES = {"num_classes": 3, "num_anchors": 2, "channels": (8, 16, 32, 64, 128)}
"""The detector's usual sizes (its weights do not depend on image_size)."""


def small_cnn(
    outputs, image_size=64, channels=(8, 16, 32), hidden=128, rng=0, output=None, dtype=np.float32
):
    """1 x image_size x image_size -> `outputs` raw numbers; image_size must be divisible
    by 2 ** len(channels) (8 for the three blocks).

    output is the model's output map, the loss's (`loss.output`); None keeps the raw numbers.
    dtype is the weights' (and so the images'): float32 to train, float64 for gradient checks.

    The last layer starts with small weights, so that every raw output of the untrained network
    is close to its bias, 0: p_c = σ(0) = 0.5 and all classes equally likely. The network starts
    by saying "I don't know" instead of confident random guesses that training must first undo.
    """
    outputs = positive_int(outputs, "outputs")
    image_size = positive_int(image_size, "image_size")
    hidden = positive_int(hidden, "hidden")
    if not isinstance(channels, (tuple, list)):
        raise TypeError(f"channels must be a tuple of positive integers, got {channels!r}")
    if not channels:
        raise ValueError("channels must hold at least one block's channel count, got ()")
    channels = [positive_int(count, f"channels[{index}]") for index, count in enumerate(channels)]
    if image_size % 2 ** len(channels):
        raise ValueError(
            f"image_size must be divisible by {2 ** len(channels)} "
            f"({len(channels)} 2x2 poolings), got {image_size}"
        )
    dtype = checks.float_dtype(dtype)
    sizes = {"outputs": outputs, "image_size": image_size, "channels": channels, "hidden": hidden}
    check_weights_fit(small_cnn_weights, sizes, SMALL_CNN_SIZES, dtype)
    rng = checks.rng(rng)  # one generator drawn from in turn: each layer's own weights
    layers, in_channels = [], 1
    for out_channels in channels:
        # conv 3x3 -> ReLU -> max-pool 2x2, one layer
        layers.append(
            ConvReLUMaxPool2D(in_channels, out_channels, 3, padding=1, dtype=dtype, rng=rng)
        )
        in_channels = out_channels
    features = in_channels * (image_size // 2 ** len(channels)) ** 2
    output_layer = Dense(hidden, outputs, dtype=dtype, rng=rng)
    output_layer.params["W"] *= OUTPUT_WEIGHT_SCALE
    layers += [Flatten(), Dense(features, hidden, dtype=dtype, rng=rng), ReLU(), output_layer]
    return Sequential(layers, output=output)


def localizer(num_classes=3, image_size=64, rng=0, output=None, dtype=np.float32):
    """Lesson 4's network: an image in, [p_c, b_x, b_y, b_h, b_w, c_1..c_K] (raw) out, read
    through `output` (the loss's map, e.g. `LocalizationLoss(3).output`) by predict.

    Untrained, it predicts a box in the middle of the image, half its height and width.
    """
    width = localization_width(num_classes)
    _check_output_family(output, (LocalizationOutput,), "LocalizationLoss(3).output")
    _check_small_cnn_fits("num_classes", num_classes, localization_width, image_size, dtype)
    model = small_cnn(width, image_size, rng=rng, output=output, dtype=dtype)
    model.layers[-1].params["b"][BOX] = 0.5
    return model


def landmark_detector(num_landmarks=3, image_size=64, rng=0, output=None, dtype=np.float32):
    """Lesson 5's network: an image in, [is_face, x_1, y_1, ..., x_L, y_L] (raw) out, read
    through `output` (the loss's map, e.g. `LandmarkLoss(3).output`) by predict.

    Untrained, it predicts every point in the middle of the image.
    """
    width = landmark_width(num_landmarks)
    _check_output_family(output, (LandmarkOutput,), "LandmarkLoss(3).output")
    _check_small_cnn_fits("num_landmarks", num_landmarks, landmark_width, image_size, dtype)
    model = small_cnn(width, image_size, rng=rng, output=output, dtype=dtype)
    model.layers[-1].params["b"][POINTS] = 0.5
    return model


def detector(
    num_classes=3,
    num_anchors=2,
    image_size=64,
    channels=(8, 16, 32, 64, 128),
    output=None,
    rng=0,
    dtype=np.float32,
):
    """A small fully convolutional YOLO detector: 1 x image_size x image_size in, the grid of raw
    vectors (N, S, S, B, 5 + K) out, S = image_size / 16.

        4 x [conv 3x3 -> BatchNorm -> ReLU -> max-pool 2x2]      the image shrinks 16-fold
        conv 3x3 -> BatchNorm -> ReLU                            each cell sees past its borders
        conv 1x1 to B (5 + K) channels -> GridLayout(B)          one vector per cell and anchor

    Each BatchNorm -> ReLU -> max-pool is one layer, `BatchNormReLUMaxPool2D`, and the last
    BatchNorm -> ReLU one `BatchNormReLU2D`: the same functions, computed in fewer passes.

    Without a dense layer the same weights run on any image size divisible by 16. The last
    convolution starts small, as in `small_cnn`, with the p_c logit's bias at -3 (p_c ≈ 0.05):
    most cells hold nothing, so the untrained network starts by saying so. Pass
    output=loss.output (e.g. `tinycnn.detection.GridLoss(anchors, 3).output`) for predict.
    dtype is the weights' (and so the images'): float32 to train, float64 for gradient checks.
    """
    _check_output_family(output, (GridOutput, GridVectors), "GridLoss(anchors, 3).output")
    num_classes = positive_int(num_classes, "num_classes")
    num_anchors = positive_int(num_anchors, "num_anchors")
    image_size = positive_int(image_size, "image_size")
    if not isinstance(channels, (tuple, list)):
        raise TypeError(f"channels must be a tuple of 5 positive integers, got {channels!r}")
    if len(channels) != 5:
        raise ValueError(f"channels must give the 5 convolutions' widths, got {channels!r}")
    channels = [positive_int(count, f"channels[{index}]") for index, count in enumerate(channels)]
    if image_size % 16:
        raise ValueError(
            f"image_size must be divisible by 16 (four 2x2 poolings), got {image_size}"
        )
    dtype = checks.float_dtype(dtype)
    sizes = {"num_classes": num_classes, "num_anchors": num_anchors, "channels": channels}
    check_weights_fit(detector_weights, sizes, DETECTOR_SIZES, dtype)
    rng = checks.rng(rng)
    layers, in_channels = [], 1
    for index, out_channels in enumerate(channels):
        pooled = index < 4
        layers += [
            Conv2D(in_channels, out_channels, 3, padding=1, dtype=dtype, rng=rng),
            BatchNormReLUMaxPool2D(out_channels, 2, dtype=dtype)
            if pooled
            else BatchNormReLU2D(out_channels, dtype=dtype),
        ]
        in_channels = out_channels
    width = 5 + num_classes
    head = Conv2D(in_channels, num_anchors * width, 1, dtype=dtype, rng=rng)
    head.params["W"] *= OUTPUT_WEIGHT_SCALE
    head.params["b"][::width] = -3.0
    layers += [head, GridLayout(num_anchors)]
    return Sequential(layers, output=output)


def _check_output_family(output, maps, example):
    """output must be None, Identity (the squared losses') or one of `maps`, the maps of the
    builder's own losses: a map of another family may have the same width (a 2-class
    localization vector and a 3-point landmark vector both hold 7 numbers) and would read the
    numbers as something they are not."""
    if isinstance(output, OutputMap) and not isinstance(output, (Identity, *maps)):
        raise ValueError(
            f"output must be this network's loss's map (e.g. {example}), or None, got "
            f"{output!r}: a map of another kind of vector"
        )


def small_cnn_weights(outputs, image_size, channels, hidden):
    """[(layer, number of weights)] of `small_cnn` with these sizes, counted in Python ints (no
    overflow, whatever the sizes), without building anything."""
    layers, in_channels = [], 1
    for out_channels in channels:
        layers.append(
            (f"Conv2D({in_channels}, {out_channels}, 3)", (in_channels * 9 + 1) * out_channels)
        )
        in_channels = out_channels
    features = in_channels * (image_size // 2 ** len(channels)) ** 2
    layers.append((f"Dense({features}, {hidden})", (features + 1) * hidden))
    layers.append((f"Dense({hidden}, {outputs})", (hidden + 1) * outputs))
    return layers


def detector_weights(num_classes, num_anchors, channels):
    """[(layer, number of weights and BatchNorm numbers)] of `detector` with these sizes."""
    layers, in_channels = [], 1
    for out_channels in channels:
        count = (in_channels * 9 + 1) * out_channels + 4 * out_channels  # conv, then BatchNorm
        layers.append((f"Conv2D({in_channels}, {out_channels}, 3)", count))
        in_channels = out_channels
    outputs = num_anchors * (5 + num_classes)
    layers.append((f"Conv2D({in_channels}, {outputs}, 1)", (in_channels + 1) * outputs))
    return layers


def check_weights_fit(weights_of, sizes, usual_sizes, dtype):
    """Refuse a network this machine cannot hold before a layer is built: weights_of(**sizes)
    counts its layers' weights, each stored in dtype, the largest also drawn in float64 first, two
    arrays of it (see `tinycnn.layers.he_normal`). The ValueError names the sizes at fault: those
    that, set back to their usual value (usual_sizes), make the network fit; else every size not
    at its usual value."""

    def needed(sizes):
        counts = [count for _, count in weights_of(**sizes)]
        return sum(counts) * dtype.itemsize + max(counts) * 16

    memory = checks.memory_bytes()
    if needed(sizes) <= memory:
        return
    changed = [name for name in usual_sizes if sizes[name] != usual_sizes[name]]
    at_fault = [name for name in changed if needed({**sizes, name: usual_sizes[name]}) <= memory]
    layers = weights_of(**sizes)
    largest, largest_count = max(layers, key=lambda layer: layer[1])
    total = sum(count for _, count in layers)
    checks.fits_in_memory(
        needed(sizes),
        " and ".join(at_fault or changed or usual_sizes),
        f"the network's {dtype} weights ({_count(total)}, {_count(largest_count)} of them in "
        f"{largest})",
    )


def _count(number):
    """A count as a person reads it: 1,234,567, or a power of ten past a quadrillion."""
    return f"{number:,}" if number < 10**15 else f"about 10^{len(str(number)) - 1}"


def _check_small_cnn_fits(name, count, width_of, image_size, dtype):
    """check_weights_fit for a builder on small_cnn whose outputs follow from `count` (named
    `name`: num_classes, num_landmarks) by width_of."""
    image_size, dtype = positive_int(image_size, "image_size"), checks.float_dtype(dtype)
    usual = {name: 3, "image_size": SMALL_CNN_SIZES["image_size"]}

    def weights_of(image_size, **counts):
        sizes = {**SMALL_CNN_SIZES, "image_size": image_size}
        return small_cnn_weights(**{**sizes, "outputs": width_of(counts[name])})

    check_weights_fit(weights_of, {name: count, "image_size": image_size}, usual, dtype)


# Sliding windows in one pass (the detection chapter): a classifier of fixed-size crops becomes a
# fully convolutional network that classifies every window of a larger image at once.

ELEMENTWISE_LAYERS = ("ReLU", "LeakyReLU", "Sigmoid", "Tanh")
"""Layers that act on each number alone: they work the same on a vector and on a feature map."""

WALK_ARRAYS = 3
"""Float64 arrays of the widest feature map's size that running one crop through the layers
before the Flatten needs at its peak (0.9 measured with tracemalloc, for 256 and 512 pixels)."""

LOCAL_LAYERS = (
    "Conv2D",
    "ConvReLUMaxPool2D",
    "MaxPool2D",
    "ReLUMaxPool2D",
    "BatchNorm2D",
    "BatchNormReLU2D",
    "BatchNormReLUMaxPool2D",
    *ELEMENTWISE_LAYERS,
)
"""Layers before Flatten whose output at a position depends only on the input near it, the same
way everywhere: on a larger image they compute, for every window, what they compute on the crop."""


class WindowOutput(OutputMap):
    """A classifier's output map applied to every window: raw (N, D, rows, cols) -> the lecture's
    vectors (N, D, rows, cols), e.g. p_c = sigmoid(raw[:, 0]) at every window.

    `output` is the classifier's map, or its config (as `save`/`load` pass it)."""

    def __init__(self, output):
        if isinstance(output, dict):
            try:
                output = output_from_config(output)
            except (TypeError, ValueError) as error:
                raise type(error)(f"output, a config dict, names no output map: {error}") from error
        if not isinstance(output, OutputMap):
            raise TypeError(f"output must be a tinycnn output map, got {type(output).__name__}")
        # It maps one window's vector (N, D): a map of windows or of a grid reads no vectors.
        layout = output.raw_layout
        if isinstance(output, WindowOutput) or (layout is not None and len(layout) != 1):
            raise ValueError(
                f"output must be a classifier's output map, which reads one vector (D,) per "
                f"window, got {output!r}"
            )
        self.output = output
        self.width = output.width

    def __call__(self, raw):
        if not isinstance(raw, np.ndarray):
            raise TypeError(
                f"{self!r}: raw must be a numpy array (N, D, rows, cols), got {type(raw).__name__}"
            )
        if raw.dtype not in checks.FLOAT_DTYPES:
            raise TypeError(
                f"{self!r}: raw must be a numpy float array (float32 or float64), got dtype "
                f"{raw.dtype}"
            )
        if raw.ndim != 4:
            raise ValueError(
                f"{self!r}: raw must be a numpy array (N, D, rows, cols), got shape {raw.shape}"
            )
        n, width, rows, cols = raw.shape
        vectors = self.output(raw.transpose(0, 2, 3, 1).reshape(-1, width))
        return np.ascontiguousarray(vectors.reshape(n, rows, cols, width).transpose(0, 3, 1, 2))

    def get_config(self):
        return {"name": "WindowOutput", "output": self.output.get_config()}

    def __hash__(self):
        return hash(("WindowOutput", self.output))

    def __repr__(self):
        return f"WindowOutput({self.output!r})"


def window_stride(model):
    """How far apart, in input pixels, the windows of `convolutionalize(model, ...)` lie: the
    product of the strides of the convolutions and poolings before the Flatten."""
    stride = 1
    for layer in _layers_before_flatten(model):
        stride *= getattr(layer, "stride", 1)
    return stride


def convolutionalize(model, input_shape):
    """The lecture's convolutional sliding windows: `model`, a classifier of crops of shape
    input_shape = (C, H, W), rewritten as a fully convolutional Sequential, weights reshaped, not
    retrained.

    The layers before the Flatten are kept as they are (copies). The Flatten and the first Dense
    become one convolution whose kernel covers the whole last feature map (C_L x k x k), and every
    later Dense a 1x1 convolution:

        Dense W (C_L*k*k, D) -> Conv2D W.T.reshape(D, C_L, k, k)   (Flatten's C, H, W order)
        Dense W (D_in, D)    -> Conv2D W.T.reshape(D, D_in, 1, 1)

    On a crop of input_shape the result gives the classifier's raw output as (1, D, 1, 1). On an
    image (N, C, H', W') it gives (N, D, rows, cols): entry [n, :, i, j] is exactly the raw output
    the classifier gives for the window of size H x W whose top-left corner is at row
    i * stride, column j * stride of image n, with stride = `window_stride(model)` (the product of
    the pooling and convolution strides), and rows = (H' - H) // stride + 1 (likewise cols) when
    every layer uses all of the crop. (A pooling whose floor drops the crop's last rows makes the
    classifier ignore them; then the last window may reach that many rows past the image's edge,
    rows the classifier would not have read.) One pass shares the convolutions of overlapping
    windows instead of computing them once per window.

    The result's `output` is the classifier's map applied per window (`WindowOutput`), so its
    `predict` returns the lecture's vectors as (N, D, rows, cols). It is returned in evaluation
    mode, for inference; Dropout layers are left out (in evaluation they pass everything through).
    `tc.save` and `tc.load` keep it like any model.

    Raises ValueError for what has no convolutional form: convolutions with zero padding (on a
    large image a window's border sees its neighbours' pixels, where the crop saw zeros), layers
    other than Dense, elementwise activations and Dropout after the Flatten, a last feature map
    that is not square (Conv2D kernels are square), or input_shape that does not fit the model.
    """
    from tinycnn.layers import Dropout

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a tinycnn Sequential, got {type(model).__name__}")
    input_shape = _crop_shape(input_shape)
    flatten_index = _flatten_index(model)
    features = []
    for index, layer in enumerate(model.layers[:flatten_index]):
        name = type(layer).__name__
        if isinstance(layer, Dropout):
            continue
        if name not in LOCAL_LAYERS:
            raise ValueError(
                f"model.layers[{index}] is {layer!r}, which convolutionalize does not "
                f"know to act the same on every window (before the Flatten it accepts "
                f"{', '.join(LOCAL_LAYERS)} and Dropout)"
            )
        if getattr(layer, "padding", 0):
            raise ValueError(
                f"model.layers[{index}] is {layer!r}: with zero padding a window's "
                "border sees its neighbours' pixels on a large image where the crop "
                "saw zeros, so the windows would not match the classifier. Train the "
                "classifier with padding=0 to convolutionalize it"
            )
        features.append(_copy_layer(layer))
    for layer in features:
        layer.training = False
    head = model.layers[flatten_index + 1 :]
    if not any(isinstance(layer, Dense) for layer in head):
        raise ValueError(
            "the model has no Dense layer after its Flatten: there is nothing to turn "
            "into a convolution"
        )
    # The walk below runs one crop through the layers: counted first, so that a mistaken
    # input_shape is refused by name, not after the feature maps took gigabytes.
    widest = max([input_shape[0], *(getattr(layer, "out_channels", 0) for layer in features)])
    checks.fits_in_memory(
        WALK_ARRAYS * 8 * widest * input_shape[1] * input_shape[2],
        "input_shape",
        f"one crop of {input_shape} run through the {widest}-channel layers before the Flatten",
    )
    feature_map = _feature_map_shape(features, input_shape)
    channels, height, width = feature_map
    if height != width:
        raise ValueError(
            f"input_shape {input_shape} gives a last feature map of {height}x{width} "
            f"(C, H, W) = {feature_map}; convolutionalize needs it square, since "
            "Conv2D kernels are square"
        )
    layers, kernel = list(features), height
    for offset, layer in enumerate(head, start=flatten_index + 1):
        name = type(layer).__name__
        if isinstance(layer, Dropout):
            continue
        if name in ELEMENTWISE_LAYERS:
            layers.append(_copy_layer(layer))
            continue
        if not isinstance(layer, Dense):
            raise ValueError(
                f"model.layers[{offset}] is {layer!r}: after the Flatten only Dense, "
                f"{', '.join(ELEMENTWISE_LAYERS)} and Dropout have a convolutional "
                "form"
            )
        if layer.in_features != channels * kernel * kernel:
            raise ValueError(
                f"model.layers[{offset}] is {layer!r}, but input_shape {input_shape} "
                f"gives it {channels * kernel * kernel} features ({channels} x "
                f"{kernel} x {kernel}): input_shape must be the crops it was built "
                "for"
            )
        layers.append(_dense_as_conv(layer, channels, kernel))
        channels, kernel = layer.out_features, 1
    return Sequential(layers, output=WindowOutput(model.output)).eval()


def _dense_as_conv(dense, channels, kernel):
    """Dense (channels * kernel * kernel -> D) as Conv2D(channels, D, kernel): same weights."""
    conv = Conv2D.from_config(
        {
            "in_channels": channels,
            "out_channels": dense.out_features,
            "kernel_size": kernel,
            "dtype": dense.dtype.name,
        }
    )
    conv.params["W"] = np.ascontiguousarray(
        dense.params["W"].T.reshape(dense.out_features, channels, kernel, kernel)
    )
    conv.params["b"] = dense.params["b"].copy()
    return conv


def _copy_layer(layer):
    """A copy with its own weights, without the cached input of the last forward."""
    import copy

    cache, layer._cache = layer._cache, None
    try:
        return copy.deepcopy(layer)
    finally:
        layer._cache = cache


def _crop_shape(input_shape):
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(
            f"input_shape must be a tuple (C, H, W), the shape of one crop, got {input_shape!r}"
        )
    return checks.shape(input_shape, "input_shape", ndim=3)


def _flatten_index(model):
    flattens = [index for index, layer in enumerate(model.layers) if isinstance(layer, Flatten)]
    if len(flattens) != 1:
        raise ValueError(
            f"model must have exactly one Flatten layer between its convolutions and "
            f"its Dense layers, got {len(flattens)}"
        )
    return flattens[0]


def _layers_before_flatten(model):
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a tinycnn Sequential, got {type(model).__name__}")
    return model.layers[: _flatten_index(model)]


def _feature_map_shape(layers, input_shape):
    """(C, H, W) of the last feature map for one crop, by running zeros through the layers."""
    x = np.zeros((1, *input_shape), dtype=np.float64)
    try:
        for layer in layers:
            x = layer.forward(x)
    except ValueError as error:
        raise ValueError(f"input_shape {input_shape} does not fit the model: {error}") from error
    return x.shape[1:]
