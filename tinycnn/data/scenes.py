"""Localization scenes: one pedestrian, car or motorcycle (or nothing) on a cluttered background.

`localization_dataset` returns images (N, 1, H, W) float32 in [0, 1] and targets (N, 8) float32 in
the lecture's order

    [p_c, b_x, b_y, b_h, b_w, c_pedestrian, c_car, c_motorcycle]

with p_c = 1 if there is an object, (b_x, b_y) the centre of its box and (b_h, b_w) the box's height
and width (height first), all as fractions of the image: (0, 0) is the top-left corner and (1, 1)
the bottom-right one. Images without an object have all eight entries 0.

Each object is drawn as a boolean mask (see `draw`), and its box is the tight box of that mask,
so the target is exact: the box edges lie on pixel boundaries, x_min = (first column) / W and
x_max = (last column + 1) / W. An object that runs past the border (up to a third of it, for a
minority of objects) has the box of its visible part.

Drawing happens in three steps per class: sample the random shapes (size and pose), place them,
then draw all of them at once. Every object is drawn facing right, on a mirrored grid for the half
that face left.
"""

import numpy as np

from tinycnn.boxes import corners_to_center
from tinycnn.checks import flag as check_flag
from tinycnn.checks import integer as check_count
from tinycnn.checks import probability as check_fraction
from tinycnn.data.background import add_pixel_noise, backgrounds, object_tones
from tinycnn.data.draw import (
    disk,
    paint,
    per_image,
    pixel_grid,
    rectangle,
    ring,
    segment,
    tight_boxes,
    trapezoid,
)
from tinycnn.data.seeds import dataset_rng
from tinycnn.data.sizes import check_dataset_fits
from tinycnn.targets import NO_OBJECT, encode_localization_batch

CLASS_NAMES = ("pedestrian", "car", "motorcycle")

LONG_SIDE = (0.45, 0.8)
"""Range of an object's longer side, as a fraction of the image size."""

CROSSING_PROBABILITY = 0.12
"""Share of objects allowed to run past the border (about half of them then do)."""

MAX_HIDDEN = 1 / 3
"""Largest part of an object's width (and of its height) that may lie outside the image."""

CHUNK = 1024
"""Images drawn at once: enough to make the array operations efficient, small enough for memory."""

WORKING_ARRAYS = 6
"""Image-sized float32 arrays that drawing one scene of a chunk needs at its peak: 5.0 measured
with tracemalloc at 32 and 64 pixels, and one to spare (see `sizes`)."""


def localization_dataset(n, image_size=64, seed=0, no_object_fraction=0.25, clutter=True):
    """n random scenes: images (n, 1, image_size, image_size) float32 in [0, 1], targets (n, 8).

    The classes are balanced: round(n * no_object_fraction) images have no object and the rest
    are split evenly between the classes, in random order. The same n and seed give the same
    scenes (the balance is over all n, so a larger n is another draw, not the same scenes and
    more); another seed gives a held-out set. seed is an integer >= 0 (see `seeds`: None is
    refused). clutter=False draws the objects on plain backgrounds
    without distractors or noise, for a first look.
    """
    n = check_count(n, "n", minimum=0)
    image_size = check_count(image_size, "image_size", minimum=16)
    check_fraction(no_object_fraction, "no_object_fraction")
    check_flag(clutter, "clutter")
    check_dataset_fits(n, image_size, image_size, WORKING_ARRAYS, CHUNK)
    rng = dataset_rng(seed)
    classes = _balanced_classes(rng, n, no_object_fraction)
    images = np.empty((n, 1, image_size, image_size), dtype=np.float32)
    boxes = np.zeros((n, 4), dtype=np.float32)
    for start in range(0, n, CHUNK):
        chunk = slice(start, start + CHUNK)
        images[chunk, 0], boxes[chunk] = _draw_scenes(rng, classes[chunk], image_size, clutter)
    centre_boxes = corners_to_center(boxes / image_size)
    return images, encode_localization_batch(classes, centre_boxes, len(CLASS_NAMES))


def _balanced_classes(rng, n, no_object_fraction):
    """(n,) class indices in random order: NO_OBJECT for a share no_object_fraction, then the
    classes in turn."""
    empty_count = round(n * no_object_fraction)
    classes = np.concatenate(
        [np.full(empty_count, NO_OBJECT), np.arange(n - empty_count) % len(CLASS_NAMES)]
    )
    return rng.permutation(classes)


def _draw_scenes(rng, classes, size, clutter=True):
    """Draw one scene per entry of classes (N,): images (N, size, size) float32 in [0, 1] and the
    objects' corner boxes (N, 4) [x_min, y_min, x_max, y_max] in pixels (zeros where none)."""
    xs, ys = pixel_grid(size)
    images, base_tones = backgrounds(rng, xs, ys, len(classes), clutter)
    boxes = np.zeros((len(classes), 4), dtype=np.float32)
    for class_index, (sample_shapes, draw_objects) in enumerate(OBJECT_KINDS):
        members = np.flatnonzero(classes == class_index)
        long_sides = rng.uniform(*LONG_SIDE, size=len(members)) * size
        shapes = sample_shapes(rng, len(members), long_sides)
        left, top = _place(rng, shapes["width"], shapes["height"], size)
        boxes[members] = paint_objects_at(
            rng, images, base_tones, xs, ys, members, draw_objects, shapes, left, top
        )
    if clutter:
        add_pixel_noise(rng, images)
    np.clip(images, 0.0, 1.0, out=images)
    return images, boxes


