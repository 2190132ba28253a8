"""save/load: the same model back, and a clear error for anything that is not one."""

import numpy as np
import pytest

import tinycnn as tc
from tinycnn.losses import LandmarkLoss, LocalizationLoss


def every_layer_model():
    return tc.Sequential([
        tc.Conv2D(1, 4, 3, stride=2, padding=1, rng=0), tc.LeakyReLU(0.2), tc.MaxPool2D(2, 1),
        tc.Conv2D(4, 2, 3, dtype=np.float64, rng=1), tc.Tanh(), tc.Flatten(), tc.Dropout(0.3),
        tc.Dense(2, 8, rng=2), tc.Sigmoid(), tc.Dense(8, 8, rng=3), tc.ReLU()],
        output=LocalizationLoss(3).output)


def test_round_trip(tmp_path):
    model = every_layer_model()
    path = tmp_path / "model.npz"
    tc.save(model, path)
    loaded = tc.load(path)
    assert repr(loaded) == repr(model)
    for (_, name, param, _), (_, loaded_name, loaded_param, _) in zip(model.parameters(),
                                                                     loaded.parameters()):
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
    with pytest.raises(ValueError, match=r"layers.0.params.W has shape \(4, 2\), but layer 0 "
                                         r"Dense\(3, 2\) needs \(3, 2\)"):
        tc.load(path)


def test_missing_file_and_bad_model(tmp_path):
    with pytest.raises(FileNotFoundError):
        tc.load(tmp_path / "nothing.npz")
    with pytest.raises(TypeError, match="must be a tinycnn Sequential"):
        tc.save([tc.ReLU()], tmp_path / "list.npz")
    assert not (tmp_path / "list.npz").exists()
