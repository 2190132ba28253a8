"""Cluttered backgrounds: plain when asked, busy otherwise, and objects that stand out."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.data.background import (
    BASE_TONES,
    OBJECT_CONTRAST,
    _add_distractors,
    add_pixel_noise,
    backgrounds,
    object_tones,
)
from tinycnn.data.draw import pixel_grid


def test_plain_backgrounds_are_their_base_tone():
    xs, ys = pixel_grid(32)
    images, base_tones = backgrounds(np.random.default_rng(0), xs, ys, 6, clutter=False)
    assert images.shape == (6, 32, 32) and images.dtype == np.float32
    np.testing.assert_array_equal(images, np.broadcast_to(base_tones[:, None, None], images.shape))
    assert np.all((base_tones >= BASE_TONES[0]) & (base_tones <= BASE_TONES[1]))


def test_cluttered_backgrounds_vary_around_their_base_tone():
    xs, ys = pixel_grid(32)
    images, base_tones = backgrounds(np.random.default_rng(1), xs, ys, 20)
    assert images.dtype == np.float32
    assert np.all(images.std(axis=(1, 2)) > 0)
    # Most pixels stay close to the base tone: the clutter is quieter than an object.
    median_offsets = np.median(np.abs(images - base_tones[:, None, None]), axis=(1, 2))
    assert np.all(median_offsets < OBJECT_CONTRAST[0] / 2)


def test_distractors_appear_in_some_images_and_not_in_others():
    xs, ys = pixel_grid(32)
    images = np.full((40, 32, 32), 0.5, dtype=np.float32)
    _add_distractors(np.random.default_rng(2), images, xs, ys, np.full(40, 0.5, dtype=np.float32))
    changed = (images != 0.5).any(axis=(1, 2))
    assert changed.any() and not changed.all()


def test_backgrounds_repeat_for_the_same_seed():
    xs, ys = pixel_grid(16)
    first, _ = backgrounds(np.random.default_rng(3), xs, ys, 4)
    second, _ = backgrounds(np.random.default_rng(3), xs, ys, 4)
    np.testing.assert_array_equal(first, second)


@given(st.lists(st.floats(*BASE_TONES), min_size=1, max_size=20), st.integers(0, 2**32 - 1))
def test_object_tones_differ_from_the_base_by_the_contrast_and_stay_in_range(base_tones, seed):
    base_tones = np.array(base_tones)
    tones = object_tones(np.random.default_rng(seed), base_tones)
    differences = np.abs(tones - base_tones)
    assert np.all((differences >= OBJECT_CONTRAST[0]) & (differences <= OBJECT_CONTRAST[1]))
    assert np.all((tones >= 0.0) & (tones <= 1.0))


def test_pixel_noise_changes_the_pixels_and_keeps_the_dtype():
    images = np.full((50, 8, 8), 0.5, dtype=np.float32)
    add_pixel_noise(np.random.default_rng(4), images)
    assert images.dtype == np.float32
    assert np.count_nonzero(images != 0.5) > images.size // 2
