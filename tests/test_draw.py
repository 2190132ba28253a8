"""Shapes as masks: where pixels land, tight boxes, and drawing many images at once."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.data.draw import (
    disk,
    ellipse,
    from_frame,
    paint,
    per_image,
    pixel_grid,
    rectangle,
    ring,
    segment,
    tight_boxes,
    to_frame,
    trapezoid,
    turned_rectangle,
)

SIZE = 32
coordinates = st.floats(0.0, SIZE, allow_nan=False)


def test_pixel_grid_holds_pixel_centres():
    xs, ys = pixel_grid(5)
    assert xs.shape == (1, 1, 5) and ys.shape == (1, 5, 1)
    assert xs.dtype == np.float32
    np.testing.assert_array_equal(xs.ravel(), [0.5, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_array_equal(ys.ravel(), xs.ravel())


pixel_indices = st.integers(0, SIZE - 1)
two_pixels = st.tuples(pixel_indices, pixel_indices, pixel_indices, pixel_indices)


@given(st.lists(two_pixels, min_size=1, max_size=5))
def test_tight_boxes_run_along_the_pixel_boundaries_of_the_mask(corners):
    masks = np.zeros((len(corners), SIZE, SIZE), dtype=bool)
    expected = []
    for mask, (column_a, row_a, column_b, row_b) in zip(masks, corners, strict=True):
        first_column, last_column = sorted((column_a, column_b))
        first_row, last_row = sorted((row_a, row_b))
        mask[first_row, first_column] = mask[last_row, last_column] = True
        expected.append([first_column, first_row, last_column + 1, last_row + 1])
    np.testing.assert_array_equal(tight_boxes(masks), np.array(expected, dtype=np.float32))


def test_an_empty_mask_has_an_all_zero_box():
    masks = np.zeros((2, SIZE, SIZE), dtype=bool)
    masks[1, 3, 4] = True
    np.testing.assert_array_equal(tight_boxes(masks), [[0, 0, 0, 0], [4, 3, 5, 4]])


@given(coordinates, coordinates, st.floats(1.0, 10.0))
def test_a_disk_holds_exactly_the_pixel_centres_within_its_radius(cx, cy, radius):
    xs, ys = pixel_grid(SIZE)
    mask = disk(xs, ys, cx, cy, radius)[0]
    rows, columns = np.nonzero(mask)
    assert np.all(np.hypot(columns + 0.5 - cx, rows + 0.5 - cy) <= radius + 1e-4)
    rows, columns = np.nonzero(~mask)
    assert np.all(np.hypot(columns + 0.5 - cx, rows + 0.5 - cy) >= radius - 1e-4)


@given(coordinates, coordinates, st.floats(1.0, 10.0))
def test_an_unturned_ellipse_with_equal_axes_is_a_disk(cx, cy, radius):
    xs, ys = pixel_grid(SIZE)
    differing = ellipse(xs, ys, cx, cy, radius, radius) != disk(xs, ys, cx, cy, radius)
    # Only pixel centres on the rim, where rounding decides, may differ.
    rows, columns = np.nonzero(differing[0])
    np.testing.assert_allclose(np.hypot(columns + 0.5 - cx, rows + 0.5 - cy), radius, atol=1e-4)


def test_an_ellipse_turned_a_quarter_swaps_its_axes():
    xs, ys = pixel_grid(SIZE)
    turned = ellipse(xs, ys, 16.0, 16.0, 10.0, 4.0, np.pi / 2)
    upright = ellipse(xs, ys, 16.0, 16.0, 4.0, 10.0)
    np.testing.assert_array_equal(turned, upright)


def test_a_ring_is_the_outer_disk_without_the_inner_one():
    xs, ys = pixel_grid(SIZE)
    outer, inner = disk(xs, ys, 15.0, 17.0, 9.0), disk(xs, ys, 15.0, 17.0, 5.0)
    drawn = ring(xs, ys, 15.0, 17.0, 9.0, 5.0)
    assert drawn.any()
    np.testing.assert_array_equal(drawn & ~(outer & ~inner), False)
    assert not drawn[0, 17, 15] and drawn[0, 17, 15 + 7]


@given(coordinates, coordinates, st.floats(1.0, 10.0), st.floats(1.0, 10.0))
def test_a_trapezoid_with_vertical_sides_is_a_rectangle(left, top, width, height):
    xs, ys = pixel_grid(SIZE)
    right, bottom = left + width, top + height
    np.testing.assert_array_equal(
        trapezoid(xs, ys, top, bottom, left, right, left, right),
        rectangle(xs, ys, left, top, right, bottom),
    )


def test_an_unturned_rectangle_spans_its_half_sides():
    xs, ys = pixel_grid(SIZE)
    mask = turned_rectangle(xs, ys, 10.0, 20.0, 4.0, 2.0, 0.0)
    np.testing.assert_array_equal(tight_boxes(mask), [[6, 18, 14, 22]])


@given(st.floats(-np.pi, np.pi), st.floats(-20, 20), st.floats(-20, 20))
def test_turning_into_a_frame_keeps_distances_and_turns_back(angle, dx, dy):
    u, v = to_frame(dx, dy, angle)
    np.testing.assert_allclose(np.hypot(u, v), np.hypot(dx, dy), atol=1e-9)
    np.testing.assert_allclose(from_frame(u, v, angle), (dx, dy), atol=1e-9)


def test_a_positive_angle_turns_the_frame_clockwise_on_screen():
    # y points down, so the frame's u axis turned by +90 degrees points down the image.
    u, v = to_frame(0.0, 1.0, np.pi / 2)
    np.testing.assert_allclose((u, v), (1.0, 0.0), atol=1e-12)


def test_a_segment_covers_its_ends_and_stays_within_half_its_thickness():
    xs, ys = pixel_grid(SIZE)
    mask = segment(xs, ys, 4.5, 4.5, 20.5, 12.5, 3.0)[0]
    assert mask[4, 4] and mask[12, 20]
    rows, columns = np.nonzero(mask)
    points = np.stack([columns + 0.5, rows + 0.5], axis=1)
    start, direction = np.array([4.5, 4.5]), np.array([16.0, 8.0])
    position = np.clip((points - start) @ direction / (direction @ direction), 0, 1)
    distances = np.linalg.norm(points - start - position[:, None] * direction, axis=1)
    assert distances.max() <= 1.5 + 1e-5


def test_per_image_parameters_draw_each_image_like_one_call_each():
    xs, ys = pixel_grid(SIZE)
    centres_x, centres_y, radii = [5.0, 16.0, 25.0], [8.0, 16.0, 20.0], [3.0, 6.0, 4.5]
    together = disk(xs, ys, per_image(centres_x), per_image(centres_y), per_image(radii))
    assert together.shape == (3, SIZE, SIZE)
    for mask, cx, cy, radius in zip(together, centres_x, centres_y, radii, strict=True):
        np.testing.assert_array_equal(mask, disk(xs, ys, cx, cy, radius)[0])


def test_paint_sets_only_the_masked_pixels_to_each_images_tone():
    images = np.full((2, 4, 4), 0.5, dtype=np.float32)
    mask = np.zeros((2, 4, 4), dtype=bool)
    mask[0, 1, 1] = mask[1, 2, 3] = True
    paint(images, mask, per_image([0.1, 0.9]))
    assert images[0, 1, 1] == np.float32(0.1) and images[1, 2, 3] == np.float32(0.9)
    np.testing.assert_array_equal(images[~mask], 0.5)
