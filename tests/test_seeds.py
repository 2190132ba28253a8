"""Seeds: every dataset takes an integer seed >= 0 and refuses anything else by name."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.data.seeds import dataset_rng

DATASETS = {
    "localization_dataset": lambda seed: tc.data.localization_dataset(2, seed=seed),
    "landmark_dataset": lambda seed: tc.data.landmark_dataset(2, seed=seed),
    "detection_dataset": lambda seed: tc.data.detection_dataset(2, seed=seed),
    "crop_dataset": lambda seed: tc.data.crop_dataset(2, seed=seed),
    "sliding_window_scene": lambda seed: tc.data.sliding_window_scene(seed=seed),
    # the seed is checked before scikit-image is needed, so this runs without it too
    "real_face_dataset": lambda seed: tc.data.real_face_dataset(2, seed=seed),
}

not_a_seed = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.integers(max_value=-1),
    st.just(np.float64(3.0)),
    st.just([1, 2]),
    st.just(np.random.default_rng(0)),
)


def test_an_integer_seed_gives_numpys_generator_for_it():
    assert dataset_rng(7).random() == np.random.default_rng(7).random()
    assert dataset_rng(np.int64(7)).random() == np.random.default_rng(7).random()
    assert dataset_rng(7, 1).random() == np.random.default_rng([7, 1]).random()


def test_none_is_refused_with_the_reason():
    with pytest.raises(TypeError, match=r"seed must be an integer >= 0, got None.*same seed"):
        dataset_rng(None)


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=DATASETS.keys())
@given(seed=not_a_seed)
def test_every_dataset_refuses_what_is_not_a_seed_by_name(dataset, seed):
    with pytest.raises((TypeError, ValueError), match="seed must be an integer"):
        dataset(seed)


@pytest.mark.parametrize(
    "name", ["localization_dataset", "landmark_dataset", "detection_dataset", "crop_dataset"]
)
def test_every_dataset_repeats_itself_for_the_same_seed(name):
    first, second = DATASETS[name](2**70), DATASETS[name](2**70)
    np.testing.assert_array_equal(first[0], second[0])


@pytest.mark.parametrize(
    "stream, error", [("a", TypeError), (1.0, TypeError), (True, TypeError), (-1, ValueError)]
)
def test_a_stream_that_is_no_integer_is_named(stream, error):
    """numpy's default_rng said "unrecognized seed string" (a ValueError) for "a"."""
    with pytest.raises(error, match=r"^streams\[1\] must be a non-negative integer"):
        dataset_rng(7, 0, stream)
