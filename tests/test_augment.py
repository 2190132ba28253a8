"""Augmentation: flips that move the targets with the picture, and pixel changes that keep them."""

from functools import partial

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinycnn.data.augment import (
    add_noise,
    adjust_brightness,
    adjust_contrast,
    horizontal_flip,
    random_augment,
)
from tinycnn.data.draw import tight_boxes
from tinycnn.data.faces import landmark_dataset
from tinycnn.data.scenes import localization_dataset

unit_floats = st.floats(0.0, 1.0, width=32)
# Multiples of 1/128, like the box coordinates of 64x64 scenes: 1 - x is exact for them.
pixel_fractions = st.integers(0, 128).map(lambda steps: steps / 128)


def lecture_targets(coordinates, kind):
    """A strategy for (N, 8) localization or (N, 7) landmark targets with some empty rows: the
    lecture's vectors, which the flips check (localization: sizes > 0, one-hot classes)."""
    width = 8 if kind == "localization" else 7

    def build(rows):
        targets = np.array(rows, dtype=np.float32).reshape(-1, width)
        empty = targets[:, 0] < 0.3
        targets[:, 0] = ~empty
        if kind == "localization":
            sizes = targets[:, 3:5]
            sizes[sizes == 0] = 1 / 128
            targets[:, 5:] = np.eye(3)[targets[:, 5:].argmax(axis=1)]
        targets[empty] = 0.0
        return targets

    row = st.lists(coordinates, min_size=width, max_size=width)
    return st.lists(row, min_size=1, max_size=8).map(build)


def images_for(targets, seed=0):
    return np.random.default_rng(seed).random((len(targets), 1, 6, 5), dtype=np.float32)


@pytest.mark.parametrize("kind", ["localization", "landmarks"])
@given(data=st.data())
def test_flipping_twice_gives_back_the_input_exactly_on_the_pixel_grid(kind, data):
    targets = data.draw(lecture_targets(pixel_fractions, kind))
    images = images_for(targets)
    twice_images, twice_targets = horizontal_flip(*horizontal_flip(images, targets, kind), kind)
    np.testing.assert_array_equal(twice_images, images)
    np.testing.assert_array_equal(twice_targets, targets)


@pytest.mark.parametrize("kind", ["localization", "landmarks"])
@given(data=st.data())
def test_flipping_twice_gives_back_any_target_up_to_rounding(kind, data):
    targets = data.draw(lecture_targets(unit_floats, kind))
    images = images_for(targets)
    twice_images, twice_targets = horizontal_flip(*horizontal_flip(images, targets, kind), kind)
    np.testing.assert_array_equal(twice_images, images)
    np.testing.assert_allclose(twice_targets, targets, rtol=0, atol=6e-8)


@given(lecture_targets(unit_floats, "localization"))
def test_a_flip_mirrors_the_image_and_b_x_and_keeps_empty_rows(targets):
    images = images_for(targets)
    flipped_images, flipped_targets = horizontal_flip(images, targets, "localization")
    np.testing.assert_array_equal(flipped_images, images[..., ::-1])
    present = targets[:, 0] == 1
    np.testing.assert_allclose(flipped_targets[present, 1], 1 - targets[present, 1], atol=6e-8)
    all_but_b_x = [0, 2, 3, 4, 5, 6, 7]
    np.testing.assert_array_equal(flipped_targets[:, all_but_b_x], targets[:, all_but_b_x])
    np.testing.assert_array_equal(flipped_targets[~present], 0.0)


@given(lecture_targets(unit_floats, "landmarks"))
def test_a_flip_mirrors_landmark_xs_and_swaps_the_mouth_corners(targets):
    images = images_for(targets)
    _, flipped = horizontal_flip(images, targets, "landmarks")
    faces = targets[:, 0] == 1
    is_face, x_left, y_left, x_right, y_right, x_chin, y_chin = targets[faces].T
    expected = np.stack(
        [is_face, 1 - x_right, y_right, 1 - x_left, y_left, 1 - x_chin, y_chin], axis=1
    )
    np.testing.assert_allclose(flipped[faces], expected, atol=6e-8)
    np.testing.assert_array_equal(flipped[~faces], 0.0)


