"""Landmark faces: shapes, determinism, and landmarks that sit where the drawing puts them."""

import numpy as np
import pytest

from tinycnn.data.draw import pixel_grid, tight_boxes, to_frame
from tinycnn.data.faces import (
    HEAD_HEIGHT,
    MAX_TILT,
    _draw_faces,
    _face_box_sizes,
    _face_landmarks,
    _face_shapes,
    landmark_dataset,
)

SIZE = 64


@pytest.fixture(scope="module")
def portraits():
    return landmark_dataset(300, image_size=SIZE, seed=3, return_face_sizes=True)


@pytest.fixture(scope="module")
def drawn_faces():
    """Faces drawn from known shapes: (shapes, heads, hair, features, landmarks in pixels)."""
    shapes = _face_shapes(np.random.default_rng(5), 60, SIZE)
    xs, ys = pixel_grid(SIZE)
    return (shapes, *_draw_faces(xs, ys, shapes), _face_landmarks(shapes))


def test_images_targets_and_face_sizes_have_the_promised_shapes_and_ranges(portraits):
    images, targets, face_sizes = portraits
    assert images.shape == (300, 1, SIZE, SIZE) and images.dtype == np.float32
    assert targets.shape == (300, 7) and targets.dtype == np.float32
    assert face_sizes.shape == (300,) and face_sizes.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert targets.min() >= 0.0 and targets.max() <= 1.0


def test_without_face_sizes_only_images_and_targets_come_back():
    returned = landmark_dataset(5, image_size=32)
    assert len(returned) == 2


def test_the_same_seed_repeats_and_another_seed_differs(portraits):
    images, targets, face_sizes = portraits
    again = landmark_dataset(300, image_size=SIZE, seed=3, return_face_sizes=True)
    for first, second in zip(portraits, again, strict=True):
        np.testing.assert_array_equal(first, second)
    other_images, other_targets = landmark_dataset(300, image_size=SIZE, seed=4)
    assert not np.array_equal(images, other_images)
    assert not np.array_equal(targets, other_targets)


def test_the_asked_share_of_images_has_no_face_and_all_zero_targets(portraits):
    _, targets, face_sizes = portraits
    is_face = targets[:, 0] == 1
    assert np.all((targets[:, 0] == 0) | is_face)
    assert np.count_nonzero(~is_face) == round(300 * 0.25)
    np.testing.assert_array_equal(targets[~is_face], 0.0)
    np.testing.assert_array_equal(face_sizes[~is_face], 0.0)
    _, targets = landmark_dataset(20, image_size=32, no_face_fraction=0.6)
    assert np.count_nonzero(targets[:, 0] == 0) == 12


def test_faces_fill_a_large_part_of_the_image(portraits):
    _, targets, face_sizes = portraits
    sizes = face_sizes[targets[:, 0] == 1]
    # sqrt(width * height) of the head's box: narrower than tall, so below the height.
    assert sizes.min() >= 0.6 * HEAD_HEIGHT[0] and sizes.max() <= HEAD_HEIGHT[1] + 0.05


def test_the_left_mouth_corner_is_on_the_images_left_and_the_chin_below_the_mouth(portraits):
    _, targets, _ = portraits
    faces = targets[targets[:, 0] == 1]
    x_left, y_left, x_right, y_right, x_chin, y_chin = faces[:, 1:].T
    assert np.all(x_left < x_right)
    assert np.all(y_chin > np.maximum(y_left, y_right))
    assert np.all((x_chin > x_left - 0.2) & (x_chin < x_right + 0.2))


def test_mouth_corners_lie_inside_the_head_at_the_ends_of_the_drawn_mouth(drawn_faces):
    _, heads, _, features, landmarks = drawn_faces
    rows, columns = np.indices((SIZE, SIZE)) + 0.5
    for index, corners in enumerate(landmarks[:, :4].reshape(-1, 2, 2)):
        for corner_x, corner_y in corners:
            assert heads[index, int(corner_y), int(corner_x)]
            distances = np.hypot(columns - corner_x, rows - corner_y)
            # Each corner is the centre of a round end of the mouth: a feature pixel next to it.
            assert distances[features[index]].min() <= 0.75


def test_the_chin_is_the_heads_lowest_point_along_its_tilted_axis(drawn_faces):
    shapes, heads, _, _, landmarks = drawn_faces
    rows, columns = np.indices((SIZE, SIZE)) + 0.5
    for index in range(len(heads)):
        centre_x, centre_y = shapes["centre_x"][index], shapes["centre_y"][index]
        tilt, head_ry = shapes["tilt"][index], shapes["head_ry"][index]
        chin_x, chin_y = landmarks[index, 4:]
        chin_u, chin_v = to_frame(chin_x - centre_x, chin_y - centre_y, tilt)
        np.testing.assert_allclose((chin_u, chin_v), (0.0, head_ry), atol=1e-3)
        _, down_the_face = to_frame(columns - centre_x, rows - centre_y, tilt)
        assert down_the_face[heads[index]].max() <= head_ry
        assert np.hypot(columns - chin_x, rows - chin_y)[heads[index]].min() <= 1.5


def test_faces_stay_inside_the_image_tilted_at_most_max_tilt(drawn_faces):
    shapes, heads, hair, features, _ = drawn_faces
    assert np.abs(shapes["tilt"]).max() <= MAX_TILT
    assert not (hair & ~heads).any()
    boxes = tight_boxes(heads)
    assert boxes[:, :2].min() >= 0 and boxes[:, 2:].max() <= SIZE


def test_face_sizes_match_the_drawn_heads_box(drawn_faces):
    shapes, heads, _, _, _ = drawn_faces
    width, height = _face_box_sizes(shapes)
    boxes = tight_boxes(heads)
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], width, atol=1.5)
    np.testing.assert_allclose(boxes[:, 3] - boxes[:, 1], height, atol=1.5)


@pytest.mark.parametrize(
    ("arguments", "error", "name"),
    [
        ({"n": -2}, ValueError, "n"),
        ({"n": "ten"}, TypeError, "n"),
        ({"n": 4, "image_size": 4}, ValueError, "image_size"),
        ({"n": 4, "no_face_fraction": -0.1}, ValueError, "no_face_fraction"),
        ({"n": 4, "return_face_sizes": 1}, TypeError, "return_face_sizes"),
        ({"n": 4, "seed": -1}, ValueError, "seed"),
        ({"n": 4, "seed": 1.5}, TypeError, "seed"),
        ({"n": 4, "seed": "a"}, TypeError, "seed"),
        ({"n": 4, "seed": None}, TypeError, "seed"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments, error, name):
    with pytest.raises(error, match=name):
        landmark_dataset(**arguments)


def test_seed_3_still_draws_the_portraits_it_always_drew():
    # The lessons' held-out numbers rest on these draws: checking the seed changed none of them.
    images, targets = landmark_dataset(4, seed=3)
    expected = [
        [1.0, 0.64688, 0.78205, 0.77678, 0.7739, 0.72021, 0.91173],
        [1.0, 0.48633, 0.52558, 0.69608, 0.57125, 0.55672, 0.70678],
        [1.0, 0.58757, 0.61703, 0.80037, 0.60509, 0.7008, 0.7329],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
    np.testing.assert_allclose(targets, expected, atol=6e-6)
    means = [0.598982, 0.470844, 0.352664, 0.571218]
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), means, atol=2e-6)
