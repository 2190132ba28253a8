"""Crops for the sliding-window classifier, and the wide scene of lesson 7."""

import numpy as np
import pytest

import tinycnn as tc
from tinycnn.data.crops import (
    CROP_JITTER,
    MIN_OFFSET,
    OBJECT_FILL,
    _off_centre_windows,
    crop_dataset,
    sliding_window_scene,
)
from tinycnn.targets import BOX, CLASSES, P_C


def test_crops_are_lecture_vectors_half_of_them_background():
    images, y = crop_dataset(60, crop_size=32, seed=0)
    assert images.shape == (60, 1, 32, 32) and images.dtype == np.float32
    assert y.shape == (60, 8) and y.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    has_object = y[:, P_C] == 1
    assert has_object.sum() == 30
    assert np.all(y[~has_object] == 0)
    assert np.all(y[has_object][:, CLASSES].sum(axis=1) == 1)
    assert np.bincount(y[has_object][:, CLASSES].argmax(axis=1), minlength=3).tolist() == [10] * 3


def test_objects_are_closely_cropped_and_centred():
    _, y = crop_dataset(200, crop_size=32, seed=1)
    boxes = y[y[:, P_C] == 1][:, BOX]
    long_sides = np.maximum(boxes[:, 2], boxes[:, 3])
    # The drawn silhouette's tight box can be a pixel or two short of the sampled size.
    assert long_sides.min() >= OBJECT_FILL[0] - 2 / 32 and long_sides.max() <= 1
    assert np.abs(boxes[:, :2] - 0.5).max() <= CROP_JITTER + 2 / 32


def test_background_windows_are_centred_on_no_object():
    rng = np.random.default_rng(0)
    boxes = np.array([[[4, 4, 28, 28], [36, 36, 60, 60]]] * 50, dtype=np.float32)  # centres 16, 48
    corners = _off_centre_windows(rng, boxes, 64, 32)
    assert corners.shape == (50, 2) and np.all(corners >= 0)
    centres = corners + 16
    for centre in (16, 48):
        assert np.all(np.abs(centres - centre).max(axis=1) >= MIN_OFFSET * 32)
    # In a scene barely larger than the crop, every window is centred near the middle object.
    middle = np.array([[[8, 8, 32, 32]]] * 3, dtype=np.float32)
    assert np.all(_off_centre_windows(rng, middle, 40, 32) == -1)


def test_same_seed_same_crops_other_seed_other_crops():
    first, second = crop_dataset(20, seed=5), crop_dataset(20, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[0], crop_dataset(20, seed=6)[0])


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n": -1}, ValueError),
        ({"n": 2.0}, TypeError),
        ({"n": 2, "crop_size": 8}, ValueError),
        ({"n": 2, "crop_size": "32"}, TypeError),
        ({"n": 2, "seed": "0"}, TypeError),
        ({"n": 2, "seed": 1.5}, TypeError),
        ({"n": 2, "seed": -1}, ValueError),
        ({"n": 2, "seed": None}, TypeError),
    ],
)
def test_bad_arguments_name_themselves(kwargs, error):
    name = [key for key in kwargs if key != "n"][-1] if len(kwargs) > 1 else "n"
    with pytest.raises(error, match=name):
        crop_dataset(**kwargs)


def test_the_scene_holds_its_objects_apart_and_their_boxes_fit():
    image, truth = sliding_window_scene(height=96, width=160, crop_size=32, seed=3)
    assert image.shape == (1, 1, 96, 160) and image.dtype == np.float32
    boxes, labels = truth["boxes"], truth["labels"]
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 2]
    corners = tc.boxes.center_to_corners(boxes)
    assert (
        corners.min() >= 0 and np.all(corners[:, [0, 2]] <= 1) and np.all(corners[:, [1, 3]] <= 1)
    )
    assert np.all(tc.boxes.iou_matrix(boxes, boxes)[~np.eye(5, dtype=bool)] == 0)
    # The boxes are tight: the pixels just outside a box are background, the box's edges are not
    # all background. Checked on the object's own tone: the box rows hold pixels that differ from
    # the rows just outside by much more than the noise.
    pixels = np.round(corners * [160, 96, 160, 96]).astype(int)
    for x_min, y_min, x_max, y_max in pixels:
        inside = image[0, 0, y_min:y_max, x_min:x_max]
        assert inside.std() > 0.1
    assert np.array_equal(image, sliding_window_scene(seed=3)[0])


def test_a_scene_too_small_is_refused():
    with pytest.raises(ValueError, match="width"):
        sliding_window_scene(height=96, width=64, crop_size=32)


def test_seed_3_still_draws_the_crops_and_the_scene_it_always_drew():
    # Lesson 7's held-out numbers rest on these draws: checking the seed changed none of them.
    images, targets = crop_dataset(4, seed=3)
    boxes_in_64ths = [[35, 28, 32, 46], [32, 33, 46, 24], [0, 0, 0, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(targets[:, BOX] * 64, boxes_in_64ths)
    np.testing.assert_array_equal(targets[:, P_C], [1, 1, 0, 0])
    means = [0.467339, 0.537989, 0.6256, 0.41714]
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), means, atol=2e-6)
    image, truth = sliding_window_scene(seed=3)
    # boxes in units of half a pixel: centres x 2 * width and y 2 * height, sizes in pixels
    expected = [[254, 86, 24, 12], [133, 93, 15, 27], [79, 48, 18, 25], [291, 112, 28, 17]]
    expected += [[169, 147, 33, 61]]
    scale = np.array([2 * 160, 2 * 96, 96, 160])
    np.testing.assert_allclose(truth["boxes"] * scale, expected, atol=1e-4)
    np.testing.assert_array_equal(truth["labels"], [0, 1, 2, 0, 1])
    np.testing.assert_allclose(image.mean(), 0.32915542, atol=2e-6)
