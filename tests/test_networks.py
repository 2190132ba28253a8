"""The course's networks: their shapes, their untrained "I don't know" answers, their seeds."""

import numpy as np
import pytest

import tinycnn as tc
from tinycnn.networks import landmark_detector, localizer, small_cnn
from tinycnn.outputs import LandmarkOutput, LocalizationOutput
from tinycnn.targets import BOX, CLASSES, IS_FACE, P_C, POINTS


def scenes(n=4):
    return tc.data.localization_dataset(n, seed=0)[0]


def portraits(n=4):
    return tc.data.landmark_dataset(n, seed=0)[0]


def test_three_blocks_then_two_dense_layers():
    model = localizer()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["ConvReLUMaxPool2D"] * 3 + ["Flatten", "Dense", "ReLU", "Dense"]
    assert model.forward(scenes()).shape == (4, 8)
    assert landmark_detector().forward(portraits()).shape == (4, 7)


def test_other_sizes_and_widths():
    model = small_cnn(5, image_size=32, channels=(4, 8), hidden=16)
    assert model.forward(np.zeros((2, 1, 32, 32), dtype=np.float32)).shape == (2, 5)
    assert localizer(num_classes=5).forward(scenes(1)).shape == (1, 10)


def test_image_size_must_survive_three_poolings():
    with pytest.raises(ValueError, match="divisible by 8"):
        localizer(image_size=60)


def test_untrained_localizer_does_not_know():
    y_hat = LocalizationOutput(3)(localizer().forward(scenes(16)))
    np.testing.assert_allclose(y_hat[:, P_C], 0.5, atol=0.1)
    np.testing.assert_allclose(y_hat[:, CLASSES], 1 / 3, atol=0.1)
    np.testing.assert_allclose(y_hat[:, BOX], 0.5, atol=0.25)


def test_untrained_landmark_detector_does_not_know():
    y_hat = LandmarkOutput(3)(landmark_detector().forward(portraits(16)))
    np.testing.assert_allclose(y_hat[:, IS_FACE], 0.5, atol=0.1)
    np.testing.assert_allclose(y_hat[:, POINTS], 0.5, atol=0.25)


def test_same_seed_same_weights():
    first, again, other = localizer(rng=0), localizer(rng=0), localizer(rng=1)
    for (_, _, a, _), (_, _, b, _), (_, _, c, _) in zip(
        first.parameters(), again.parameters(), other.parameters(), strict=True
    ):
        assert np.array_equal(a, b)
        assert a.shape == c.shape
    assert not np.array_equal(first.layers[0].params["W"], other.layers[0].params["W"])


def test_saved_and_loaded_keeps_the_starting_biases(tmp_path):
    model = localizer()
    tc.save(model, tmp_path / "model.npz")
    loaded = tc.load(tmp_path / "model.npz")
    assert np.array_equal(loaded.forward(scenes()), model.forward(scenes()))


def test_the_output_map_is_chosen_where_the_network_is_built():
    assert localizer(output=tc.losses.LocalizationLoss(3).output).output == LocalizationOutput(3)
    assert landmark_detector(output=LandmarkOutput(3)).output == LandmarkOutput(3)
    assert small_cnn(8, output=LocalizationOutput(3)).output == LocalizationOutput(3)
    assert localizer().output == tc.outputs.Identity()
    with pytest.raises(ValueError, match="do not match"):
        localizer(num_classes=2, output=LocalizationOutput(3))


@pytest.mark.parametrize(
    "arguments, error",
    [
        ({"outputs": 0}, ValueError),
        ({"outputs": "8"}, TypeError),
        ({"outputs": 8, "hidden": 0}, ValueError),
        ({"outputs": 8, "channels": ()}, ValueError),
        ({"outputs": 8, "channels": 8}, TypeError),
        ({"outputs": 8, "image_size": 60}, ValueError),
        ({"outputs": 8, "rng": "x"}, TypeError),
        ({"outputs": 8, "dtype": np.int32}, TypeError),
        ({"outputs": 8, "dtype": "float16"}, TypeError),
    ],
)
def test_small_cnn_checks_its_arguments(arguments, error):
    with pytest.raises(error):
        small_cnn(**arguments)


@pytest.mark.parametrize(
    "build, image_size",
    [
        (lambda dtype: localizer(image_size=8, dtype=dtype), 8),
        (lambda dtype: landmark_detector(image_size=8, dtype=dtype), 8),
        (
            lambda dtype: tc.networks.detector(
                image_size=32, channels=(2, 3, 2, 3, 2), dtype=dtype
            ),
            32,  # the last batch norm normalizes 2 x 2 x 3 numbers per channel, not degenerate
        ),
    ],
    ids=["localizer", "landmark_detector", "detector"],
)
def test_the_builders_make_float64_networks_whose_gradients_check(build, image_size):
    """dtype=np.float64 builds the same network in float64, the same weights drawn: the whole
    network's backward matches central differences (float64, h = 1e-6) to 1e-6 relative error."""
    model, model32 = build(np.float64), build(np.float32)
    for (_, name, param, _), (_, _, param32, _) in zip(
        model.parameters(), model32.parameters(), strict=True
    ):
        assert param.dtype == np.float64 and param32.dtype == np.float32, name
        np.testing.assert_allclose(param, param32, rtol=1e-6)  # the same draws
    x = np.random.default_rng(0).random((3, 1, image_size, image_size))
    errors = tc.gradcheck.check_gradients(model, x)
    before_norm = [
        layer
        for layer, after in zip(model.layers, model.layers[1:], strict=False)
        if isinstance(after, tc.BatchNorm2D)
    ]
    labels = list(errors)[1:]  # after "x", one per parameter, in model.parameters()'s order
    for label, (layer, name, _, grad) in zip(labels, model.parameters(), strict=True):
        if name == "b" and any(layer is conv for conv in before_norm):
            # Batch norm subtracts each channel's mean, and the bias before it with it: its
            # gradient is zero, and the relative error of two roundings of zero means nothing.
            assert np.abs(grad).max() < 1e-12, label
            del errors[label]
    assert max(errors.values()) < 1e-6, errors