def paint_objects_at(rng, images, base_tones, xs, ys, members, draw_objects, shapes, left, top):
    """Paint one object of a kind (`draw_objects`, with its sampled `shapes`) into each image
    images[members], in place, its top-left corner at (left, top), facing left or right at random;
    return the objects' tight corner boxes (M, 4) in pixels."""
    # Mirroring the grid about the object's vertical centre line makes it face left.
    centre = per_image(left + shapes["width"] / 2)
    facing_left = per_image(rng.random(len(members)) < 0.5)
    object_xs = np.where(facing_left, 2 * centre - xs, xs)
    silhouettes, details = draw_objects(object_xs, ys, per_image(left), per_image(top), shapes)
    tones = object_tones(rng, base_tones[members])
    # Details (windows, hubs) lie between the object's tone and the background's.
    detail_tones = tones + 0.55 * (base_tones[members] - tones)
    chosen = images[members]
    paint(chosen, silhouettes, per_image(tones))
    paint(chosen, details, per_image(detail_tones))
    images[members] = chosen
    return tight_boxes(silhouettes)


def _place(rng, width, height, size):
    """Random top-left corners (left, top) for objects of the given widths and heights (N,).

    Most objects lie wholly inside the image; a share CROSSING_PROBABILITY may hide up to
    MAX_HIDDEN of their width and of their height past the border.
    """
    may_cross = rng.random(len(width)) < CROSSING_PROBABILITY
    overhang_x = np.where(may_cross, MAX_HIDDEN * width, 0.0)
    overhang_y = np.where(may_cross, MAX_HIDDEN * height, 0.0)
    left = rng.uniform(-overhang_x, size - width + overhang_x)
    top = rng.uniform(-overhang_y, size - height + overhang_y)
    return left, top


def _pedestrian_shapes(rng, n, long_sides):
    """n random pedestrians: width (arm span) and height in pixels, stride and hand heights."""
    return {
        "width": long_sides * rng.uniform(0.45, 0.6, size=n),
        "height": long_sides,
        "stride": rng.uniform(0.4, 1.0, size=n),
        "front_hand": rng.uniform(0.42, 0.6, size=n),
        "back_hand": rng.uniform(0.42, 0.6, size=n),
    }


def _draw_pedestrians(xs, ys, left, top, shapes):
    """Pedestrians in the boxes at (left, top), each (N, 1, 1): head, torso, arms, legs.

    Returns silhouettes and details (N, H, W); pedestrians have no details.
    """
    width, height = per_image(shapes["width"]), per_image(shapes["height"])
    centre = left + width / 2
    limb = 0.08 * height
    reach = width / 2 - limb / 2
    head = disk(xs, ys, centre, top + 0.1 * height, 0.1 * height)
    torso = trapezoid(
        xs,
        ys,
        top + 0.19 * height,
        top + 0.56 * height,
        centre - 0.24 * width,
        centre + 0.24 * width,
        centre - 0.16 * width,
        centre + 0.16 * width,
    )
    shoulder_y, hip_y, foot_y = top + 0.24 * height, top + 0.54 * height, top + height - limb / 2
    front_arm = segment(
        xs,
        ys,
        centre + 0.18 * width,
        shoulder_y,
        centre + reach,
        top + per_image(shapes["front_hand"]) * height,
        limb,
    )
    back_arm = segment(
        xs,
        ys,
        centre - 0.18 * width,
        shoulder_y,
        centre - reach,
        top + per_image(shapes["back_hand"]) * height,
        limb,
    )
    stride = per_image(shapes["stride"]) * reach
    front_leg = segment(xs, ys, centre + 0.08 * width, hip_y, centre + stride, foot_y, limb)
    back_leg = segment(xs, ys, centre - 0.08 * width, hip_y, centre - stride, foot_y, limb)
    silhouettes = head | torso | front_arm | back_arm | front_leg | back_leg
    return silhouettes, np.zeros_like(silhouettes)


def _car_shapes(rng, n, long_sides):
    """n random cars: width and height in pixels."""
    return {"width": long_sides, "height": long_sides / rng.uniform(1.5, 1.9, size=n)}