def test_a_flipped_scene_has_the_flipped_box_of_its_object():
    images, targets = localization_dataset(60, image_size=64, seed=2, clutter=False)
    flipped_images, flipped_targets = horizontal_flip(images, targets, "localization")
    present = flipped_targets[:, 0] == 1
    # On plain backgrounds the object is every pixel that differs from the top-left corner's
    # tone, in scenes whose object keeps off that corner.
    backgrounds = flipped_images[:, 0, 0, :1]
    object_pixels = flipped_images[:, 0] != backgrounds[:, :, None]
    b_x, b_y, b_h, b_w = flipped_targets[:, 1:5].T * 64
    boxes = np.stack([b_x - b_w / 2, b_y - b_h / 2, b_x + b_w / 2, b_y + b_h / 2], axis=1)
    clear_corner = present & ~object_pixels[:, 0, 0] & (boxes[:, 0] > 0) & (boxes[:, 1] > 0)
    assert clear_corner.sum() > 20
    np.testing.assert_allclose(
        tight_boxes(object_pixels[clear_corner]), boxes[clear_corner], atol=1e-3
    )


def test_flipped_faces_keep_the_left_corner_on_the_images_left():
    images, targets = landmark_dataset(40, image_size=32, seed=1)
    _, flipped = horizontal_flip(images, targets, "landmarks")
    faces = flipped[:, 0] == 1
    assert np.all(flipped[faces, 1] < flipped[faces, 3])


def test_a_flip_leaves_its_inputs_alone():
    images, targets = localization_dataset(8, image_size=32, seed=0)
    images_before, targets_before = images.copy(), targets.copy()
    horizontal_flip(images, targets, "localization")
    np.testing.assert_array_equal(images, images_before)
    np.testing.assert_array_equal(targets, targets_before)


pixel_batches = arrays(np.float32, (3, 1, 4, 4), elements=unit_floats)


@given(pixel_batches, st.floats(-1.0, 1.0))
def test_brightness_shifts_pixels_and_clips_to_the_unit_range(images, delta):
    brighter = adjust_brightness(images, delta)
    assert brighter.dtype == images.dtype and brighter.shape == images.shape
    assert brighter.min() >= 0.0 and brighter.max() <= 1.0
    np.testing.assert_allclose(brighter, np.clip(images + np.float32(delta), 0, 1), atol=1e-6)


@given(pixel_batches, st.floats(0.0, 2.0))
def test_contrast_scales_around_each_images_mean_and_clips(images, factor):
    stretched = adjust_contrast(images, factor)
    assert stretched.dtype == images.dtype
    assert stretched.min() >= 0.0 and stretched.max() <= 1.0
    means = images.mean(axis=(1, 2, 3), keepdims=True)
    expected = np.clip(means + factor * (images - means), 0, 1)
    np.testing.assert_allclose(stretched, expected, atol=1e-5)


def test_contrast_one_and_brightness_zero_change_nothing():
    images = images_for(np.zeros(4))
    np.testing.assert_array_equal(adjust_brightness(images, 0.0), images)
    np.testing.assert_allclose(adjust_contrast(images, 1.0), images, atol=1e-6)


def test_per_image_amounts_apply_to_their_own_image():
    images = np.full((2, 1, 3, 3), 0.5, dtype=np.float32)
    shifted = adjust_brightness(images, np.array([0.1, -0.2]))
    np.testing.assert_allclose(shifted[0], 0.6)
    np.testing.assert_allclose(shifted[1], 0.3)


@given(pixel_batches, st.floats(0.0, 0.5), st.integers(0, 2**32 - 1))
def test_noise_keeps_range_dtype_and_is_repeatable(images, sigma, seed):
    noisy = add_noise(images, sigma, np.random.default_rng(seed))
    assert noisy.dtype == images.dtype and noisy.min() >= 0.0 and noisy.max() <= 1.0
    np.testing.assert_array_equal(noisy, add_noise(images, sigma, np.random.default_rng(seed)))