HUGE_SIZES = [
    (lambda size: localizer(num_classes=size), "num_classes"),
    (lambda size: localizer(image_size=8 * size), "image_size"),
    (lambda size: landmark_detector(num_landmarks=size), "num_landmarks"),
    (lambda size: landmark_detector(image_size=8 * size), "image_size"),
    (lambda size: small_cnn(size), "outputs"),
    (lambda size: small_cnn(8, hidden=size), "hidden"),
    (lambda size: small_cnn(8, image_size=8 * size), "image_size"),
    (lambda size: small_cnn(8, channels=(8, size, 32)), "channels"),
    (lambda size: tc.networks.detector(num_classes=size), "num_classes"),
    (lambda size: tc.networks.detector(num_anchors=size), "num_anchors"),
    (lambda size: tc.networks.detector(channels=(8, 16, size, 64, 128)), "channels"),
]


@pytest.mark.parametrize("build, name", HUGE_SIZES, ids=[name for _, name in HUGE_SIZES])
@pytest.mark.parametrize("size", [10**7 * 1024, 2**63, 2**64, 10**40])
def test_a_size_this_machine_cannot_hold_is_refused_by_the_builder_s_own_argument(
    build, name, size
):
    # Counted from the arguments before any layer is built: never a Dense layer's message about
    # features the caller did not pass, nor numpy's "Maximum allowed dimension exceeded".
    with pytest.raises(ValueError, match=rf"^{name} is too large: the network's float\d\d weights"):
        build(size)


def test_the_bound_is_this_machine_s_memory_and_nothing_is_drawn_before_it(monkeypatch):
    import tracemalloc

    from tinycnn import checks

    # Dense(512, 20000) holds 10 million weights: 40 MB, and 160 MB of float64 while drawn
    monkeypatch.setattr(checks, "memory_bytes", lambda: 5 * 10**7)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^hidden is too large: .*in Dense\(512, 20000\)"):
            small_cnn(8, image_size=32, channels=(4, 8), hidden=20_000)
        with pytest.raises(ValueError, match=r"^image_size is too large: .*in Dense\(32768, 128\)"):
            localizer(image_size=256)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10**6
    # sizes that fit still build
    assert small_cnn(8, image_size=32, channels=(4, 8), hidden=200).layers[-3].params[
        "W"
    ].shape == (512, 200)


@pytest.mark.parametrize("size", [10**6, 2**63, 10**30])
def test_convolutionalize_refuses_a_crop_this_machine_cannot_hold_by_input_shape(size):
    # it runs one crop through the layers to find the last feature map: counted first
    classifier = tc.Sequential(
        [tc.Conv2D(1, 4, 3, rng=0), tc.ReLU(), tc.MaxPool2D(2), tc.Flatten(), tc.Dense(4, 2, rng=1)]
    )
    with pytest.raises(ValueError, match=r"^input_shape is too large: one crop of \(1, "):
        tc.networks.convolutionalize(classifier, (1, size, size))
    with pytest.raises(ValueError, match=r"^input_shape is too large"):
        tc.networks.convolutionalize(classifier, (size * 10**4, 4, 4))
    assert tc.networks.convolutionalize(classifier, (1, 4, 4)).predict(
        np.zeros((1, 1, 4, 4), np.float32)
    ).shape == (1, 2, 1, 1)


@pytest.mark.parametrize(
    "build, output",
    [
        (landmark_detector, tc.losses.LocalizationLoss(2).output),  # both 7 numbers wide
        (localizer, tc.losses.LandmarkLoss(3).output),
        (tc.networks.detector, tc.losses.LocalizationLoss(3).output),
    ],
    ids=["landmarks read as a localization", "a localization read as landmarks", "detector"],
)
def test_a_builder_refuses_the_output_map_of_another_kind_of_vector(build, output):
    """A 2-class localization vector and a 3-point landmark vector are both 7 numbers wide: the
    width alone cannot tell the maps apart, their kind can."""
    kwargs = {"num_classes": 2} if build is localizer else {}
    with pytest.raises(ValueError, match=r"output must be this network's loss's map"):
        build(output=output, **kwargs)


def test_a_builder_takes_its_own_losses_maps_and_the_squared_losses_identity():
    assert isinstance(landmark_detector(output=tc.losses.LandmarkLoss(3).output), tc.Sequential)
    assert isinstance(
        landmark_detector(output=tc.losses.SquaredLandmarkLoss(3).output), tc.Sequential
    )
    grid = tc.detection.SquaredGridLoss(3).output
    assert tc.networks.detector(channels=(2, 2, 2, 2, 2), output=grid).output == grid
