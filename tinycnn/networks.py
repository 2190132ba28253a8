"""The course's two networks, written out once so that lessons, benchmarks and tests share them.

Both are the classic small CNN: three blocks of conv 3x3 -> ReLU -> max-pool 2x2, each halving the
image and doubling the channels, then two dense layers. Only the last layer differs: K + 5 numbers
for localization, 1 + 2 * 3 for landmarks, and where its untrained outputs start.
"""

from tinycnn import checks
from tinycnn.checks import positive_int
from tinycnn.layers import BatchNorm2D, Conv2D, Dense, Flatten, GridLayout, MaxPool2D, ReLU
from tinycnn.model import Sequential
from tinycnn.targets import BOX, POINTS, landmark_width, localization_width

OUTPUT_WEIGHT_SCALE = 0.1
"""The last layer's initial weights, as a share of their usual (He) size: see `small_cnn`."""


def small_cnn(outputs, image_size=64, channels=(8, 16, 32), hidden=128, rng=0, output=None):
    """1 x image_size x image_size -> `outputs` raw numbers; image_size must be divisible
    by 2 ** len(channels) (8 for the three blocks).

    output is the model's output map, the loss's (`loss.output`); None keeps the raw numbers.

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
        raise ValueError(f"image_size must be divisible by {2 ** len(channels)} "
                         f"({len(channels)} 2x2 poolings), got {image_size}")
    rng = checks.rng(rng)  # one generator drawn from in turn: each layer's own weights
    layers, in_channels = [], 1
    for out_channels in channels:
        layers += [Conv2D(in_channels, out_channels, 3, padding=1, rng=rng), ReLU(),
                   MaxPool2D(2)]
        in_channels = out_channels
    features = in_channels * (image_size // 2 ** len(channels)) ** 2
    output_layer = Dense(hidden, outputs, rng=rng)
    output_layer.params["W"] *= OUTPUT_WEIGHT_SCALE
    layers += [Flatten(), Dense(features, hidden, rng=rng), ReLU(), output_layer]
    return Sequential(layers, output=output)


def localizer(num_classes=3, image_size=64, rng=0, output=None):
    """Lesson 4's network: an image in, [p_c, b_x, b_y, b_h, b_w, c_1..c_K] (raw) out, read
    through `output` (the loss's map, e.g. `LocalizationLoss(3).output`) by predict.

    Untrained, it predicts a box in the middle of the image, half its height and width.
    """
    model = small_cnn(localization_width(num_classes), image_size, rng=rng, output=output)
    model.layers[-1].params["b"][BOX] = 0.5
    return model


def landmark_detector(num_landmarks=3, image_size=64, rng=0, output=None):
    """Lesson 5's network: an image in, [is_face, x_1, y_1, ..., x_L, y_L] (raw) out, read
    through `output` (the loss's map, e.g. `LandmarkLoss(3).output`) by predict.

    Untrained, it predicts every point in the middle of the image.
    """
    model = small_cnn(landmark_width(num_landmarks), image_size, rng=rng, output=output)
    model.layers[-1].params["b"][POINTS] = 0.5
    return model


def detector(num_classes=3, num_anchors=2, image_size=64, channels=(8, 16, 32, 64, 128),
             output=None, rng=0):
    """A small fully convolutional YOLO detector: 1 x image_size x image_size in, the grid of raw
    vectors (N, S, S, B, 5 + K) out, S = image_size / 16.

        4 x [conv 3x3 -> BatchNorm -> ReLU -> max-pool 2x2]      the image shrinks 16-fold
        conv 3x3 -> BatchNorm -> ReLU                            each cell sees past its borders
        conv 1x1 to B (5 + K) channels -> GridLayout(B)          one vector per cell and anchor

    Without a dense layer the same weights run on any image size divisible by 16. The last
    convolution starts small, as in `small_cnn`, with the p_c logit's bias at -3 (p_c ≈ 0.05):
    most cells hold nothing, so the untrained network starts by saying so. Pass
    output=loss.output (e.g. `tinycnn.detection.GridLoss(anchors, 3).output`) for predict.
    """
    num_classes = positive_int(num_classes, "num_classes")
    num_anchors = positive_int(num_anchors, "num_anchors")
    image_size = positive_int(image_size, "image_size")
    if not isinstance(channels, (tuple, list)):
        raise TypeError(f"channels must be a tuple of 5 positive integers, got {channels!r}")
    if len(channels) != 5:
        raise ValueError(f"channels must give the 5 convolutions' widths, got {channels!r}")
    channels = [positive_int(count, f"channels[{index}]") for index, count in enumerate(channels)]
    if image_size % 16:
        raise ValueError(f"image_size must be divisible by 16 (four 2x2 poolings), "
                         f"got {image_size}")
    rng = checks.rng(rng)
    layers, in_channels = [], 1
    for index, out_channels in enumerate(channels):
        layers += [Conv2D(in_channels, out_channels, 3, padding=1, rng=rng),
                   BatchNorm2D(out_channels), ReLU()]
        if index < 4:
            layers.append(MaxPool2D(2))
        in_channels = out_channels
    width = 5 + num_classes
    head = Conv2D(in_channels, num_anchors * width, 1, rng=rng)
    head.params["W"] *= OUTPUT_WEIGHT_SCALE
    head.params["b"][::width] = -3.0
    layers += [head, GridLayout(num_anchors)]
    return Sequential(layers, output=output)