def _draw_cars(xs, ys, left, top, shapes):
    """Cars facing right in the boxes at (left, top), each (N, 1, 1): body, cabin, two wheels.

    Returns silhouettes and details (N, H, W): the windows and the wheels' hubs.
    """
    width, height = per_image(shapes["width"]), per_image(shapes["height"])
    wheel_radius = 0.24 * height
    axle_y = top + height - wheel_radius
    rear_x, front_x = left + 0.2 * width, left + 0.8 * width
    wheels = disk(xs, ys, rear_x, axle_y, wheel_radius) | disk(
        xs, ys, front_x, axle_y, wheel_radius
    )
    hub_radius = 0.45 * wheel_radius
    hubs = disk(xs, ys, rear_x, axle_y, hub_radius) | disk(xs, ys, front_x, axle_y, hub_radius)
    body = trapezoid(
        xs,
        ys,
        top + 0.38 * height,
        top + 0.8 * height,
        left,
        left + 0.9 * width,
        left,
        left + width,
    )
    cabin = trapezoid(
        xs,
        ys,
        top,
        top + 0.4 * height,
        left + 0.28 * width,
        left + 0.6 * width,
        left + 0.15 * width,
        left + 0.75 * width,
    )
    window_frame = trapezoid(
        xs,
        ys,
        top + 0.08 * height,
        top + 0.38 * height,
        left + 0.3 * width,
        left + 0.58 * width,
        left + 0.2 * width,
        left + 0.7 * width,
    )
    pillar = rectangle(xs, ys, left + 0.44 * width, top, left + 0.48 * width, top + height)
    return body | cabin | wheels, (window_frame & ~pillar) | hubs


def _motorcycle_shapes(rng, n, long_sides):
    """n random motorcycles: width and height in pixels, and whether a rider sits on it."""
    rider = rng.random(n) < 0.5
    # A rider makes the motorcycle about as tall as it is long.
    aspect = np.where(rider, rng.uniform(0.9, 1.0, size=n), rng.uniform(0.68, 0.78, size=n))
    return {"width": long_sides, "height": long_sides * aspect, "rider": rider}


def _draw_motorcycles(xs, ys, left, top, shapes):
    """Motorcycles facing right in the boxes at (left, top), each (N, 1, 1): two spoked-looking
    wheels far apart, frame, seat, handlebar, and maybe a small rider.

    Returns silhouettes and details (N, H, W); motorcycles have no details.
    """
    width, height = per_image(shapes["width"]), per_image(shapes["height"])
    rider = per_image(shapes["rider"]).astype(bool)
    wheel_radius, tube = 0.22 * width, 0.07 * width
    bottom = top + height
    axle_y = bottom - wheel_radius
    rear_x, front_x = left + wheel_radius, left + width - wheel_radius
    wheels = (
        ring(xs, ys, rear_x, axle_y, wheel_radius, 0.6 * wheel_radius)
        | ring(xs, ys, front_x, axle_y, wheel_radius, 0.6 * wheel_radius)
        | disk(xs, ys, rear_x, axle_y, 0.2 * wheel_radius)
        | disk(xs, ys, front_x, axle_y, 0.2 * wheel_radius)
    )
    seat_y = bottom - 2.1 * wheel_radius
    seat_back_x, seat_front_x = left + 0.22 * width, left + 0.5 * width
    engine_x, engine_y = left + 0.5 * width, axle_y - 0.1 * wheel_radius
    steering_x, steering_y = left + 0.76 * width, seat_y - 0.2 * wheel_radius
    tank_y = seat_y - 0.1 * wheel_radius
    # Without a rider the handlebar reaches the top of the box; with one, the rider's head does.
    grip_x = left + 0.68 * width
    grip_y = np.where(rider, seat_y - 0.9 * wheel_radius, top + tube / 2)
    frame = (
        segment(xs, ys, rear_x, axle_y, seat_back_x, seat_y, tube)
        | segment(xs, ys, rear_x, axle_y, engine_x, engine_y, tube)
        | segment(xs, ys, engine_x, engine_y, steering_x, steering_y, tube)
        | segment(xs, ys, front_x, axle_y, steering_x, steering_y, tube)
        | segment(xs, ys, steering_x, steering_y, grip_x, grip_y, tube)
        | segment(xs, ys, seat_back_x, seat_y, seat_front_x, seat_y, 1.6 * tube)
        | segment(xs, ys, seat_front_x, tank_y, steering_x, steering_y, 2 * tube)
        | disk(xs, ys, engine_x, engine_y, 0.35 * wheel_radius)
    )
    head_radius = 0.4 * wheel_radius
    hip_x, hip_y = left + 0.36 * width, seat_y - 0.3 * wheel_radius
    shoulder_x, shoulder_y = left + 0.46 * width, top + 2.4 * head_radius
    foot_x, foot_y = left + 0.55 * width, axle_y - 0.2 * wheel_radius
    rider_body = (
        disk(xs, ys, left + 0.5 * width, top + head_radius, head_radius)
        | segment(xs, ys, hip_x, hip_y, shoulder_x, shoulder_y, 1.8 * tube)
        | segment(xs, ys, shoulder_x, shoulder_y, grip_x, grip_y, tube)
        | segment(xs, ys, hip_x, hip_y, foot_x, foot_y, 1.3 * tube)
    )
    silhouettes = wheels | frame | (rider_body & rider)
    return silhouettes, np.zeros_like(silhouettes)


OBJECT_KINDS = (
    (_pedestrian_shapes, _draw_pedestrians),
    (_car_shapes, _draw_cars),
    (_motorcycle_shapes, _draw_motorcycles),
)
"""For each class, in CLASS_NAMES order: how to sample its shapes, and how to draw them."""
