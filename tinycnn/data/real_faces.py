"""Real faces in real photographs, from the data scikit-image ships in its wheel.

`real_face_dataset` pastes real face crops from Labeled Faces in the Wild into random crops of
real photographs, and gives each image the lecture's localization vector with K = 1 class:

    [p_c, b_x, b_y, b_h, b_w, c_face]

the box exactly the pasted face's square, as fractions of the image. Images without a face
(p_c = 0, all six entries 0) are photograph crops; half of them hold a pasted LFW *non*-face
patch, pasted the same way as the faces, so that "something was pasted here" does not give the
answer away.

Where the pixels come from (all inside the scikit-image wheel, nothing is downloaded):

- `skimage.data.lfw_subset()`: 200 grayscale 25x25 crops, 100 faces then 100 non-faces. The
  subset carries no names, so the faces are split *by index*: FACE_SPLIT holds 70 for training
  and 30 for testing. LFW has several photos of some people (a few faces here look like the same
  person), so a test face may share its identity with a training face; no *photo* is in both.
- photographs: TRAIN_PHOTOS for training, TEST_PHOTOS for testing, never mixed. Colour photos
  are turned to grey. `camera` is left out: the cameraman's face would turn up in "no face"
  crops. `astronaut` is left out too: it is the final test of lesson 9.

Each image: a photograph of the split at a random scale (a level of its image pyramid), a random
image_size x image_size crop of it, and for a face image one face of the split resized to
FACE_SIZE of the image, at a random place, with random contrast, its border blended into the
photograph over FEATHER of its size so that no sharp square edge marks it.

scikit-image is an optional extra (`pip install -e ".[real]"`); it is imported when this module's
functions run, never by `import tinycnn`.
"""

import functools

import numpy as np

from tinycnn import checks
from tinycnn.data.seeds import dataset_rng
from tinycnn.data.sizes import check_dataset_fits
from tinycnn.targets import encode_localization_batch

SPLITS = ("train", "test")

TRAIN_PHOTOS = ("chelsea", "coins", "moon", "hubble_deep_field", "brick", "grass", "text", "clock")
"""Photographs that training crops come from (names of `skimage.data` functions)."""

TEST_PHOTOS = ("coffee", "rocket", "page", "gravel")
"""Photographs that test crops come from: a kitchen table, a launch pad, a printed page and a
texture, none of them seen in training."""

FACE_COUNT = 100
"""Faces in lfw_subset (its first 100 images); the next 100 are non-faces."""

TEST_SHARE = 0.3
"""Share of the faces, and of the non-faces, kept for testing."""

SPLIT_SEED = 14
"""The fixed seed of the face split: the same faces are held out whatever seed the data uses."""

FACE_SIZE = (0.3, 0.7)
"""Range of a pasted face's side, as a fraction of the image."""

FEATHER = 0.12
"""Width of the blended border of a pasted patch, as a fraction of its side."""

NO_FACE_FRACTION = 0.5
"""Share of images without a face."""

PYRAMID_LEVELS = 6
"""Scales per photograph, from the whole photograph's short side down to 1.5 crops."""

MAX_IMAGE_SIZE = 160
"""Largest image_size: the smallest photograph (page, 191 pixels high) still fits a crop."""


