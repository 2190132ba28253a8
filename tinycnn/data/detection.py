"""Detection scenes: several pedestrians, cars and motorcycles in a picture, some before others.

`detection_dataset` returns images (N, 1, H, W) float32 in [0, 1] and, for each image, its truth

    {"boxes": (G, 4) float32 [b_x, b_y, b_h, b_w],  "labels": (G,) int64 in 0..K-1}

with boxes in the lecture's centre format as fractions of the image, and labels indexing
`CLASS_NAMES` (pedestrian, car, motorcycle). G runs from 0 to MAX_OBJECTS.

The objects are those of the localization scenes (`tinycnn.data.scenes`), drawn smaller and
several at a time, back to front. Where one object stands in front of another, a one-pixel seam in
the background's tone separates them, and the one behind keeps only its visible part: every box is
the tight box of the pixels of its object that can be seen.

The lecture's hard case comes often: a pedestrian standing in front of a car, their midpoints so
close that a coarse grid puts both in one cell. One vector per cell cannot hold both; two anchor
boxes, a tall one and a wide one, can.
"""

import numpy as np

from tinycnn.boxes import corners_to_center
from tinycnn.checks import flag, integer
from tinycnn.data.background import add_pixel_noise, backgrounds, object_tones
from tinycnn.data.draw import paint, per_image, pixel_grid, tight_boxes
from tinycnn.data.scenes import CLASS_NAMES, OBJECT_KINDS
from tinycnn.data.seeds import dataset_rng
from tinycnn.data.sizes import check_dataset_fits

PEDESTRIAN, CAR = CLASS_NAMES.index("pedestrian"), CLASS_NAMES.index("car")

OBJECT_COUNTS = (0, 1, 2, 3, 4)
COUNT_PROBABILITIES = (0.08, 0.22, 0.3, 0.25, 0.15)
"""How many objects an image holds, and how often."""

MAX_OBJECTS = OBJECT_COUNTS[-1]

LONG_SIDE = (0.25, 0.5)
"""Range of an object's longer side, as a fraction of the image size."""

PAIR_PROBABILITY = 0.4
"""Share of the images with two objects or more that show a pedestrian in front of a car."""

MIN_CENTRE_DISTANCE = 0.2
"""Other objects' midpoints lie at least this far apart along x or y (fractions of the image)."""

MAX_OVERLAP = 0.15
"""Other objects' boxes overlap by at most this IoU: partly hidden, never mostly."""

PLACEMENT_TRIES = 30
"""Random places tried for an object before the scene goes without it."""

CHUNK = 512
"""Images drawn at once."""

WORKING_ARRAYS = 7
"""Image-sized float32 arrays that drawing one scene of a chunk needs at its peak: 6.2 measured
with tracemalloc at 32 and 64 pixels, and some to spare (see `sizes`)."""

SCENE_BYTES = 2000
"""Bytes of Python objects per scene besides its pixels: its plan (950 measured) and its truth."""


def detection_dataset(n, image_size=64, seed=0, clutter=True):
    """n random scenes: images (n, 1, image_size, image_size) float32 in [0, 1], and truth, a list
    of n dicts {"boxes": (G, 4), "labels": (G,)} (see the module's docstring).

    The same n and seed give the same scenes (they are drawn in batches over all n, so a larger n
    is another draw, not the same scenes and more); another seed gives held-out ones. seed is an
    integer >= 0 (see `seeds`: None is refused).
    clutter=False draws on plain backgrounds without distractors or noise.
    """
    n = integer(n, "n", minimum=0)
    image_size = integer(image_size, "image_size", minimum=32)
    flag(clutter, "clutter")
    # Before the plans: a loop over n scenes must not run for a dataset that cannot be held.
    check_dataset_fits(n, image_size, image_size, WORKING_ARRAYS, CHUNK, row_bytes=SCENE_BYTES)
    rng = dataset_rng(seed)
    plans = [_plan_scene(rng) for _ in range(n)]
    images = np.empty((n, 1, image_size, image_size), dtype=np.float32)
    truth = []
    for start in range(0, n, CHUNK):
        chunk_images, chunk_truth = _draw_scenes(
            rng, plans[start : start + CHUNK], image_size, clutter
        )
        images[start : start + CHUNK, 0] = chunk_images
        truth += chunk_truth
    return images, truth


