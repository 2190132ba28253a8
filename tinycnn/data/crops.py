"""Crops for a sliding-window classifier, and a wide scene to slide it over (lesson 7).

The lecture's sliding windows start from a classifier trained on *closely cropped* objects: a car
that fills the crop, or no object at all. `crop_dataset` cuts such crops out of drawn scenes,
so that the crops and the scenes the classifier later slides over look alike (same backgrounds,
same distractors, neighbours peeking in at the edges):

- object crops: a window of crop_size x crop_size centred on one object (give or take a pixel or
  two), the object's longer side OBJECT_FILL of the crop;
- background crops: windows not centred on any object (MIN_OFFSET): empty, or holding only part
  of an object. A window that cuts a car in half is "no car" for the classifier, so that it
  fires on the windows centred on an object, not on every window that touches one.

Targets are the lecture's vector [p_c, b_x, b_y, b_h, b_w, c_1..c_3] for the crop, as in
`localization_dataset`: the box is the object's tight box inside the crop. A pure classifier
needs only p_c and the classes; the box is there because a window's own box is the crop, and
lesson 7 shows how poor that is.

`sliding_window_scene` draws one wide scene with several objects of about the crop's size and
one larger object, and their tight boxes.

The objects are drawn by the localization scenes' own code (`scenes.OBJECT_KINDS`), on the same
cluttered backgrounds; only where they are placed, and how many per scene, differs.
"""

import numpy as np

from tinycnn import checks
from tinycnn.boxes import corners_to_center
from tinycnn.data.background import add_pixel_noise, backgrounds
from tinycnn.data.draw import pixel_grid
from tinycnn.data.scenes import CLASS_NAMES, OBJECT_KINDS, paint_objects_at
from tinycnn.data.seeds import dataset_rng
from tinycnn.data.sizes import check_dataset_fits
from tinycnn.targets import NO_OBJECT, encode_localization_batch

CROP_SIZE = 32
"""The default crop_size."""

MIN_CROP_SIZE = 16
"""Smallest crop_size: the drawn objects need some pixels to be recognisable."""

OBJECT_FILL = (0.7, 0.95)
"""Range of an object's longer side, as a fraction of the crop: closely cropped."""

CROP_JITTER = 0.06
"""Largest shift of a crop from the object's centre, as a fraction of the crop."""

MIN_OFFSET = 0.4
"""A background crop's centre lies at least this far from every object's centre (along x or y),
as a fraction of the crop: it may hold part of an object, never one it is centred on."""

BACKGROUND_FRACTION = 0.5
"""Share of background crops in `crop_dataset`: sliding windows see mostly background."""

CANDIDATES = 24
"""Random windows tried per scene for a background crop; the first one far enough is kept."""

WORKING_ARRAYS = 20
"""Crop-sized float32 arrays that cutting one crop needs at its peak: all crops come from scenes
of twice their size drawn at once, 19 measured with tracemalloc at 32 and 64 pixels (see
`sizes`)."""

SCENE_WORKING_ARRAYS = 7
"""Scene-sized float32 arrays that drawing the sliding-window scene needs at its peak: 6.3 to 6.8
measured with tracemalloc."""


