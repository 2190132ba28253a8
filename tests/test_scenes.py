"""Localization scenes: shapes, determinism, balanced classes, and boxes that are exactly tight."""

import numpy as np
import pytest

from tinycnn.data.draw import pixel_grid, tight_boxes
from tinycnn.data.scenes import (
    CLASS_NAMES,
    LONG_SIDE,
    MAX_HIDDEN,
    OBJECT_KINDS,
    localization_dataset,
)

SIZE = 64


@pytest.fixture(scope="module")
def scenes():
    return localization_dataset(400, image_size=SIZE, seed=7)


@pytest.fixture(scope="module")
def plain_scenes():
    return localization_dataset(300, image_size=SIZE, seed=8, clutter=False)


def corner_boxes(targets):
    """Lecture targets (N, 8) -> corner boxes (N, 4) in pixels."""
    b_x, b_y, b_h, b_w = targets[:, 1:5].T * SIZE
    return np.stack([b_x - b_w / 2, b_y - b_h / 2, b_x + b_w / 2, b_y + b_h / 2], axis=1)


def test_images_and_targets_have_the_lecture_shapes_and_ranges(scenes):
    images, targets = scenes
    assert images.shape == (400, 1, SIZE, SIZE) and images.dtype == np.float32
    assert targets.shape == (400, 5 + len(CLASS_NAMES)) and targets.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert targets.min() >= 0.0 and targets.max() <= 1.0


def test_the_same_seed_repeats_and_another_seed_differs(scenes):
    images, targets = scenes
    again_images, again_targets = localization_dataset(400, image_size=SIZE, seed=7)
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(targets, again_targets)
    other_images, other_targets = localization_dataset(400, image_size=SIZE, seed=9)
    assert not np.array_equal(images, other_images)
    assert not np.array_equal(targets, other_targets)


def test_classes_are_one_hot_and_balanced_with_the_asked_share_of_empty_images(scenes):
    _, targets = scenes
    present = targets[:, 0] == 1
    assert np.all((targets[:, 0] == 0) | present)
    assert np.count_nonzero(~present) == round(400 * 0.25)
    np.testing.assert_array_equal(targets[~present], 0.0)
    classes = targets[present, 5:]
    np.testing.assert_array_equal(classes.sum(axis=1), 1.0)
    assert set(np.unique(classes)) == {0.0, 1.0}
    counts = classes.sum(axis=0)
    assert counts.max() - counts.min() <= 1


def test_no_object_fraction_sets_the_share_of_empty_images():
    _, targets = localization_dataset(30, image_size=32, no_object_fraction=0.5)
    assert np.count_nonzero(targets[:, 0] == 0) == 15
    _, targets = localization_dataset(30, image_size=32, no_object_fraction=0.0)
    assert np.all(targets[:, 0] == 1)


def test_box_edges_lie_on_pixel_boundaries_inside_the_image(scenes):
    _, targets = scenes
    boxes = corner_boxes(targets[targets[:, 0] == 1])
    np.testing.assert_allclose(boxes, np.round(boxes), atol=1e-3)
    assert boxes.min() >= 0 and boxes.max() <= SIZE
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])


def test_the_box_is_the_tight_box_of_the_pixels_that_differ_from_a_plain_background(plain_scenes):
    images, targets = plain_scenes
    present = targets[:, 0] == 1
    backgrounds = images[:, 0, 0, 0].copy()
    # A corner may belong to a cut-off object: take the most common tone as the background's.
    for index, image in enumerate(images[:, 0]):
        tones, counts = np.unique(image, return_counts=True)
        backgrounds[index] = tones[counts.argmax()]
    object_pixels = images[:, 0] != backgrounds[:, None, None]
    assert not object_pixels[~present].any()
    np.testing.assert_allclose(
        corner_boxes(targets[present]), tight_boxes(object_pixels[present]), atol=1e-3
    )


def test_objects_are_large_and_a_minority_is_cut_by_the_border(scenes):
    _, targets = scenes
    present = targets[:, 0] == 1
    long_sides = targets[present, 3:5].max(axis=1)
    assert long_sides.min() >= LONG_SIDE[0] * (1 - MAX_HIDDEN) - 0.02
    assert long_sides.max() <= LONG_SIDE[1] + 0.02
    boxes = corner_boxes(targets[present])
    touching = (boxes[:, :2] == 0).any(axis=1) | (boxes[:, 2:] == SIZE).any(axis=1)
    assert 0 < np.count_nonzero(touching) < 0.3 * len(boxes)


