"""Cluttered backgrounds: what every image is drawn on, so that finding the object takes looking.

A background is a base tone, a gentle linear gradient, a smooth texture (two long waves) and a few
distractor shapes: blobs, rectangles, lines and circles, none of them a pedestrian, a car, a
motorcycle or a face. Distractors are quieter than objects (less contrast against the base tone,
see `object_tones`) so the task stays learnable. The datasets draw their object on top, then add
pixel noise over everything. Sizes scale with the image: 32x32 looks like 64x64, only coarser.
"""

import numpy as np

from tinycnn.data.draw import disk, ellipse, per_image, segment, turned_rectangle

BASE_TONES = (0.25, 0.75)
"""Range of a background's average grey level."""

GRADIENT_STRENGTH = 0.15
"""Largest difference in tone a gradient makes from one side of the image to the other."""

WAVE_AMPLITUDE = 0.025
"""Largest amplitude of each of the two texture waves."""

DISTRACTOR_CONTRAST = (0.08, 0.25)
"""Range of a distractor's difference in tone from the base tone."""

DISTRACTOR_PROBABILITY = 0.5
"""Chance of each kind of distractor (blob, rectangle, line, circle) appearing in an image."""

OBJECT_CONTRAST = (0.35, 0.5)
"""Range of an object's difference in tone from the background's base tone."""

NOISE_LEVELS = (0.0, 0.04)
"""Range of the standard deviation of the pixel noise, per image."""


def backgrounds(rng, xs, ys, n, clutter=True):
    """Draw n backgrounds on the grid (xs, ys) of `pixel_grid(size)`.

    Returns images (n, size, size) float32 and base_tones (n,) float32, the tone objects are
    contrasted against. With clutter=False every background is a plain base tone.
    """
    size = xs.shape[-1]
    base_tones = rng.uniform(*BASE_TONES, size=n).astype(np.float32)
    images = np.broadcast_to(per_image(base_tones), (n, size, size)).copy()
    if clutter:
        images += _gradients(rng, xs / size, ys / size, n)
        images += _waves(rng, xs / size, ys / size, n)
        _add_distractors(rng, images, xs, ys, base_tones)
    return images, base_tones


def _gradients(rng, xs, ys, n):
    """n linear ramps, each with a random direction, centred on zero; xs, ys in image fractions."""
    direction = per_image(rng.uniform(0.0, 2.0 * np.pi, size=n))
    strength = per_image(rng.uniform(0.0, GRADIENT_STRENGTH, size=n))
    return strength * ((xs - 0.5) * np.cos(direction) + (ys - 0.5) * np.sin(direction))


def _waves(rng, xs, ys, n):
    """n smooth textures, each two plane waves 1/4 to 1 image long; xs, ys in image fractions."""
    texture = np.zeros((n, ys.shape[-2], xs.shape[-1]), dtype=np.float32)
    for _ in range(2):
        direction = per_image(rng.uniform(0.0, 2.0 * np.pi, size=n))
        cycles_per_image = per_image(rng.uniform(1.0, 4.0, size=n))
        phase = per_image(rng.uniform(0.0, 2.0 * np.pi, size=n))
        amplitude = per_image(rng.uniform(0.0, WAVE_AMPLITUDE, size=n))
        along = xs * np.cos(direction) + ys * np.sin(direction)
        texture += amplitude * np.sin(2.0 * np.pi * cycles_per_image * along + phase)
    return texture


def _add_distractors(rng, images, xs, ys, base_tones):
    """Paint each kind of distractor into a random half of the images, in place.

    Each kind is drawn only in the images that get one, all of them in one call.
    """
    n, size = images.shape[0], images.shape[-1]
    for draw_distractors in (_blobs, _rectangles, _lines, _circles):
        chosen = np.flatnonzero(rng.random(n) < DISTRACTOR_PROBABILITY)
        masks = draw_distractors(rng, xs, ys, len(chosen), size)
        brighter = rng.random(len(chosen)) < 0.5
        contrast = rng.uniform(*DISTRACTOR_CONTRAST, size=len(chosen))
        tones = per_image(base_tones[chosen] + np.where(brighter, contrast, -contrast))
        images[chosen] = np.where(masks, tones, images[chosen])


def object_tones(rng, base_tones):
    """Tones (N,) for objects that stand out from backgrounds of the given base tones (N,).

    An object is lighter or darker than its background, at random where both fit in [0, 1].
    """
    contrast = rng.uniform(*OBJECT_CONTRAST, size=len(base_tones))
    can_be_lighter = base_tones + contrast <= 1.0
    can_be_darker = base_tones - contrast >= 0.0
    coin = rng.random(len(base_tones)) < 0.5
    lighter = np.where(can_be_lighter & can_be_darker, coin, can_be_lighter)
    return base_tones + np.where(lighter, contrast, -contrast)


def add_pixel_noise(rng, images):
    """Add Gaussian noise to images (N, H, W) in place, its strength random per image."""
    noise_levels = per_image(rng.uniform(*NOISE_LEVELS, size=len(images)))
    images += noise_levels * rng.standard_normal(images.shape, dtype=np.float32)


def _random_centres(rng, n, size):
    """n random points anywhere in the image, as two (n, 1, 1) arrays."""
    return per_image(rng.uniform(0, size, size=n)), per_image(rng.uniform(0, size, size=n))


def _blobs(rng, xs, ys, n, size):
    """n ellipses, 1/20 to 1/7 of the image across each semi-axis, at any angle."""
    cx, cy = _random_centres(rng, n, size)
    rx = per_image(rng.uniform(size / 20, size / 7, size=n))
    ry = per_image(rng.uniform(size / 20, size / 7, size=n))
    return ellipse(xs, ys, cx, cy, rx, ry, per_image(rng.uniform(0.0, np.pi, size=n)))


def _rectangles(rng, xs, ys, n, size):
    """n rectangles, 1/32 to 1/8 of the image for each half side, at any angle."""
    cx, cy = _random_centres(rng, n, size)
    half_width = per_image(rng.uniform(size / 32, size / 8, size=n))
    half_height = per_image(rng.uniform(size / 32, size / 8, size=n))
    angle = per_image(rng.uniform(0.0, np.pi, size=n))
    return turned_rectangle(xs, ys, cx, cy, half_width, half_height, angle)


def _lines(rng, xs, ys, n, size):
    """n straight lines, 1/6 to 1/2 of the image long and 1/50 to 1/30 thick, at any angle."""
    cx, cy = _random_centres(rng, n, size)
    half_length = per_image(rng.uniform(size / 12, size / 4, size=n))
    angle = per_image(rng.uniform(0.0, np.pi, size=n))
    dx, dy = half_length * np.cos(angle), half_length * np.sin(angle)
    thickness = per_image(rng.uniform(size / 50, size / 30, size=n))
    return segment(xs, ys, cx - dx, cy - dy, cx + dx, cy + dy, thickness)


def _circles(rng, xs, ys, n, size):
    """n filled circles of radius 1/30 to 1/12 of the image."""
    cx, cy = _random_centres(rng, n, size)
    return disk(xs, ys, cx, cy, per_image(rng.uniform(size / 30, size / 12, size=n)))
