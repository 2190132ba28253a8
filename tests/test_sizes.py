"""tinycnn.data.sizes: every dataset counts the memory its arguments ask for before drawing
anything, and refuses, naming the argument, what this machine cannot hold."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn import checks
from tinycnn.data import crops, detection, faces, scenes
from tinycnn.data.sizes import check_dataset_fits

# name -> (call with n and a size, the size argument's name)
DATASETS = {
    "localization_dataset": (
        lambda n, size: tc.data.localization_dataset(n, image_size=size),
        "image_size",
    ),
    "landmark_dataset": (
        lambda n, size: tc.data.landmark_dataset(n, image_size=size),
        "image_size",
    ),
    "detection_dataset": (
        lambda n, size: tc.data.detection_dataset(n, image_size=size),
        "image_size",
    ),
    "crop_dataset": (lambda n, size: tc.data.crop_dataset(n, crop_size=size), "crop_size"),
    # checked before scikit-image is needed, so this runs without it too
    "real_face_dataset": (
        lambda n, size: tc.data.real_face_dataset(n, image_size=size),
        "image_size",
    ),
}

huge = st.one_of(st.integers(10**9, 10**30), st.sampled_from([2**63 - 1, 2**63, 2**64, 10**400]))


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=DATASETS.keys())
@settings(max_examples=15, deadline=None)
@given(n=huge)
def test_too_many_images_are_refused_at_once_by_name(dataset, n):
    call, _ = dataset
    with pytest.raises(ValueError, match=r"^n is too large: .* more than this machine can hold"):
        call(n, 64)


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=DATASETS.keys())
@settings(max_examples=15, deadline=None)
@given(size=huge, n=st.integers(0, 4))
def test_too_large_images_are_refused_by_their_size_argument_even_for_no_images(dataset, size, n):
    # never numpy's "Maximum allowed dimension exceeded" or "array is too big", which name nothing
    call, name = dataset
    if name == "image_size" and call is DATASETS["real_face_dataset"][0]:
        with pytest.raises(ValueError, match=r"^image_size must be at most 160"):
            call(n, size)
        return
    with pytest.raises(ValueError, match=rf"^{name} is too large: one image of"):
        call(n, size * 16)


@pytest.mark.parametrize("name", ["height", "width"])
def test_the_sliding_window_scene_refuses_a_size_it_cannot_hold_by_name(name):
    for size in (10**6, 2**63, 2**64):
        with pytest.raises(ValueError, match=rf"^{name} is too large"):
            tc.data.sliding_window_scene(**{name: size})


def test_the_sliding_window_scene_blames_the_crop_size_the_caller_changed():
    with pytest.raises(
        ValueError, match=r"^crop_size must be an integer in \[16, 40\] for a 96x160"
    ):
        tc.data.sliding_window_scene(crop_size=96)
    with pytest.raises(ValueError, match=r"^height must be an integer >= 64"):
        tc.data.sliding_window_scene(height=48)
    with pytest.raises(ValueError, match=r"^crop_size must be .* for a 40x160"):
        tc.data.sliding_window_scene(height=40, crop_size=24)


def test_the_detection_scenes_are_not_planned_when_they_cannot_be_held(monkeypatch):
    # The plans are a loop over n: detection_dataset(2**63) used to run it for ever.
    monkeypatch.setattr(checks, "memory_bytes", lambda: 10**7)
    planned = []
    monkeypatch.setattr(detection, "_plan_scene", lambda rng: planned.append(1))
    with pytest.raises(ValueError, match=r"^n is too large: 1,000 images of 64x64"):
        tc.data.detection_dataset(1000)
    assert planned == []


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=DATASETS.keys())
def test_the_bound_is_this_machine_s_memory(dataset, monkeypatch):
    # 1,000 images of 64x64 pixels take 16 MB: refused on a machine of 10 MB, before anything
    # near that size is allocated
    call, _ = dataset
    monkeypatch.setattr(checks, "memory_bytes", lambda: 10**7)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^n is too large: 1,000 images of 64x64 pixels"):
            call(1000, 64)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10**6


@pytest.mark.parametrize(
    "dataset, working, chunk, row_bytes",
    [
        (
            lambda n: tc.data.localization_dataset(n, image_size=32),
            scenes.WORKING_ARRAYS,
            1024,
            128,
        ),
        (lambda n: tc.data.landmark_dataset(n, image_size=32), faces.WORKING_ARRAYS, 1024, 128),
        (
            lambda n: tc.data.detection_dataset(n, image_size=32),
            detection.WORKING_ARRAYS,
            512,
            detection.SCENE_BYTES,
        ),
        (lambda n: tc.data.crop_dataset(n, crop_size=32), crops.WORKING_ARRAYS, None, 128),
    ],
    ids=["localization", "landmark", "detection", "crop"],
)
def test_the_count_covers_what_drawing_takes(dataset, working, chunk, row_bytes):
    # The bytes counted are an honest bound of the peak memory the call takes (tracemalloc sees
    # numpy's allocations), so that what the check lets through fits.
    for n in (1, 100, 1500):
        counted = check_dataset_fits(n, 32, 32, working, chunk, row_bytes=row_bytes)
        tracemalloc.start()
        try:
            dataset(n)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= counted, (n, peak, counted)


def test_a_dataset_that_fits_is_drawn_as_before():
    images, targets = tc.data.localization_dataset(3, image_size=32, seed=2)
    assert images.shape == (3, 1, 32, 32) and targets.shape == (3, 8)
    assert np.isfinite(images).all()


COUNTS = {"n": 2, "height": 8, "width": 8, "working": 1, "chunk": 1, "row_bytes": 128}


@pytest.mark.parametrize(
    "name, value",
    [
        (name, value)
        for name in COUNTS
        for value in ["8", 8.0, True, None, object()]
        if not (name == "chunk" and value is None)  # None: all at once
    ],
)
def test_check_dataset_fits_names_a_count_that_is_no_integer(name, value):
    """They met arithmetic first: str + int, None * int, Python's messages naming no argument
    (a float or a bool went through)."""
    with pytest.raises(TypeError, match=rf"^{name} must be a (positive|non-negative) integer"):
        check_dataset_fits(**{**COUNTS, name: value})
