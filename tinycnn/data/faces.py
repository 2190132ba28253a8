"""Landmark faces: one drawn face (or none) on a cluttered background, with exact landmarks.

`landmark_dataset` returns images (N, 1, H, W) float32 in [0, 1] and targets (N, 7) float32

    [is_face, x_left_mouth, y_left_mouth, x_right_mouth, y_right_mouth, x_chin, y_chin]

with the points as fractions of the image: (0, 0) is the top-left corner and (1, 1) the
bottom-right one. Images without a face have all seven entries 0.

"Left" and "right" are the IMAGE's left and right, not the subject's: the left mouth corner is the
one with the smaller x in an upright face (the one on the viewer's left). Mirroring an image makes
that corner the right one, so a horizontal flip swaps the two slots (see `augment`).

A face is a head ellipse with eyes, a nose, a mouth curve and maybe hair, tilted up to 15 degrees.
The landmarks come from the drawing's own geometry, in the face's frame (u to the face's right in
the image, v down its vertical axis, centred on the head):
- the mouth is the curve v = mouth_y + smile * (1 - (u / mouth_half_width)^2), so its corners are
  (-mouth_half_width, mouth_y) and (+mouth_half_width, mouth_y), the centres of its round ends.
  A smile (smile > 0) sags in the middle, a frown (smile < 0) arches;
- the chin tip is the bottom of the head ellipse along the tilted vertical axis, (0, head_ry).

The face size used to normalise landmark errors (NME) is sqrt(width * height) of the bounding box of
the head ellipse, as a fraction of the image.

Half the non-face images hold a blank head: an ellipse of a face's size and tone, with hair perhaps,
but no eyes, nose or mouth. So a network has to find the features, not just a big ellipse.
"""

import numpy as np

from tinycnn.checks import flag as check_flag
from tinycnn.checks import integer as check_count
from tinycnn.checks import probability as check_fraction
from tinycnn.data.background import add_pixel_noise, backgrounds, object_tones
from tinycnn.data.draw import (
    disk,
    ellipse,
    from_frame,
    paint,
    per_image,
    pixel_grid,
    segment,
    to_frame,
)
from tinycnn.data.seeds import dataset_rng
from tinycnn.data.sizes import check_dataset_fits

HEAD_HEIGHT = (0.44, 0.8)
"""Range of the head ellipse's height (its long axis), as a fraction of the image size."""

HEAD_ASPECT = (0.72, 0.86)
"""Range of the head's width over its height."""

MAX_TILT = np.radians(15.0)
"""Largest tilt of a face, either way."""

HAIR_PROBABILITY = 0.7
"""Share of heads with hair."""

BLANK_HEAD_PROBABILITY = 0.5
"""Share of non-face images holding a blank head."""

CHUNK = 1024
"""Images drawn at once: enough to make the array operations efficient, small enough for memory."""

WORKING_ARRAYS = 7
"""Image-sized float32 arrays that drawing one portrait of a chunk needs at its peak: 6.3
measured with tracemalloc at 32 and 64 pixels, and some to spare (see `sizes`)."""


def landmark_dataset(n, image_size=64, seed=0, no_face_fraction=0.25, return_face_sizes=False):
    """n random portraits: images (n, 1, image_size, image_size) float32 in [0, 1], targets (n, 7).

    round(n * no_face_fraction) images have no face, in random order. With return_face_sizes=True
    also returns face_sizes (n,) float32: sqrt(width * height) of each face's bounding box as a
    fraction of the image, 0 for non-faces. The same n and seed give the same portraits (the
    balance is over all n, so a larger n is another draw, not the same portraits and more);
    seed is an integer >= 0 (see `seeds`: None is refused).
    """
    n = check_count(n, "n", minimum=0)
    image_size = check_count(image_size, "image_size", minimum=16)
    check_fraction(no_face_fraction, "no_face_fraction")
    check_flag(return_face_sizes, "return_face_sizes")
    check_dataset_fits(n, image_size, image_size, WORKING_ARRAYS, CHUNK)
    rng = dataset_rng(seed)
    is_face = rng.permutation(np.arange(n) >= round(n * no_face_fraction))
    images = np.empty((n, 1, image_size, image_size), dtype=np.float32)
    targets = np.zeros((n, 7), dtype=np.float32)
    face_sizes = np.zeros(n, dtype=np.float32)
    for start in range(0, n, CHUNK):
        chunk = slice(start, start + CHUNK)
        images[chunk, 0], landmarks, sizes = _draw_portraits(rng, is_face[chunk], image_size)
        targets[chunk, 0] = is_face[chunk]
        targets[chunk, 1:] = landmarks / image_size
        face_sizes[chunk] = sizes / image_size
    if return_face_sizes:
        return images, targets, face_sizes
    return images, targets


def _draw_portraits(rng, is_face, size):
    """Draw one portrait per entry of is_face (N,) bool.

    Returns images (N, size, size) float32 in [0, 1], landmarks (N, 6) in pixels (left mouth
    corner, right mouth corner, chin; zeros where no face) and face sizes (N,) in pixels.
    """
    xs, ys = pixel_grid(size)
    images, base_tones = backgrounds(rng, xs, ys, len(is_face))
    landmarks = np.zeros((len(is_face), 6), dtype=np.float32)
    face_sizes = np.zeros(len(is_face), dtype=np.float32)

    faces = np.flatnonzero(is_face)
    shapes = _face_shapes(rng, len(faces), size)
    heads, hair, features = _draw_faces(xs, ys, shapes)
    images[faces] = _painted_heads(rng, images[faces], base_tones[faces], heads, hair, features)
    landmarks[faces] = _face_landmarks(shapes)
    face_sizes[faces] = np.sqrt(np.prod(_face_box_sizes(shapes), axis=0))

    non_faces = np.flatnonzero(~is_face)
    blanks = non_faces[rng.random(len(non_faces)) < BLANK_HEAD_PROBABILITY]
    heads, hair, features = _draw_faces(xs, ys, _face_shapes(rng, len(blanks), size))
    featureless = np.zeros_like(features)
    blank_tones = base_tones[blanks]
    images[blanks] = _painted_heads(rng, images[blanks], blank_tones, heads, hair, featureless)

    add_pixel_noise(rng, images)
    np.clip(images, 0.0, 1.0, out=images)
    return images, landmarks, face_sizes