def test_noise_changes_pixels_and_zero_noise_does_not():
    images = np.full((4, 1, 8, 8), 0.5, dtype=np.float32)
    rng = np.random.default_rng(0)
    assert np.count_nonzero(add_noise(images, 0.05, rng) != images) > images.size // 2
    np.testing.assert_array_equal(add_noise(images, 0.0, rng), images)


@pytest.mark.parametrize("kind", ["localization", "landmarks"])
def test_random_augment_flips_some_rows_and_leaves_the_other_targets_alone(kind):
    if kind == "localization":
        images, targets = localization_dataset(64, image_size=32, seed=4)
    else:
        images, targets = landmark_dataset(64, image_size=32, seed=4)
    rng = np.random.default_rng(0)
    augmented_images, augmented_targets = random_augment(images, targets, rng, kind)
    assert augmented_images.dtype == images.dtype and augmented_images.shape == images.shape
    assert augmented_images.min() >= 0.0 and augmented_images.max() <= 1.0
    _, flipped_targets = horizontal_flip(images, targets, kind)
    kept = (augmented_targets == targets).all(axis=1)
    flipped = (augmented_targets == flipped_targets).all(axis=1)
    assert np.all(kept | flipped)
    moved = (targets != flipped_targets).any(axis=1)
    assert (flipped & moved).any() and (kept & moved).any()


def test_random_augment_with_certain_flip_flips_every_row():
    images, targets = localization_dataset(16, image_size=32, seed=5)
    _, flipped_targets = horizontal_flip(images, targets, "localization")
    rng = np.random.default_rng(1)
    _, augmented = random_augment(images, targets, rng, flip_probability=1.0)
    np.testing.assert_array_equal(augmented, flipped_targets)


def test_random_augment_takes_the_arguments_fit_gives_its_augment():
    images, targets = landmark_dataset(8, image_size=32, seed=6)
    augment_faces = partial(random_augment, kind="landmarks", flip_probability=1.0)
    _, augmented = augment_faces(images, targets, np.random.default_rng(2))
    np.testing.assert_array_equal(augmented, horizontal_flip(images, targets, "landmarks")[1])


BATCH = np.zeros((2, 1, 4, 4), dtype=np.float32)
BOXES = np.zeros((2, 8), dtype=np.float32)


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: horizontal_flip(BATCH[:, 0], BOXES), ValueError, "images"),
        (lambda: horizontal_flip(BATCH, BOXES[:1]), ValueError, "targets"),
        (lambda: horizontal_flip(BATCH, BOXES, "landmarks"), ValueError, "targets"),
        (lambda: horizontal_flip(BATCH, BOXES, "boxes"), ValueError, "kind"),
        (lambda: horizontal_flip(BATCH.tolist(), BOXES), TypeError, "images"),
        # float32 or float64 only, as every layer takes (float16 used to be augmented)
        (lambda: adjust_brightness(BATCH.astype(np.float16), 0.1), TypeError, "images"),
        (lambda: horizontal_flip(BATCH, BOXES.astype(np.float16)), TypeError, "targets"),
        (lambda: adjust_brightness(BATCH, np.zeros(3)), ValueError, "delta"),
        (lambda: adjust_contrast(BATCH, -1.0), ValueError, "factor"),
        (lambda: adjust_contrast(BATCH, "high"), TypeError, "factor"),
        (lambda: add_noise(BATCH, 0.1, 0), TypeError, "rng"),
        (lambda: add_noise(BATCH, -0.1, np.random.default_rng()), ValueError, "sigma"),
        (lambda: random_augment(BATCH, BOXES, None), TypeError, "rng"),
        (lambda: adjust_brightness(BATCH, [0.1, "x"]), TypeError, "delta"),
        (lambda: adjust_brightness(BATCH, [[0.1], [0.2, 0.3]]), TypeError, "delta"),
        (lambda: adjust_brightness(BATCH, True), TypeError, "delta"),
        (lambda: adjust_brightness(BATCH, np.zeros((2, 1))), ValueError, "delta"),
        (lambda: adjust_contrast(BATCH, [1.0, -0.5]), ValueError, "factor"),
        (lambda: add_noise(BATCH, "0.1", np.random.default_rng()), TypeError, "sigma"),
    ],
)
def test_bad_arguments_are_refused_by_name(call, error, name):
    with pytest.raises(error, match=name):
        call()