def test_uncut_pedestrians_are_tall_and_uncut_cars_are_wide(scenes):
    _, targets = scenes
    boxes = corner_boxes(targets)
    uncut = (boxes[:, :2] > 0).all(axis=1) & (boxes[:, 2:] < SIZE).all(axis=1)
    inside = (targets[:, 0] == 1) & uncut
    b_h, b_w = targets[:, 3], targets[:, 4]
    pedestrians, cars = inside & (targets[:, 5] == 1), inside & (targets[:, 6] == 1)
    assert pedestrians.any() and cars.any()
    assert np.all(b_h[pedestrians] > 1.4 * b_w[pedestrians])
    assert np.all(b_w[cars] > 1.4 * b_h[cars])


@pytest.mark.parametrize("class_index", range(len(CLASS_NAMES)))
def test_each_drawn_object_fills_its_box_and_keeps_its_details_inside(class_index):
    sample_shapes, draw_objects = OBJECT_KINDS[class_index]
    rng = np.random.default_rng(class_index)
    xs, ys = pixel_grid(SIZE)
    shapes = sample_shapes(rng, 50, rng.uniform(20, 48, size=50))
    left, top = np.full(50, 4.0), np.full(50, 6.0)
    silhouettes, details = draw_objects(xs, ys, left[:, None, None], top[:, None, None], shapes)
    assert not (details & ~silhouettes).any()
    expected = np.stack([left, top, left + shapes["width"], top + shapes["height"]], axis=1)
    # The drawing fills its box up to the pixel grid: every edge within a pixel.
    np.testing.assert_allclose(tight_boxes(silhouettes), expected, atol=1.0)


def test_other_image_sizes_work():
    images, targets = localization_dataset(12, image_size=32, seed=1)
    assert images.shape == (12, 1, 32, 32)
    boxes = targets[targets[:, 0] == 1, 1:5] * 32
    assert np.all(boxes[:, 2:] >= 4)


def test_zero_images_give_empty_arrays():
    images, targets = localization_dataset(0)
    assert images.shape == (0, 1, 64, 64) and targets.shape == (0, 8)


@pytest.mark.parametrize(
    ("arguments", "error", "name"),
    [
        ({"n": -1}, ValueError, "n"),
        ({"n": 2.5}, TypeError, "n"),
        ({"n": True}, TypeError, "n"),
        ({"n": 4, "image_size": 8}, ValueError, "image_size"),
        ({"n": 4, "no_object_fraction": 1.5}, ValueError, "no_object_fraction"),
        ({"n": 4, "no_object_fraction": "some"}, TypeError, "no_object_fraction"),
        ({"n": 4, "clutter": "yes"}, TypeError, "clutter"),
        ({"n": 4, "seed": -1}, ValueError, "seed"),
        ({"n": 4, "seed": 1.5}, TypeError, "seed"),
        ({"n": 4, "seed": "a"}, TypeError, "seed"),
        ({"n": 4, "seed": None}, TypeError, "seed"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments, error, name):
    with pytest.raises(error, match=name):
        localization_dataset(**arguments)


def test_seed_3_still_draws_the_scenes_it_always_drew():
    # The lessons' held-out numbers rest on these draws: checking the seed changed none of them.
    images, targets = localization_dataset(6, seed=3)
    boxes_in_128ths = [[27, 98, 60, 38], [85, 65, 98, 50], [86, 38, 76, 80], [0, 0, 0, 0]]
    boxes_in_128ths += [[54, 54, 48, 76], [0, 0, 0, 0]]
    np.testing.assert_array_equal(targets[:, 1:5] * 128, boxes_in_128ths)
    np.testing.assert_array_equal(targets[:, 0], [1, 1, 1, 0, 1, 0])
    np.testing.assert_array_equal(targets[:, 5:].argmax(axis=1), [0, 0, 2, 0, 1, 0])
    means = [0.578222, 0.358963, 0.393986, 0.489591, 0.388885, 0.619496]
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), means, atol=2e-6)