def _painted_heads(rng, images, base_tones, heads, hair, features):
    """Copies of images (N, H, W) with the heads, hair and features painted in contrasting tones."""
    images = images.copy()
    skin_tones = object_tones(rng, base_tones)
    # Features come close to the background's tone, hair halfway: both stand out from the skin.
    feature_tones = skin_tones + 0.85 * (base_tones - skin_tones)
    hair_tones = skin_tones + 0.45 * (base_tones - skin_tones)
    paint(images, heads, per_image(skin_tones))
    paint(images, hair, per_image(hair_tones))
    paint(images, features, per_image(feature_tones))
    return images


def _face_shapes(rng, n, size):
    """n random faces wholly inside an image of the given size: a dict of (n,) arrays.

    Lengths are in pixels: head_rx and head_ry are the head's semi-axes, centre_x and centre_y its
    centre in the image; mouth_y, mouth_half_width, smile and hair_line (where the hair ends) are
    in the face's frame (see the module docstring). tilt is in radians.
    """
    head_ry = rng.uniform(*HEAD_HEIGHT, size=n) * size / 2
    head_rx = head_ry * rng.uniform(*HEAD_ASPECT, size=n)
    # No hair is hair that ends above the head.
    has_hair = rng.random(n) < HAIR_PROBABILITY
    hair_line = head_ry * np.where(has_hair, rng.uniform(-0.6, -0.35, size=n), -1.0)
    shapes = {
        "head_rx": head_rx,
        "head_ry": head_ry,
        "tilt": rng.uniform(-MAX_TILT, MAX_TILT, size=n),
        "mouth_y": head_ry * rng.uniform(0.42, 0.58, size=n),
        "mouth_half_width": head_rx * rng.uniform(0.3, 0.55, size=n),
        "smile": head_ry * rng.uniform(-0.14, 0.14, size=n),
        "hair_line": hair_line,
    }
    box_width, box_height = _face_box_sizes(shapes)
    shapes["centre_x"] = rng.uniform(box_width / 2, size - box_width / 2)
    shapes["centre_y"] = rng.uniform(box_height / 2, size - box_height / 2)
    return shapes


def _face_box_sizes(shapes):
    """Width and height (N,) of the bounding box of each tilted head ellipse, in pixels."""
    rx, ry, tilt = shapes["head_rx"], shapes["head_ry"], shapes["tilt"]
    width = 2 * np.hypot(rx * np.cos(tilt), ry * np.sin(tilt))
    height = 2 * np.hypot(rx * np.sin(tilt), ry * np.cos(tilt))
    return width, height


def _draw_faces(xs, ys, shapes):
    """Masks (N, H, W) of the heads, of their hair, and of their features (eyes, nose, mouth)."""
    rx, ry, tilt = (per_image(shapes[key]) for key in ("head_rx", "head_ry", "tilt"))
    # Every part is drawn in the face's own frame: u across the face, v down it.
    u, v = to_frame(xs - per_image(shapes["centre_x"]), ys - per_image(shapes["centre_y"]), tilt)
    heads = ellipse(u, v, 0.0, 0.0, rx, ry)
    hair = heads & (v < per_image(shapes["hair_line"]))
    left_eye = ellipse(u, v, -0.38 * rx, -0.18 * ry, 0.13 * rx, 0.1 * ry)
    right_eye = ellipse(u, v, 0.38 * rx, -0.18 * ry, 0.13 * rx, 0.1 * ry)
    nose = segment(u, v, 0.0, -0.05 * ry, 0.04 * rx, 0.22 * ry, 0.1 * rx)
    mouth_y, half_width = per_image(shapes["mouth_y"]), per_image(shapes["mouth_half_width"])
    mouth_curve = mouth_y + per_image(shapes["smile"]) * (1 - (u / half_width) ** 2)
    lip = 0.07 * ry  # half the mouth's thickness
    mouth = (np.abs(u) <= half_width) & (np.abs(v - mouth_curve) <= lip)
    # Round ends centred on the corners mark each corner as a dot.
    corners = disk(u, v, -half_width, mouth_y, lip) | disk(u, v, half_width, mouth_y, lip)
    return heads, hair, left_eye | right_eye | nose | mouth | corners


def _face_landmarks(shapes):
    """Landmarks (N, 6) in pixels: left mouth corner (x, y), right mouth corner, chin tip."""
    half_width, mouth_y, head_ry = shapes["mouth_half_width"], shapes["mouth_y"], shapes["head_ry"]
    left_corner, right_corner = (-half_width, mouth_y), (half_width, mouth_y)
    chin = (np.zeros_like(head_ry), head_ry)
    landmarks = []
    for u, v in (left_corner, right_corner, chin):
        dx, dy = from_frame(u, v, shapes["tilt"])
        landmarks += [shapes["centre_x"] + dx, shapes["centre_y"] + dy]
    return np.stack(landmarks, axis=1).astype(np.float32)
