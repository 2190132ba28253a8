"""Data augmentation: new training images from old ones, with targets that still tell the truth.

A horizontal flip mirrors the picture, so the targets must move with it: a box centre b_x becomes
1 - b_x, a landmark's x becomes 1 - x, and since the image's left mouth corner becomes the right one
(see `faces`), the two mouth-corner slots swap. Rows without an object (p_c = 0) or without a face
(is_face = 0) keep their zeros. Flipping twice gives the input back: exactly for the images and for
box coordinates of 64x64 scenes (multiples of 1/128), and up to the float32 rounding of 1 - x
(below 6e-8) for any other coordinate.

Brightness, contrast and noise change only the pixels; they leave the targets alone, keep the dtype
and clip the result to [0, 1]. All functions return new arrays and never change their inputs.
Every amount and setting is checked by name before anything is drawn: a NaN, an infinity or a value
outside its range is a ValueError, never an image of NaN. The ranges are those `random_augment`
keeps to: a brightness shift in [-1, 1], a contrast factor in [0, 2], a noise level in [0, 1];
beyond them no picture is left.

Images are (N, C, H, W), float32 or float64; targets, of either dtype, are (N, 5 + K) for
kind="localization" ([p_c, b_x, b_y, b_h, b_w, c_1..c_K]) and (N, 7) for kind="landmarks"
([is_face, x_left, y_left, x_right, y_right, x_chin, y_chin]). The targets are checked for their
kind (`tinycnn.targets.check_localization_targets`, `check_landmark_targets`): landmark vectors
and localization vectors with K = 2 are both 7 wide, and flipping one as the other would corrupt
it without a word.
"""

import numbers

import numpy as np

from tinycnn import checks
from tinycnn.targets import LANDMARK_NAMES, check_landmark_targets, check_localization_targets

KINDS = ("localization", "landmarks")

LOCALIZATION_X_COLUMNS = [1]
"""Target columns holding an x coordinate in a localization target: b_x."""

LANDMARK_X_COLUMNS = [1, 3, 5]
"""Target columns holding an x coordinate in a landmark target: left, right, chin."""

LANDMARK_SLOTS_AFTER_FLIP = [0, 3, 4, 1, 2, 5, 6]
"""Where each landmark target column comes from after a flip: the mouth corners swap."""


def horizontal_flip(images, targets, kind="localization"):
    """Mirror images (N, C, H, W) left to right and move their targets (N, K) with them.

    Returns new (images, targets). Rows whose first entry (p_c or is_face) is 0 keep their targets.
    """
    _check_images(images)
    _check_targets(targets, images, kind)
    return _flip(images, targets, kind)


def _flip(images, targets, kind):
    """horizontal_flip of checked arguments."""
    flipped_images = np.ascontiguousarray(images[..., ::-1])
    flipped_targets = targets.copy()
    present = targets[:, 0] != 0
    if kind == "localization":
        x_columns = LOCALIZATION_X_COLUMNS
    else:
        x_columns = LANDMARK_X_COLUMNS
        flipped_targets[present] = targets[present][:, LANDMARK_SLOTS_AFTER_FLIP]
    rows = np.flatnonzero(present)[:, None]
    flipped_targets[rows, x_columns] = 1 - flipped_targets[rows, x_columns]
    return flipped_images, flipped_targets


def adjust_brightness(images, delta):
    """images + delta, clipped to [0, 1]; delta a number in [-1, 1] or one per image (N,)."""
    _check_images(images)
    delta = _per_image_amount(delta, images, "delta", low=-1.0, high=1.0)
    return np.clip(images + delta, 0.0, 1.0).astype(images.dtype, copy=False)


def adjust_contrast(images, factor):
    """Stretch each image's tones away from its mean by `factor` (< 1 flattens, > 1 sharpens),
    clipped to [0, 1]; factor a number in [0, 2] or one per image (N,)."""
    _check_images(images)
    factor = _per_image_amount(factor, images, "factor", low=0.0, high=2.0)
    means = images.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(means + factor * (images - means), 0.0, 1.0).astype(images.dtype, copy=False)


def add_noise(images, sigma, rng):
    """images plus Gaussian noise of standard deviation sigma (a number in [0, 1], or one per
    image (N,)), clipped to [0, 1]."""
    _check_images(images)
    _check_rng(rng)
    sigma = _per_image_amount(sigma, images, "sigma", low=0.0, high=1.0)
    noise = sigma * rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(images + noise, 0.0, 1.0).astype(images.dtype, copy=False)