def crop_dataset(n, crop_size=CROP_SIZE, seed=0):
    """n crops: images (n, 1, crop_size, crop_size) float32 in [0, 1] and targets (n, 8).

    A share BACKGROUND_FRACTION are background crops (all-zero targets); the rest hold one closely
    cropped pedestrian, car or motorcycle each, the classes in turn, in random order. The same n
    and seed give the same crops; another seed gives held-out crops. seed is an integer >= 0 (see
    `seeds`: None is refused).
    """
    n = checks.integer(n, "n", minimum=0)
    crop_size = checks.integer(crop_size, "crop_size", minimum=MIN_CROP_SIZE)
    check_dataset_fits(n, crop_size, crop_size, WORKING_ARRAYS, size="crop_size")
    rng = dataset_rng(seed)
    empty = round(n * BACKGROUND_FRACTION)
    labels = rng.permutation(
        np.concatenate([np.full(empty, NO_OBJECT), np.arange(n - empty) % len(CLASS_NAMES)])
    )
    # Each crop comes from a scene of twice its size holding two objects: a neighbour in a random
    # quadrant, drawn first, then the crop's own object wherever a crop centred on it fits.
    # Object crops centre on the second; background crops on neither.
    scene_size, kinds = 2 * crop_size, len(CLASS_NAMES)
    classes = np.stack(
        [
            rng.integers(0, kinds, n),
            np.where(labels == NO_OBJECT, rng.integers(0, kinds, n), labels),
        ],
        axis=1,
    )
    long_sides = rng.uniform(*OBJECT_FILL, size=(n, 2)) * crop_size
    quadrants = rng.integers(0, 4, n)
    margin = crop_size / 2 + CROP_JITTER * crop_size

    def in_quadrant(width, height, members):
        half = scene_size / 2
        left = (quadrants[members] % 2) * half + rng.random(len(members)) * np.maximum(
            half - width, 0
        )
        top = (quadrants[members] // 2) * half + rng.random(len(members)) * np.maximum(
            half - height, 0
        )
        return left, top

    def centrable(width, height, members):
        centre_x, centre_y = rng.uniform(margin, scene_size - margin, size=(2, len(members)))
        return centre_x - width / 2, centre_y - height / 2

    scenes, boxes = _draw_scenes(rng, scene_size, classes, long_sides, (in_quadrant, centrable))
    windows = np.empty((n, 2), dtype=int)  # (top, left) of each crop in its scene
    has_object = labels != NO_OBJECT
    centres = (boxes[:, 1, :2] + boxes[:, 1, 2:]) / 2
    jitter = rng.uniform(-CROP_JITTER, CROP_JITTER, size=(n, 2)) * crop_size
    corner = np.clip(np.round(centres + jitter - crop_size / 2), 0, scene_size - crop_size)
    windows[has_object] = corner[has_object][:, ::-1].astype(int)
    windows[~has_object] = _off_centre_windows(rng, boxes[~has_object], scene_size, crop_size)
    # Where no window tried was far enough, the crop comes from a scene without objects.
    redraw = np.flatnonzero(windows[:, 0] < 0)
    scenes[redraw] = _draw_scenes(
        rng,
        scene_size,
        np.full((len(redraw), 1), NO_OBJECT),
        long_sides[redraw, :1],
        (in_quadrant,),
    )[0]
    windows[redraw] = rng.integers(0, scene_size - crop_size + 1, size=(len(redraw), 2))
    rows = windows[:, :1, None] + np.arange(crop_size)[None, :, None]
    cols = windows[:, 1:, None] + np.arange(crop_size)[None, None, :]
    images = scenes[np.arange(n)[:, None, None], rows, cols][:, None]
    offset = np.concatenate([windows[:, ::-1], windows[:, ::-1]], axis=1)
    crop_boxes = np.clip(boxes[:, 1] - offset, 0, crop_size) / crop_size
    return images, encode_localization_batch(
        labels, corners_to_center(crop_boxes), len(CLASS_NAMES)
    )


def _off_centre_windows(rng, boxes, scene_size, crop_size):
    """For scenes with object boxes (N, M, 4) in pixels: (N, 2) window corners (top, left), each
    a random window whose centre lies at least MIN_OFFSET x crop_size (along x or y) from every
    object's centre, or (-1, -1) where none of CANDIDATES tries does."""
    n = len(boxes)
    corners = rng.integers(0, scene_size - crop_size + 1, size=(n, CANDIDATES, 2))
    window_centres = corners[..., ::-1, None] + crop_size / 2  # (N, T, 2: x, y, 1)
    object_centres = ((boxes[..., :2] + boxes[..., 2:]) / 2).transpose(0, 2, 1)[:, None]
    offsets = np.abs(window_centres - object_centres).max(axis=2)  # (N, T, M), Chebyshev
    far = (offsets >= MIN_OFFSET * crop_size).all(axis=2)  # (N, T)
    first = far.argmax(axis=1)
    chosen = corners[np.arange(n), first]
    return np.where(far.any(axis=1)[:, None], chosen, -1)


def _draw_scenes(rng, size, classes, long_sides, places):
    """Square scenes of `size` pixels with one object per column of classes (N, M) (NO_OBJECT:
    none), its longer side long_sides (N, M) in pixels, placed by places[m](width, height,
    members) -> (left, top). Later columns are painted over earlier ones.

    Returns scenes (N, size, size) float32 in [0, 1] and the objects' corner boxes (N, M, 4)
    [x_min, y_min, x_max, y_max] in pixels (zeros where there is no object).
    """
    xs, ys = pixel_grid(size)
    n, slots = classes.shape
    scenes, base_tones = backgrounds(rng, xs, ys, n, clutter=True)
    boxes = np.zeros((n, slots, 4), dtype=np.float32)
    for slot, place in enumerate(places):
        boxes[:, slot] = _paint_objects(
            rng, scenes, base_tones, xs, ys, classes[:, slot], long_sides[:, slot], place
        )
    add_pixel_noise(rng, scenes)
    np.clip(scenes, 0.0, 1.0, out=scenes)
    return scenes, boxes