@pytest.mark.parametrize("kind", [None, True, 1, ["landmarks"], object()])
@pytest.mark.parametrize(
    "augment", [horizontal_flip, partial(random_augment, rng=np.random.default_rng(0))]
)
def test_a_kind_that_is_no_string_is_a_type_error_naming_it(augment, kind):
    with pytest.raises(TypeError, match=r"^kind must be one of \('localization', 'landmarks'\)"):
        augment(BATCH, BOXES, kind=kind)


RNG = np.random.default_rng(0)
not_finite = st.sampled_from([np.nan, np.inf, -np.inf])


@given(not_finite, st.booleans())
def test_a_nan_or_infinite_amount_is_refused_not_turned_into_an_image_of_nan(value, per_image):
    amount = np.array([0.5, value]) if per_image else value
    for call, name in [
        (lambda: adjust_brightness(BATCH, amount), "delta"),
        (lambda: adjust_contrast(BATCH, amount), "factor"),
        (lambda: add_noise(BATCH, amount, RNG), "sigma"),
    ]:
        with pytest.raises(ValueError, match=f"{name} must"):
            call()


SETTINGS = ["flip_probability", "max_brightness", "max_contrast", "max_noise"]


@given(
    st.sampled_from(SETTINGS),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0 <= v <= 1),
        st.integers().filter(lambda v: not 0 <= v <= 1),
    ),
)
def test_random_augment_refuses_a_setting_outside_0_to_1_by_name(setting, value):
    before = RNG.bit_generator.state
    with pytest.raises(ValueError, match=rf"{setting} must be a number in \[0, 1\], got"):
        random_augment(BATCH, BOXES, RNG, **{setting: value})
    assert RNG.bit_generator.state == before  # refused before anything was drawn


@given(
    st.sampled_from(SETTINGS),
    st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.just([0.5]), st.just(1j)),
)
def test_random_augment_refuses_a_setting_that_is_not_a_number_by_name(setting, value):
    with pytest.raises(TypeError, match=f"{setting} must be a real number"):
        random_augment(BATCH, BOXES, RNG, **{setting: value})


def test_the_range_ends_are_accepted_and_the_draws_are_unchanged():
    images, targets = localization_dataset(4, image_size=16, seed=0)
    for settings in (
        {},
        {"flip_probability": 1, "max_brightness": 1, "max_contrast": 1, "max_noise": 1},
        {"flip_probability": 0, "max_brightness": 0, "max_contrast": 0, "max_noise": 0},
    ):
        rng, twin = np.random.default_rng(9), np.random.default_rng(9)
        augmented, _ = random_augment(images, targets, rng, **settings)
        # what random_augment drew before its settings were checked, step by step
        defaults = {"flip_probability": 0.5, "max_brightness": 0.1, "max_contrast": 0.2}
        defaults = {**defaults, "max_noise": 0.03, **settings}
        flip = twin.random(4) < defaults["flip_probability"]
        expected, _ = images.copy(), targets.copy()
        expected[flip] = images[flip][..., ::-1]
        if defaults["max_brightness"]:
            brightness = defaults["max_brightness"]
            expected = adjust_brightness(expected, twin.uniform(-brightness, brightness, size=4))
        if defaults["max_contrast"]:
            contrast = defaults["max_contrast"]
            expected = adjust_contrast(expected, twin.uniform(1 - contrast, 1 + contrast, size=4))
        if defaults["max_noise"]:
            expected = add_noise(expected, twin.uniform(0.0, defaults["max_noise"], size=4), twin)
        np.testing.assert_array_equal(augmented, expected)


