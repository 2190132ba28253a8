"""Real faces in real photographs: the lecture's vectors with K = 1, split by face and by photo.

Everything but the last two tests needs scikit-image (the optional extra `real`), and is skipped
without it."""

import subprocess
import sys

import numpy as np
import pytest

from tinycnn.data import real_faces
from tinycnn.targets import BOX, CLASSES, P_C


@pytest.fixture(scope="module")
def skimage():
    return pytest.importorskip("skimage")


def test_images_and_targets_in_the_lectures_format(skimage):
    images, y = real_faces.real_face_dataset(40, image_size=64, seed=0)
    assert images.shape == (40, 1, 64, 64) and images.dtype == np.float32
    assert y.shape == (40, 6) and y.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1 and images.std() > 0.05
    has_face = y[:, P_C] == 1
    assert has_face.sum() == 20
    assert np.all(y[~has_face] == 0)
    assert np.all(y[has_face][:, CLASSES] == 1)
    boxes = y[has_face][:, BOX]
    assert np.all(boxes[:, 2] == boxes[:, 3]), "a pasted face is a square"
    low, high = real_faces.FACE_SIZE
    assert np.all((boxes[:, 2] >= low - 1 / 64) & (boxes[:, 2] <= high + 1 / 64))
    corners = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2])
    assert corners.min() >= 0 and corners.max() <= 1
    # Box edges on pixel boundaries: the face is pasted on whole pixels.
    assert np.all(corners * 64 == np.round(corners * 64))


def test_the_box_is_exactly_the_pasted_patch(skimage):
    rng = np.random.default_rng(3)
    for _ in range(20):
        image = np.zeros((48, 48), dtype=np.float32)
        box = real_faces._paste(rng, image, np.ones((25, 25), dtype=np.float32))
        x_min, y_min = (box[:2] - box[2:] / 2) * 48
        x_max, y_max = (box[:2] + box[2:] / 2) * 48
        rows, cols = np.nonzero(image)
        assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == pytest.approx(
            (x_min, y_min, x_max, y_max)
        )


def test_same_seed_same_data_and_the_splits_differ(skimage):
    first = real_faces.real_face_dataset(12, image_size=64, seed=4)
    again = real_faces.real_face_dataset(12, image_size=64, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    other_seed = real_faces.real_face_dataset(12, image_size=64, seed=5)
    test = real_faces.real_face_dataset(12, image_size=64, split="test", seed=4)
    assert not np.array_equal(first[0], other_seed[0])
    assert not np.array_equal(first[0], test[0])


def test_held_out_faces_and_photographs_are_never_in_training(skimage):
    train_faces, train_others = real_faces._split_patches("train")
    test_faces, test_others = real_faces._split_patches("test")
    assert len(test_faces) == len(test_others) == 30 and len(train_faces) == 70
    lfw = skimage.data.lfw_subset()
    index = {lfw[i].astype(np.float32).tobytes(): i for i in range(len(lfw))}
    train = {index[face.tobytes()] for face in np.concatenate([train_faces, train_others])}
    test = {index[face.tobytes()] for face in np.concatenate([test_faces, test_others])}
    assert not train & test and len(train | test) == 200
    assert {i for i in train | test if i < 100} == {
        index[f.tobytes()] for f in np.concatenate([train_faces, test_faces])
    }
    assert not set(real_faces.TRAIN_PHOTOS) & set(real_faces.TEST_PHOTOS)
    assert not {"astronaut", "camera"} & set(real_faces.TRAIN_PHOTOS + real_faces.TEST_PHOTOS)


def test_test_images_come_from_test_photographs_only(skimage, monkeypatch):
    used = []
    crop = real_faces._photo_crop
    monkeypatch.setattr(
        real_faces,
        "_photo_crop",
        lambda rng, name, size: used.append(name) or crop(rng, name, size),
    )
    real_faces.real_face_dataset(30, image_size=64, split="test", seed=0)
    assert set(used) <= set(real_faces.TEST_PHOTOS) and len(set(used)) > 1
    used.clear()
    real_faces.real_face_dataset(30, image_size=64, split="train", seed=0)
    assert set(used) <= set(real_faces.TRAIN_PHOTOS)


def test_every_photograph_loads_offline(skimage):
    for name in real_faces.TRAIN_PHOTOS + real_faces.TEST_PHOTOS + ("astronaut",):
        photo = real_faces.load_photo(name)
        assert photo.ndim == 2 and photo.dtype == np.float32
        assert 0 <= photo.min() and photo.max() <= 1 and min(photo.shape) > 64


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"n": -1}, ValueError, "n"),
        ({"n": 2.0}, TypeError, "n"),
        ({"n": "2"}, TypeError, "n"),
        ({"n": 2, "image_size": 16}, ValueError, "image_size"),
        ({"n": 2, "image_size": 1000}, ValueError, "image_size"),
        ({"n": 2, "image_size": 64.0}, TypeError, "image_size"),
        ({"n": 2, "split": "validation"}, ValueError, "split"),
        ({"n": 2, "split": 0}, TypeError, "split"),
        ({"n": 2, "seed": "0"}, TypeError, "seed"),
        ({"n": 2, "seed": -3}, ValueError, "seed"),
        ({"n": 2, "seed": True}, TypeError, "seed"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, name):
    # Checked before scikit-image is needed: these run without it too.
    with pytest.raises(error, match=name):
        real_faces.real_face_dataset(**kwargs)


def test_without_scikit_image_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # import skimage now fails
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e \"\.\[real\]\""):
        real_faces._require_skimage()


def test_importing_tinycnn_does_not_import_scikit_image():
    code = "import sys, tinycnn; tinycnn.data.real_face_dataset; print('skimage' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "name, error", [("nope", ValueError), ("_fetch", ValueError), (3, TypeError)]
)
def test_load_photo_names_a_name_that_is_no_photograph(skimage, name, error):
    """An unknown name gave skimage's AttributeError "No skimage.data attribute nope"."""
    with pytest.raises(error, match=r"^name must be the name of a .*photograph"):
        real_faces.load_photo(name)


def test_load_photo_reads_a_photograph_in_grey(skimage):
    photo = real_faces.load_photo("coffee")
    assert photo.ndim == 2 and photo.dtype == np.float32 and 0 <= photo.min() <= photo.max() <= 1