def _paint_objects(rng, images, base_tones, xs, ys, classes, long_sides, place):
    """Paint one object into each image (N, H, W), in place, as `scenes._draw_scenes` does:
    classes (N,) (NO_OBJECT: none), longer sides (N,) in pixels, and
    place(width, height, members) -> (left, top) the top-left corners for the images `members`.

    Returns the objects' tight corner boxes (N, 4) in pixels (zeros where none).
    """
    boxes = np.zeros((len(images), 4), dtype=np.float32)
    for class_index, (sample_shapes, draw_objects) in enumerate(OBJECT_KINDS):
        members = np.flatnonzero(classes == class_index)
        if len(members) == 0:
            continue
        shapes = sample_shapes(rng, len(members), long_sides[members])
        left, top = place(shapes["width"], shapes["height"], members)
        boxes[members] = paint_objects_at(
            rng, images, base_tones, xs, ys, members, draw_objects, shapes, left, top
        )
    return boxes


def sliding_window_scene(height=96, width=160, crop_size=CROP_SIZE, seed=0):
    """One wide scene for sliding windows: image (1, 1, height, width) float32 in [0, 1] and its
    truth {"boxes": (G, 4) [b_x, b_y, b_h, b_w] as fractions of the scene, "labels": (G,)}.

    It holds one object of each class at about the crop's size (OBJECT_FILL of crop_size), a
    second pedestrian, and one car twice as large, none of them overlapping: the scene must be at
    least 2 crops high and 4 wide. The same arguments give the same scene; seed is an integer
    >= 0 (see `seeds`: None is refused).
    """
    crop_size = checks.integer(crop_size, "crop_size", minimum=MIN_CROP_SIZE)
    # A scene too small for its crops is the fault of whichever the caller changed: the scene's
    # size when crop_size is the default, crop_size otherwise.
    smallest = crop_size if crop_size == CROP_SIZE else MIN_CROP_SIZE
    height = checks.integer(height, "height", minimum=2 * smallest)
    width = checks.integer(width, "width", minimum=4 * smallest)
    largest_crop = min(height // 2, width // 4)
    if crop_size > largest_crop:
        raise ValueError(
            f"crop_size must be an integer in [{MIN_CROP_SIZE}, {largest_crop}] for a "
            f"{height}x{width} scene (height >= 2 crops, width >= 4 crops), got {crop_size}: "
            "pass a smaller crop_size or a larger height and width"
        )
    # The scene is drawn on a square of its longer side, then cut.
    size = max(height, width)
    longer = "height" if height >= width else "width"
    check_dataset_fits(1, size, size, SCENE_WORKING_ARRAYS, size=longer)
    rng = dataset_rng(seed)
    xs, ys = pixel_grid(size)
    image, base_tone = backgrounds(rng, xs, ys, 1, clutter=True)
    labels = np.array([0, 1, 2, 0, 1])
    long_sides = rng.uniform(*OBJECT_FILL, size=5) * crop_size
    long_sides[-1] = 1.9 * crop_size
    corners = []
    for label, long_side in zip(labels, long_sides, strict=True):

        def place(object_width, object_height, members):
            for _ in range(1000):  # rejection: a spot that keeps clear of the objects so far
                left = rng.uniform(1, width - object_width - 1)
                top = rng.uniform(1, height - object_height - 1)
                box = np.array([left, top, left + object_width, top + object_height])
                if all(_apart(box, other) for other in corners):
                    return np.array([left]), np.array([top])
            raise ValueError(f"a {height}x{width} scene has no room for its objects")

        box = _paint_objects(
            rng, image, base_tone, xs, ys, np.array([label]), np.array([long_side]), place
        )[0]
        corners.append(box)
    add_pixel_noise(rng, image)
    np.clip(image, 0.0, 1.0, out=image)
    scale = np.array([width, height, width, height], dtype=np.float32)
    boxes = corners_to_center(np.array(corners) / scale)
    return image[:, None, :height, :width].copy(), {"boxes": boxes, "labels": labels}


def _apart(box, other, margin=2):
    """Whether two corner boxes keep at least `margin` pixels between them."""
    return (
        box[0] > other[2] + margin
        or other[0] > box[2] + margin
        or box[1] > other[3] + margin
        or other[1] > box[3] + margin
    )
