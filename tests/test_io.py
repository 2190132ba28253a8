"""save/load: the same model back, and a clear error for anything that is not one."""

import json
import os
import re
import stat

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn as tc
from tinycnn.losses import LandmarkLoss, LocalizationLoss


def every_layer_model():
    return tc.Sequential(
        [
            tc.Conv2D(1, 4, 3, stride=2, padding=1, rng=0),
            tc.LeakyReLU(0.2),
            tc.MaxPool2D(2, 1),
            tc.Conv2D(4, 2, 3, dtype=np.float64, rng=1),
            tc.Tanh(),
            tc.Flatten(),
            tc.Dropout(0.3),
            tc.Dense(2, 8, rng=2),
            tc.Sigmoid(),
            tc.Dense(8, 8, rng=3),
            tc.ReLU(),
        ],
        output=LocalizationLoss(3).output,
    )


def test_round_trip(tmp_path):
    model = every_layer_model()
    path = tmp_path / "model.npz"
    tc.save(model, path)
    loaded = tc.load(path)
    assert repr(loaded) == repr(model)
    for (_, name, param, _), (_, loaded_name, loaded_param, _) in zip(
        model.parameters(), loaded.parameters(), strict=True
    ):
        assert name == loaded_name and loaded_param.dtype == param.dtype
        np.testing.assert_array_equal(loaded_param, param)
    x = np.random.default_rng(0).random((3, 1, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.predict(x)[:, 5:].sum(axis=1) == pytest.approx(1)  # the output map came along


def test_landmark_output_is_kept(tmp_path):
    model = tc.Sequential([tc.Dense(2, 7, rng=0)], output=LandmarkLoss().output)
    tc.save(model, tmp_path / "landmarks.npz")
    assert tc.load(tmp_path / "landmarks.npz").output.get_config() == model.output.get_config()


def test_no_pickle_is_written_or_read(tmp_path):
    tc.save(every_layer_model(), tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)


def test_not_a_tinycnn_model(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="is not a tinycnn model"):
        tc.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        tc.load(tmp_path / "text.npz")


def test_truncated_file(tmp_path):
    tc.save(every_layer_model(), tmp_path / "model.npz")
    data = (tmp_path / "model.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable .npz file"):
        tc.load(tmp_path / "cut.npz")


def test_mismatched_shapes(tmp_path):
    path = tmp_path / "model.npz"
    tc.save(tc.Sequential([tc.Dense(3, 2, rng=0)]), path)
    with np.load(path) as archive:
        entries = dict(archive)
    entries["layers.0.params.W"] = np.zeros((4, 2), dtype=np.float32)
    np.savez(path, **entries)
    with pytest.raises(
        ValueError,
        match=r"layers.0.params.W has shape \(4, 2\), but layer 0 "
        r"Dense\(3, 2\) needs \(3, 2\)",
    ):
        tc.load(path)


def test_missing_file_and_bad_model(tmp_path):
    with pytest.raises(FileNotFoundError):
        tc.load(tmp_path / "nothing.npz")
    with pytest.raises(TypeError, match="must be a tinycnn Sequential"):
        tc.save([tc.ReLU()], tmp_path / "list.npz")
    assert not (tmp_path / "list.npz").exists()


class RunningShift(tc.Layer):
    """A small layer with a param and a state array, as BatchNorm has:
    out = x - running_mean + shift, with running_mean <- 0.5 running_mean + 0.5 mean_n(x) in
    training."""

    elementwise = True

    def __init__(self, features, *, dtype=np.float64, rng=None):
        super().__init__()
        self.features = tc.checks.positive_int(features, "features")
        self.dtype = tc.checks.float_dtype(dtype)
        self.initialise(rng)

    def param_shapes(self):
        return {"shift": (self.features,)}

    def state_shapes(self):
        return {"running_mean": (self.features,)}

    def init_params(self, rng):
        return {"shift": rng.standard_normal(self.features).astype(self.dtype)}

    def init_state(self):
        return {"running_mean": np.zeros(self.features, self.dtype)}

    def get_config(self):
        return {"features": self.features, "dtype": self.dtype.name}

    def forward(self, x):
        self.check_arrays()
        if self.training:
            self.state["running_mean"] *= 0.5
            self.state["running_mean"] += 0.5 * x.mean(axis=0)
        self._cache = x.shape
        return x - self.state["running_mean"] + self.params["shift"]

    def backward(self, dout, input_grad=True):
        self.grads["shift"] = dout.sum(axis=0)
        return dout.copy() if input_grad else None


def test_state_is_saved_and_loaded(tmp_path):
    model = tc.Sequential([tc.Dense(3, 4, dtype=np.float64, rng=0), RunningShift(4, rng=1)])
    model.forward(np.random.default_rng(0).standard_normal((5, 3)))
    assert np.any(model.layers[1].state["running_mean"])
    tc.save(model, tmp_path / "stateful.npz")
    with np.load(tmp_path / "stateful.npz") as archive:
        assert "layers.1.state.running_mean" in archive.files
        assert "layers.1.params.shift" in archive.files
    loaded = tc.load(tmp_path / "stateful.npz")
    assert type(loaded.layers[1]) is RunningShift
    np.testing.assert_array_equal(
        loaded.layers[1].state["running_mean"], model.layers[1].state["running_mean"]
    )
    x = np.random.default_rng(1).standard_normal((2, 3))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_save_and_load_agree_on_the_name(tmp_path):
    model = tc.Sequential([tc.Dense(2, 3, rng=0)])
    written = tc.save(model, tmp_path / "model")
    assert written == str(tmp_path / "model.npz")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.npz"]
    loaded = tc.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.layers[0].params["W"], model.layers[0].params["W"])
    loaded = tc.load(str(tmp_path / "model.npz"))
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        tc.save(model, 3)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        tc.load(None)


def test_format_1_files_still_load(tmp_path):
    model = tc.Sequential([tc.Dense(3, 2, rng=0), tc.ReLU()])
    architecture = (
        '{"layers": [{"type": "Dense", "config": {"in_features": 3, "out_features": 2, '
        '"dtype": "float32"}}, {"type": "ReLU", "config": {}}], '
        '"output": {"name": "Identity"}}'
    )
    np.savez(
        tmp_path / "old.npz",
        tinycnn_format=np.array(1),
        architecture=np.array(architecture),
        **{"layers.0.W": model.layers[0].params["W"], "layers.0.b": model.layers[0].params["b"]},
    )
    loaded = tc.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(loaded.layers[0].params["W"], model.layers[0].params["W"])


def test_a_user_class_named_like_a_built_in_does_not_load_as_the_built_in(tmp_path):
    class Dense(tc.Dense):
        """A user's Dense that doubles its output."""

        def forward(self, x):
            return 2 * super().forward(x)

    model = tc.Sequential([Dense(2, 2, rng=0)])
    tc.save(model, tmp_path / "user.npz")
    loaded = tc.load(tmp_path / "user.npz")
    assert type(loaded.layers[0]) is Dense
    with np.load(tmp_path / "user.npz") as archive:
        assert str(archive["architecture"]).count(f"{__name__}.") == 1
    del tc.Layer.registry[Dense.type_name]  # as in a new session that has not defined it
    with pytest.raises(
        ValueError,
        match=r"user.npz: layer 0 has type '.*Dense', which is not "
        r"registered: import the module that defines it",
    ):
        tc.load(tmp_path / "user.npz")
    with pytest.raises(TypeError, match="that load could not find again"):
        tc.save(model, tmp_path / "again.npz")


def test_a_user_output_map_named_like_a_built_in_does_not_load_as_the_built_in(tmp_path):
    class LocalizationOutput(tc.outputs.LocalizationOutput):
        """A user's map that reads the box as logits too."""

    model = tc.Sequential([tc.Dense(2, 8, rng=0)], output=LocalizationOutput(3))
    tc.save(model, tmp_path / "user_output.npz")
    assert type(tc.load(tmp_path / "user_output.npz").output) is LocalizationOutput
    del tc.outputs.OutputMap.registry[LocalizationOutput.type_name]
    with pytest.raises(ValueError, match=r"user_output.npz: its output map does not fit"):
        tc.load(tmp_path / "user_output.npz")
    with pytest.raises(TypeError, match="cannot be rebuilt from its config"):
        tc.save(model, tmp_path / "again.npz")


def small_model():
    return tc.Sequential([tc.Dense(2, 3, rng=0)])


def test_a_folder_is_refused_by_the_name_given_and_nothing_hidden_is_written(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    for path in (f"{folder}{os.sep}", f"{tmp_path / 'not_yet'}{os.sep}"):
        named = re.escape(os.fspath(path))
        with pytest.raises(IsADirectoryError, match=rf"^{named} names a folder.*model\.npz$"):
            tc.save(small_model(), path)
        with pytest.raises(IsADirectoryError, match=rf"^{named} names a folder.*data\.json$"):
            tc.io.write_json(path, {"a": 1})
    # The file to be written counts, not a folder of the name given: runs -> runs.npz.
    with pytest.raises(IsADirectoryError, match=rf"^{re.escape(str(folder))} is a folder: .*json"):
        tc.io.write_json(folder, {"a": 1})
    assert sorted(os.listdir(tmp_path)) == ["runs"] and not os.listdir(folder)
    tc.save(small_model(), folder)
    assert sorted(os.listdir(tmp_path)) == ["runs", "runs.npz"]
    assert tc.load(folder).layers[0].params["W"].shape == small_model().layers[0].params["W"].shape
    (tmp_path / "taken.npz").mkdir()
    with pytest.raises(IsADirectoryError, match=r"taken\.npz is a folder: .*model\.npz$"):
        tc.save(small_model(), tmp_path / "taken")


def test_a_missing_folder_is_named_not_the_temporary_file(tmp_path):
    path = tmp_path / "nope" / "m"
    with pytest.raises(FileNotFoundError, match=rf"cannot write {re.escape(str(path))}: the fold"):
        tc.save(small_model(), path)
    (tmp_path / "file").write_text("")
    with pytest.raises(FileNotFoundError, match="is not a folder") as raised:
        tc.save(small_model(), tmp_path / "file" / "m")
    assert ".tmp" not in str(raised.value)
    with pytest.raises(FileNotFoundError, match="cannot write"):
        tc.train.write_results(tmp_path / "nope" / "metrics.json", {"a": 1})


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_without_write_permission_is_named_not_the_temporary_file(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=rf"cannot write {re.escape(str(locked))}"):
            tc.save(small_model(), locked / "model.npz")
    finally:
        locked.chmod(0o755)


def test_load_names_a_folder_and_a_missing_file_as_given(tmp_path):
    named = re.escape(str(tmp_path))
    with pytest.raises(IsADirectoryError, match=rf"^{named} is a folder, not a tinycnn model"):
        tc.load(tmp_path)
    missing = re.escape(str(tmp_path / "model"))
    with pytest.raises(FileNotFoundError, match=rf"no tinycnn model at {missing} \(nor at "):
        tc.load(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match=rf"no tinycnn model at {missing}\.npz$"):
        tc.load(tmp_path / "model.npz")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_saving_over_a_symbolic_link_replaces_the_file_it_points_to(tmp_path):
    real = tmp_path / "store" / "model.npz"
    real.parent.mkdir()
    tc.save(small_model(), real)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    other = tc.Sequential([tc.Dense(2, 3, rng=5)])
    tc.save(other, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    np.testing.assert_array_equal(tc.load(real).layers[0].params["W"], other.layers[0].params["W"])
    results_link = tmp_path / "metrics.json"
    results_link.symlink_to(tmp_path / "store" / "metrics.json")  # dangling until written
    tc.train.write_results(results_link, {"a": 1})
    assert results_link.is_symlink() and json.loads(results_link.read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path / "store")) == ["metrics.json", "model.npz"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_get_the_usual_permissions_and_old_ones_keep_theirs(tmp_path, umask):
    old = os.umask(umask)
    try:
        model_path = tc.save(small_model(), tmp_path / "model")
        results = tmp_path / "metrics.json"
        tc.train.write_results(results, {"a": 1})
        plain = tmp_path / "plain.txt"
        plain.write_text("")  # what open() gives a new file
    finally:
        os.umask(old)
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(model_path).st_mode) == expected
    assert stat.S_IMODE(results.stat().st_mode) == expected
    results.chmod(0o640)
    tc.train.write_results(results, {"a": 2})
    assert stat.S_IMODE(results.stat().st_mode) == 0o640


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(width=32).map(np.float32)
    | st.integers(-(2**31), 2**31 - 1).map(np.int32)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children)
    ),
    max_leaves=10,
)