def _plan_scene(rng):
    """One scene's objects, back to front: a list of dicts with the class, the shape parameters
    of `tinycnn.data.scenes` and the box (left, top, width, height) as fractions of the image."""
    count = rng.choice(OBJECT_COUNTS, p=COUNT_PROBABILITIES)
    objects = []
    if count >= 2 and rng.random() < PAIR_PROBABILITY:
        objects += _pedestrian_in_front_of_car(rng)
    while len(objects) < count:
        candidate = _sample_object(
            rng, int(rng.integers(len(CLASS_NAMES))), rng.uniform(*LONG_SIDE)
        )
        for _ in range(PLACEMENT_TRIES):
            candidate["left"] = rng.uniform(0, 1 - candidate["width"])
            candidate["top"] = rng.uniform(0, 1 - candidate["height"])
            if all(_apart(candidate, other) for other in objects):
                objects.append(candidate)
                break
        else:
            break
    # Shuffle the depth order, keeping each pedestrian in front of its car.
    groups = _depth_groups(objects)
    return [obj for index in rng.permutation(len(groups)) for obj in groups[index]]


def _pedestrian_in_front_of_car(rng):
    """The lecture's example: a car, and a taller pedestrian before it, their midpoints close."""
    car = _sample_object(rng, CAR, rng.uniform(0.38, 0.5))
    pedestrian = _sample_object(rng, PEDESTRIAN, car["height"] * rng.uniform(1.3, 1.7))
    car["left"] = rng.uniform(0, 1 - car["width"])
    car["top"] = rng.uniform(0.02, 1 - car["height"] - 0.02)
    car_x, car_y = car["left"] + car["width"] / 2, car["top"] + car["height"] / 2
    centre_x = car_x + rng.uniform(-0.12, 0.12) * car["width"]
    centre_y = car_y + rng.uniform(-0.08, 0.08) * car["height"]
    pedestrian["left"] = np.clip(centre_x - pedestrian["width"] / 2, 0, 1 - pedestrian["width"])
    pedestrian["top"] = np.clip(centre_y - pedestrian["height"] / 2, 0, 1 - pedestrian["height"])
    pedestrian["in_front_of"] = car
    return [car, pedestrian]


def _sample_object(rng, class_index, long_side):
    """One object of the class with the given longer side (fraction of the image): its shape
    parameters, drawn by the class's own sampler, with width and height as fractions."""
    sample_shapes = OBJECT_KINDS[class_index][0]
    shapes = sample_shapes(rng, 1, np.array([long_side]))
    obj = {key: np.asarray(value).reshape(-1)[0] for key, value in shapes.items()}
    obj["class"] = class_index
    obj["facing_left"] = bool(rng.random() < 0.5)
    return obj


def _apart(a, b):
    """Whether two planned objects are far enough apart: midpoints and overlap (see the limits)."""
    centre_distance = max(
        abs(a["left"] + a["width"] / 2 - b["left"] - b["width"] / 2),
        abs(a["top"] + a["height"] / 2 - b["top"] - b["height"] / 2),
    )
    overlap_w = max(
        0.0, min(a["left"] + a["width"], b["left"] + b["width"]) - max(a["left"], b["left"])
    )
    overlap_h = max(
        0.0, min(a["top"] + a["height"], b["top"] + b["height"]) - max(a["top"], b["top"])
    )
    overlap = overlap_w * overlap_h
    union = a["width"] * a["height"] + b["width"] * b["height"] - overlap
    return centre_distance >= MIN_CENTRE_DISTANCE and overlap / union <= MAX_OVERLAP


def _depth_groups(objects):
    """The objects as groups that keep their order: a car and the pedestrian before it are one."""
    groups = []
    for obj in objects:
        if "in_front_of" in obj:
            next(group for group in groups if group[0] is obj["in_front_of"]).append(obj)
        else:
            groups.append([obj])
    return groups