FACES = landmark_dataset(6, image_size=32, seed=1, no_face_fraction=0.3)


@pytest.mark.parametrize(
    "call",
    [
        lambda images, targets: horizontal_flip(images, targets),
        lambda images, targets: random_augment(images, targets, np.random.default_rng(0)),
        lambda images, targets: random_augment(
            images, targets, np.random.default_rng(0), flip_probability=0.0
        ),
    ],
    ids=["horizontal_flip", "random_augment", "random_augment without flips"],
)
def test_landmark_targets_under_the_default_kind_are_refused_not_corrupted(call):
    # Both are 7 wide with K = 2: read as [p_c, b_x, ...], only x_1 would be mirrored.
    images, targets = FACES
    with pytest.raises(ValueError, match=r'^targets\[:, 5:\] .*one-hot.*pass kind="landmarks"'):
        call(images, targets)
    _, flipped = horizontal_flip(images, targets, kind="landmarks")
    face = targets[:, 0] == 1
    np.testing.assert_allclose(flipped[face, 1], 1 - targets[face, 3], atol=6e-8)


@pytest.mark.parametrize(
    "targets, kind, message",
    [
        (
            np.array([[0.5, 0.5, 0.5, 0.2, 0.2, 1, 0, 0]]),
            "localization",
            r"targets\[:, 0\] \(p_c\)",
        ),
        (np.array([[1, 0.5, 0.5, 0.0, 0.2, 1, 0, 0]]), "localization", r"targets\[:, 1:5\]"),
        (np.array([[1, 0.5, 0.5, 0.2, 0.2, 0.5, 0.5, 0]]), "localization", r"targets\[:, 5:\]"),
        (np.array([[1, 0.5, 0.5, 1.5, 0.2, 0.5, 0.5]]), "landmarks", r"targets\[:, 1:\]"),
        (
            np.array([[2, 0.5, 0.5, 0.5, 0.2, 0.5, 0.5]]),
            "landmarks",
            r"targets\[:, 0\] \(is_face\)",
        ),
    ],
)
def test_targets_outside_their_kind_s_format_are_refused_by_name(targets, kind, message):
    images = images_for(targets)
    for call in (
        lambda: horizontal_flip(images, targets, kind),
        lambda: random_augment(images, targets, np.random.default_rng(0), kind),
    ):
        with pytest.raises(ValueError, match=f"^{message}"):
            call()


def test_an_empty_batch_of_images_blames_the_mismatch_not_the_targets():
    images, targets = localization_dataset(4, image_size=32, seed=1)
    with pytest.raises(ValueError, match=r"^images and targets must hold one target per image, "):
        horizontal_flip(images[:0], targets)
    with pytest.raises(ValueError, match=r"got 4 images and 2 targets"):
        random_augment(images, targets[:2], np.random.default_rng(0))
    empty_images, empty_targets = horizontal_flip(images[:0], targets[:0])
    assert empty_images.shape == (0, 1, 32, 32) and empty_targets.shape == (0, 8)


@pytest.mark.parametrize("value", [1.5, 10**9, 2**63, 1e300, np.array([0.5, 2.5])])
def test_amounts_are_bounded_as_random_augment_bounds_its_maxima(value):
    # beyond them no picture is left: all white, all black, or noise
    with pytest.raises(ValueError, match=r"^delta must .* in \[-1, 1\]"):
        adjust_brightness(BATCH, value)
    with pytest.raises(ValueError, match=r"^delta must .* in \[-1, 1\]"):
        adjust_brightness(BATCH, -value)
    with pytest.raises(ValueError, match=r"^sigma must .* in \[0, 1\]"):
        add_noise(BATCH, value, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^factor must .* in \[0, 2\]"):
        adjust_contrast(BATCH, value * 2)