def random_augment(
    images,
    targets,
    rng,
    kind="localization",
    flip_probability=0.5,
    max_brightness=0.1,
    max_contrast=0.2,
    max_noise=0.03,
):
    """A random variant of a training batch: returns new (images, targets).

    Each image is flipped with probability flip_probability, its brightness shifted by up to
    +-max_brightness, its contrast scaled by a factor within 1 +- max_contrast, and noise of a
    standard deviation up to max_noise added. flip_probability and each maximum are numbers in
    [0, 1] (a contrast factor stays >= 0; a shift or noise beyond 1 would leave no picture), checked
    before anything is drawn. A change whose maximum is 0 is skipped, and draws
    no random numbers: with max_brightness = max_contrast = max_noise = 0 it only flips. The
    argument order (images, targets, rng) is the one `tinycnn.train.fit` calls its `augment` with:
    pass `random_augment` for scenes, and `functools.partial(random_augment, kind="landmarks")`
    for faces.
    """
    _check_images(images)
    _check_targets(targets, images, kind)
    _check_rng(rng)
    flip_probability = checks.probability(flip_probability, "flip_probability")
    max_brightness = checks.real_number(max_brightness, "max_brightness", low=0.0, high=1.0)
    max_contrast = checks.real_number(max_contrast, "max_contrast", low=0.0, high=1.0)
    max_noise = checks.real_number(max_noise, "max_noise", low=0.0, high=1.0)
    n = len(images)
    flip = rng.random(n) < flip_probability
    images, targets = images.copy(), targets.copy()
    images[flip], targets[flip] = _flip(images[flip], targets[flip], kind)
    if max_brightness:
        images = adjust_brightness(images, rng.uniform(-max_brightness, max_brightness, size=n))
    if max_contrast:
        images = adjust_contrast(images, rng.uniform(1 - max_contrast, 1 + max_contrast, size=n))
    if max_noise:
        images = add_noise(images, rng.uniform(0.0, max_noise, size=n), rng)
    return images, targets


def _per_image_amount(amount, images, name, low, high):
    """A number in [low, high], or one per image (N,), as an array that broadcasts over
    (N, C, H, W). TypeError for anything but real numbers, ValueError for NaN, inf, a number
    outside the range or a wrong shape, each naming the argument."""
    if isinstance(amount, np.ndarray) and amount.ndim == 0:
        amount = amount.item()
    if isinstance(amount, (numbers.Real, bool, np.bool_)):
        number = checks.real_number(amount, name, low=low, high=high)
        return np.asarray(number, dtype=images.dtype)
    try:
        array = np.asarray(amount) if isinstance(amount, (list, tuple, np.ndarray)) else None
    except ValueError:  # a ragged list
        array = None
    if array is None or array.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a number or an array of {len(images)} numbers, one per image, "
            f"got {_describe(amount)}"
        )
    if array.shape != (len(images),):
        raise ValueError(
            f"{name} must be a number or have shape ({len(images)},), got {array.shape}"
        )
    bad = ~((array >= low) & (array <= high))  # NaN too
    if bad.any():
        raise ValueError(
            f"{name} must hold numbers in [{low:g}, {high:g}], got {array[bad][0].item()!r} at "
            f"{bad.argmax()}"
        )
    return array.astype(images.dtype).reshape(-1, 1, 1, 1)


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} with shape {value.shape}"
    return f"{value!r}" if len(repr(value)) <= 40 else f"a {type(value).__name__}"


def _check_images(images):
    checks.float_array(images, "images", ndim=4, layout="(N, C, H, W)")


def _check_targets(targets, images, kind):
    if not isinstance(kind, str):
        raise TypeError(f"kind must be one of {KINDS}, got {type(kind).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    checks.float_array(targets, "targets")
    if kind == "localization":
        expected = "(N, 5 + number of classes)"
        width_fits = targets.ndim == 2 and targets.shape[1] > 5
    else:
        expected = "(N, 7)"
        width_fits = targets.ndim == 2 and targets.shape[1] == 7
    if not width_fits:
        raise ValueError(
            f"targets must have shape {expected} for kind={kind!r}, got {targets.shape}"
        )
    if len(targets) != len(images):
        raise ValueError(
            f"images and targets must hold one target per image, got {len(images)} images and "
            f"{len(targets)} targets"
        )
    other = "landmarks" if kind == "localization" else "localization"
    # Landmark vectors and localization vectors with K = 2 are both 7 wide: landmark rows read as
    # localization ones fail its check (their chin is no one-hot class pair), so the default
    # kind's classic mistake is caught. (Localization rows read as landmarks hold points in
    # [0, 1] and pass: that mistake needs kind="landmarks" written out.)
    hint = f' ({other.rstrip("s")} targets? pass kind="{other}")' if targets.shape[1] == 7 else ""
    try:
        if kind == "localization":
            check_localization_targets(targets, targets.shape[1] - 5, name="targets")
        else:
            check_landmark_targets(targets, len(LANDMARK_NAMES), name="targets")
    except ValueError as error:
        raise ValueError(f"{error}{hint}") from None


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator (np.random.default_rng), got {type(rng).__name__}"
        )