def _draw_scenes(rng, plans, size, clutter=True):
    """Draw the planned scenes: images (N, size, size) float32 in [0, 1] and their truth."""
    xs, ys = pixel_grid(size)
    images, base_tones = backgrounds(rng, xs, ys, len(plans), clutter)
    depth = max((len(plan) for plan in plans), default=0)
    silhouettes = np.zeros((depth, len(plans), size, size), dtype=bool)
    drawn = np.zeros((len(plans), size, size), dtype=bool)
    for slot in range(depth):
        for class_index, (_, draw_objects) in enumerate(OBJECT_KINDS):
            members = np.array(
                [
                    index
                    for index, plan in enumerate(plans)
                    if len(plan) > slot and plan[slot]["class"] == class_index
                ],
                dtype=np.int64,
            )
            if len(members) == 0:
                continue
            objects = [plans[index][slot] for index in members]
            shapes = {
                key: np.array([obj[key] for obj in objects])
                * (size if key in ("width", "height") else 1)
                for key in objects[0]
                if key not in ("class", "facing_left", "left", "top", "in_front_of")
            }
            left = np.array([obj["left"] for obj in objects]) * size
            top = np.array([obj["top"] for obj in objects]) * size
            # Mirroring the grid about the object's vertical centre line makes it face left.
            centre = per_image(left + shapes["width"] / 2)
            facing_left = per_image([obj["facing_left"] for obj in objects])
            object_xs = np.where(facing_left, 2 * centre - xs, xs)
            shape_masks, details = draw_objects(
                object_xs, ys, per_image(left), per_image(top), shapes
            )
            tones = object_tones(rng, base_tones[members])
            detail_tones = tones + 0.55 * (base_tones[members] - tones)
            scenes = images[members]
            # The seam: a ring one pixel wide around the object, in the background's tone, where
            # the object stands in front of one drawn before it.
            seam = _dilate(shape_masks) & ~shape_masks & drawn[members]
            paint(scenes, seam, per_image(base_tones[members]))
            paint(scenes, shape_masks, per_image(tones))
            paint(scenes, details & shape_masks, per_image(detail_tones))
            images[members] = scenes
            silhouettes[slot, members] = shape_masks
            drawn[members] |= shape_masks
    if clutter:
        add_pixel_noise(rng, images)
    np.clip(images, 0.0, 1.0, out=images)
    return images, _visible_truth(plans, silhouettes, size)


def _visible_truth(plans, silhouettes, size):
    """Each object's box is the tight box of its pixels left visible by the objects before it
    (and their seams), front to back."""
    depth = len(silhouettes)
    boxes = np.zeros((len(plans), depth, 4), dtype=np.float32)
    visible_any = np.zeros((len(plans), depth), dtype=bool)
    covered = np.zeros(silhouettes.shape[1:], dtype=bool)
    for slot in reversed(range(depth)):
        visible = silhouettes[slot] & ~covered
        boxes[:, slot] = tight_boxes(visible)
        visible_any[:, slot] = visible.any(axis=(1, 2))
        covered |= _dilate(silhouettes[slot])
    truth = []
    for index, plan in enumerate(plans):
        kept = [slot for slot in range(len(plan)) if visible_any[index, slot]]
        truth.append(
            {
                "boxes": corners_to_center(boxes[index, kept] / size)
                .astype(np.float32)
                .reshape(-1, 4),
                "labels": np.array([plan[slot]["class"] for slot in kept], dtype=np.int64),
            }
        )
    return truth


def _dilate(masks):
    """Masks (N, H, W) grown by one pixel left, right, up and down."""
    grown = masks.copy()
    grown[:, 1:, :] |= masks[:, :-1, :]
    grown[:, :-1, :] |= masks[:, 1:, :]
    grown[:, :, 1:] |= masks[:, :, :-1]
    grown[:, :, :-1] |= masks[:, :, 1:]
    return grown