def real_face_dataset(n, image_size=64, split="train", seed=0):
    """n images (n, 1, image_size, image_size) float32 in [0, 1], and targets y (n, 6) float32.

    split="train" uses only the training faces, non-faces and photographs; split="test" only the
    held-out ones. A share NO_FACE_FRACTION of the images have no face. The same (n, seed,
    split) gives the same data; train and test with the same seed are drawn independently. seed is
    an integer >= 0 (see `tinycnn.data.seeds`: None is refused).
    """
    n = checks.integer(n, "n", minimum=0)
    image_size = checks.integer(image_size, "image_size", minimum=32)
    if image_size > MAX_IMAGE_SIZE:
        raise ValueError(
            f"image_size must be at most {MAX_IMAGE_SIZE} (the smallest photograph "
            f"must hold a crop), got {image_size}"
        )
    if not isinstance(split, str):
        raise TypeError(f"split must be a string, 'train' or 'test', got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    # One image is drawn at a time; photographs and faces are cached, whatever n is.
    check_dataset_fits(n, image_size, image_size, working=1, chunk=1)
    rng = dataset_rng(seed, SPLITS.index(split))
    faces, non_faces = _split_patches(split)
    photos = TRAIN_PHOTOS if split == "train" else TEST_PHOTOS
    has_face = rng.permutation(np.arange(n) >= round(n * NO_FACE_FRACTION))
    images = np.empty((n, 1, image_size, image_size), dtype=np.float32)
    boxes = np.zeros((n, 4))
    for index in range(n):
        image = _photo_crop(rng, photos[rng.integers(len(photos))], image_size)
        if has_face[index] or rng.random() < 0.5:
            patches = faces if has_face[index] else non_faces
            boxes[index] = _paste(rng, image, patches[rng.integers(len(patches))])
        images[index, 0] = image
    labels = np.where(has_face, 0, -1)
    return images, encode_localization_batch(labels, boxes, num_classes=1)


def _split_patches(split):
    """The faces and the non-faces (each (M, 25, 25) float32 in [0, 1]) of a split."""
    lfw = _lfw_subset()
    order = np.random.default_rng(SPLIT_SEED).permutation(FACE_COUNT)
    held_out = round(FACE_COUNT * TEST_SHARE)
    chosen = order[:held_out] if split == "test" else order[held_out:]
    return lfw[chosen], lfw[FACE_COUNT + chosen]


def _photo_crop(rng, name, size):
    """A random size x size crop of photograph `name` at a random level of its pyramid."""
    levels = _pyramid(name, size)
    level = levels[rng.integers(len(levels))]
    top = rng.integers(level.shape[0] - size + 1)
    left = rng.integers(level.shape[1] - size + 1)
    return level[top : top + size, left : left + size].copy()


def _paste(rng, image, patch):
    """Blend `patch` into `image` (S, S), in place, at a random size and place; return its box
    [b_x, b_y, b_h, b_w] as fractions of the image."""
    size = image.shape[0]
    side = int(round(rng.uniform(*FACE_SIZE) * size))
    resized = _resized(patch, side)
    # Random contrast and brightness around the patch's own mean, kept within [0, 1].
    mean = resized.mean()
    resized = np.clip(
        mean + rng.uniform(0.7, 1.3) * (resized - mean) + rng.uniform(-0.15, 0.15), 0.0, 1.0
    )
    top, left = rng.integers(size - side + 1, size=2)
    region = image[top : top + side, left : left + side]
    alpha = _feather(side)
    region[...] = alpha * resized + (1 - alpha) * region
    return np.array([(left + side / 2) / size, (top + side / 2) / size, side / size, side / size])


def _require_skimage():
    """Import scikit-image, or say how to install it."""
    try:
        import skimage  # noqa: F401
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "real photographs need scikit-image, an optional extra of tinycnn: install it with "
            'pip install -e ".[real]" (or pip install scikit-image)'
        ) from error
    import skimage.data

    return skimage


def load_photo(name):
    """A bundled scikit-image photograph (the name of a function of skimage.data, e.g. one of
    TRAIN_PHOTOS or TEST_PHOTOS) as a grey float32 image in [0, 1]."""
    if not isinstance(name, str):
        raise TypeError(
            f"name must be the name of a scikit-image photograph, got {type(name).__name__}"
        )
    skimage = _require_skimage()
    from skimage.color import rgb2gray

    photo = None if name.startswith("_") else getattr(skimage.data, name, None)
    image = photo() if callable(photo) else None
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ValueError(
            f"name must be the name of a photograph in skimage.data, e.g. one of "
            f"{TRAIN_PHOTOS + TEST_PHOTOS}, got {name!r}"
        )
    if image.ndim == 3:
        image = rgb2gray(image[..., :3])
    elif image.dtype == np.uint8:
        image = image / 255.0
    return np.asarray(image, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _lfw_subset():
    skimage = _require_skimage()
    return skimage.data.lfw_subset().astype(np.float32)


@functools.lru_cache(maxsize=64)
def _pyramid(name, size):
    """PYRAMID_LEVELS grey versions of the photograph, its short side from full size down to
    1.5 x size, each smoothed before shrinking (no aliasing)."""
    _require_skimage()
    from skimage.transform import rescale

    photo = load_photo(name)
    short = min(photo.shape)
    scales = np.geomspace(1.0, 1.5 * size / short, PYRAMID_LEVELS)
    return tuple(
        np.asarray(rescale(photo, scale, anti_aliasing=scale < 1), dtype=np.float32)
        for scale in scales
    )


@functools.lru_cache(maxsize=4096)
def _resized_cached(patch_bytes, side):
    from skimage.transform import resize

    patch = np.frombuffer(patch_bytes, dtype=np.float32).reshape(25, 25)
    return np.asarray(resize(patch, (side, side), anti_aliasing=side < 25), dtype=np.float32)


def _resized(patch, side):
    return _resized_cached(np.ascontiguousarray(patch, dtype=np.float32).tobytes(), side)


@functools.lru_cache(maxsize=256)
def _feather(side):
    """(side, side) blending weights: 1 inside, falling linearly to 0 over the outer FEATHER."""
    width = max(FEATHER * side, 1.0)
    distance = np.minimum(np.arange(side), np.arange(side)[::-1]) + 0.5
    ramp = np.clip(distance / width, 0.0, 1.0)
    return np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)