def strict_loads(text):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def as_written(value):
    """What write_json promises to write: numpy numbers as Python ones, NaN and inf as null."""
    if isinstance(value, dict):
        return {key: as_written(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_written(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4))
def test_results_are_always_valid_json_nan_and_inf_written_as_null(tmp_path_factory, results):
    path = tmp_path_factory.mktemp("results") / "metrics.json"
    tc.train.write_results(path, results)
    assert strict_loads(path.read_text()) == as_written(results)


def test_nan_in_a_metric_is_null_and_arrays_are_lists(tmp_path):
    path = tmp_path / "m.json"
    tc.io.write_json(path, {"mean_iou": np.float32("nan"), "ap": np.array([0.5, np.inf])})
    assert strict_loads(path.read_text()) == {"mean_iou": None, "ap": [0.5, None]}
    with pytest.raises(TypeError, match="data must hold numbers"):
        tc.io.write_json(path, {"model": object()})
    with pytest.raises(TypeError, match="path must be"):
        tc.io.write_json(3, {})
    for call in (lambda: tc.io.write_json("", {}), lambda: tc.save(small_model(), "")):
        with pytest.raises(ValueError, match="path must name a file, got an empty string"):
            call()
    with pytest.raises(ValueError, match="path must name a file"):
        tc.load("")
    with pytest.raises(TypeError, match="results cannot be written as JSON"):
        tc.train.write_results(path, {(1, 2): 3})
    assert strict_loads(path.read_text())["mean_iou"] is None  # refused writes left it alone


def test_write_json_names_data_that_holds_itself(tmp_path):
    """A list inside itself recursed until Python's RecursionError; nothing is written."""
    looped = [1, 2]
    looped.append(looped)
    table = {"rows": [looped]}
    for data in (looped, table):
        with pytest.raises(ValueError, match=r"^results holds itself .*circular reference"):
            tc.io.write_json(tmp_path / "out.json", data, name="results")
    assert not (tmp_path / "out.json").exists()


def test_write_json_writes_a_list_shared_by_two_keys(tmp_path):
    """The same list twice is no cycle: it is written twice."""
    shared = [0.5, 1]
    tc.io.write_json(tmp_path / "out.json", {"a": shared, "b": [shared]})
    assert json.loads((tmp_path / "out.json").read_text()) == {"a": shared, "b": [shared]}


def test_write_json_names_data_nested_too_deeply(tmp_path):
    deep = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match=r"^data is nested too deeply to be written as JSON"):
        tc.io.write_json(tmp_path / "out.json", deep)
