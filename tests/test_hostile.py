"""Faults and hostile input, as issue 10 found them: each gets the right result or a clear
ValueError/TypeError, and never a lost file, an allocation the file does not justify, garbage, or a
raw Python error from inside.

- save: a write that fails part-way, a param that cannot be stored: the old file stays byte for
  byte, and no temporary file is left;
- load: a 400 MB member in a small file, a declared giant layer, malformed archives of every kind;
- empty batches through every layer, the losses and predict; params of the wrong shape;
- a hypothesis sweep over every public constructor and every layer's forward and backward.
"""

import inspect
import io
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinycnn as tc
import tinycnn.viz
from tinycnn.kernels import (
    batchnorm,
    batchnorm_pool,
    conv,
    conv_pool,
    dense,
    im2col,
    pointwise_blas,
    pool,
    reference,
    winograd,
)
from tinycnn.losses import (
    LandmarkLoss,
    LocalizationLoss,
    SquaredLandmarkLoss,
    SquaredLocalizationLoss,
)
from tinycnn.outputs import Identity, LandmarkOutput, LocalizationOutput

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_model():
    return tc.Sequential(
        [
            tc.Conv2D(1, 2, 3, padding=1, rng=0),
            tc.ReLU(),
            tc.MaxPool2D(2),
            tc.Flatten(),
            tc.Dense(2 * 2 * 2, 8, rng=1),
        ],
        output=LocalizationLoss(3).output,
    )


# --- save: atomic ------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    """A folder holding model.npz, and that file's bytes."""
    path = tmp_path / "model.npz"
    tc.save(small_model(), path)
    return path, path.read_bytes()


def assert_untouched(path, old_bytes):
    assert path.read_bytes() == old_bytes
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temporary file left behind
    tc.load(path)


def test_a_write_that_fails_part_way_leaves_the_old_file(saved, monkeypatch):
    path, old_bytes = saved
    write_array = np.lib.format.write_array
    calls = []

    def fail_on_the_third_array(file, array, **keywords):
        calls.append(array)
        if len(calls) == 3:
            file.write(b"half an array")
            raise OSError(28, "No space left on device")
        write_array(file, array, **keywords)

    monkeypatch.setattr(np.lib.format, "write_array", fail_on_the_third_array)
    other = tc.Sequential([tc.Dense(3, 3, rng=5)])
    with pytest.raises(OSError, match="No space left"):
        tc.save(other, path)
    assert len(calls) == 3
    assert_untouched(path, old_bytes)


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), KeyboardInterrupt()])
def test_a_failing_fsync_or_an_interrupt_leaves_the_old_file(saved, monkeypatch, error):
    path, old_bytes = saved

    def fail(descriptor):
        raise error

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(type(error)):
        tc.save(small_model(), path)
    monkeypatch.undo()
    assert_untouched(path, old_bytes)


@pytest.mark.parametrize(
    "value, error, match",
    [
        (np.array([[None] * 8] * 8, dtype=object), TypeError, "must be of dtype float32"),
        (np.zeros((8, 8), np.complex64), TypeError, "must be of dtype float32"),
        (np.zeros((8, 8), np.int32), TypeError, "must be of dtype float32"),
        (np.zeros((8, 9), np.float32), ValueError, r"must have shape \(8, 8\)"),
        (np.full((8, 8), np.nan, np.float32), ValueError, "holds NaN or inf"),
        ([[0.0] * 8] * 8, TypeError, "must be a numpy array"),
    ],
)
def test_a_param_that_cannot_be_stored_is_refused_before_writing(saved, value, error, match):
    path, old_bytes = saved
    model = small_model()
    model.layers[-1].params["W"] = value
    with pytest.raises(error, match=match):
        tc.save(model, path)
    assert_untouched(path, old_bytes)


def test_an_unrebuildable_layer_is_refused_before_writing(saved):
    path, old_bytes = saved
    model = small_model()
    model.layers[0].padding = 7  # no Conv2D(1, 2, 3, padding=7) can be built again
    with pytest.raises(ValueError, match="padding must be smaller than kernel_size"):
        tc.save(model, path)
    assert_untouched(path, old_bytes)


# --- load: cheap ---------------------------------------------------------------------------------


def npy_header(shape, dtype):
    buffer = io.BytesIO()
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": shape,
    }
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def members_of(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_members(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def peak_memory_of_load(path):
    """(growth of the peak resident memory in bytes, message) of tc.load(path) in a fresh
    process."""
    script = textwrap.dedent(f"""
        import resource
        import tinycnn as tc
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            tc.load({str(path)!r})
            message = "loaded"
        except ValueError as error:
            message = str(error)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) * 1024)
        print(message)
    """)
    environment = {**os.environ, "PYTHONPATH": REPOSITORY}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=True,
    )
    growth, message = result.stdout.strip().split("\n", 1)
    return int(growth), message


def test_a_400_mb_member_in_a_small_file_is_refused_without_decompressing_it(saved, tmp_path):
    path, _ = saved
    hostile = tmp_path / "hostile.npz"
    size = 400 * 2**20
    with zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members_of(path).items():
            archive.writestr(name, data)
        with archive.open("extra.npy", "w", force_zip64=True) as member:
            member.write(npy_header((size // 4,), np.float32))
            zeros = bytes(2**20)
            for _ in range(size // 2**20):
                member.write(zeros)
    assert hostile.stat().st_size < 2 * 2**20
    growth, message = peak_memory_of_load(hostile)
    assert "hostile.npz" in message and "extra" in message
    assert growth < 50 * 2**20, f"load grew the peak memory by {growth / 2**20:.0f} MB"


def test_a_known_member_whose_header_claims_a_huge_shape_is_refused(saved, tmp_path):
    path, _ = saved
    members = members_of(path)
    members["layers.4.params.W.npy"] = npy_header((2**40, 2**20), np.float32) + bytes(64)
    write_members(tmp_path / "huge.npz", members)
    tracemalloc.start()
    with pytest.raises(
        ValueError, match=r"huge.npz: member layers.4.params.W is 192 bytes, but its header"
    ):
        tc.load(tmp_path / "huge.npz")
    assert tracemalloc.get_traced_memory()[1] < 10 * 2**20
    tracemalloc.stop()


def test_a_size_in_the_zip_directory_that_the_data_cannot_hold_is_refused(saved, tmp_path):
    path, _ = saved
    data = bytearray(path.read_bytes())
    name = b"layers.4.params.W.npy"
    entry = data.find(b"PK\x01\x02" + bytes(24)[:0])
    while data[entry + 46 : entry + 46 + len(name)] != name:
        entry = data.find(b"PK\x01\x02", entry + 4)
    data[entry + 24 : entry + 28] = (2**31).to_bytes(4, "little")  # the uncompressed size
    (tmp_path / "lying.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"lying.npz: member 'layers.4.params.W.npy' claims"):
        tc.load(tmp_path / "lying.npz")


def test_a_declared_giant_layer_without_weights_is_refused_before_allocating(tmp_path):
    architecture = {
        "layers": [{"type": "Dense", "config": {"in_features": 30000, "out_features": 30000}}],
        "output": {"name": "Identity"},
    }
    write_members(
        tmp_path / "giant.npz",
        {
            "tinycnn_format.npy": npy_bytes(np.array(2)),
            "architecture.npy": npy_bytes(np.array(json.dumps(architecture))),
        },
    )
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"giant.npz: lacks the arrays layers.0.params.W"):
        tc.load(tmp_path / "giant.npz")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20  # the weights would be 3.6 GB


# --- load: strict ------------------------------------------------------------------------------

GOOD_ARCHITECTURE = {
    "layers": [
        {"type": "Dense", "config": {"in_features": 2, "out_features": 8, "dtype": "float32"}},
        {"type": "ReLU", "config": {}},
    ],
    "output": {"name": "LocalizationOutput", "num_classes": 3},
}


def archive_members(version=2, architecture=GOOD_ARCHITECTURE, weights=None, drop=(), extra=None):
    """The members of a file like save writes for Dense(2, 8) + ReLU, changed as asked."""
    version = np.asarray(version)
    if not isinstance(architecture, np.ndarray):
        text = architecture if isinstance(architecture, str) else json.dumps(architecture)
        architecture = np.array(text)
    arrays = {
        "tinycnn_format": version,
        "architecture": architecture,
        "layers.0.params.W": np.full((2, 8), 0.5, np.float32),
        "layers.0.params.b": np.zeros(8, np.float32),
    }
    arrays.update(weights or {})
    members = {f"{key}.npy": npy_bytes(value) for key, value in arrays.items() if key not in drop}
    members.update(extra or {})
    return members


def nested(depth):
    return "[" * depth + "]" * depth


MALFORMED = {
    "no version": (archive_members(drop=("tinycnn_format",)), "lacks the 'tinycnn_format'"),
    "no architecture": (archive_members(drop=("architecture",)), "lacks the 'tinycnn_format' and"),
    "version as text": (
        archive_members(version=np.array("1")),
        "tinycnn_format must be one integer",
    ),
    "version 1.9": (archive_members(version=np.array(1.9)), "tinycnn_format must be one integer"),
    "version True": (archive_members(version=np.array(True)), "tinycnn_format must be one integer"),
    "version 3": (
        archive_members(version=np.array(3)),
        r"has tinycnn format 3; this version reads",
    ),
    "version list": (archive_members(version=np.array([2])), "tinycnn_format must be one integer"),
    "architecture not json": (archive_members(architecture="{'layers'"), "is not valid JSON"),
    "architecture deeply nested": (
        archive_members(architecture=nested(100_000)),
        "is not valid JSON",
    ),
    "architecture a list": (archive_members(architecture=[1, 2]), "must be a dict with 'layers'"),
    "architecture without output": (
        archive_members(architecture={"layers": []}),
        "must be a dict with 'layers' and 'output'",
    ),
    "layers not a list": (
        archive_members(architecture={**GOOD_ARCHITECTURE, "layers": 5}),
        r"architecture\['layers'\] must be a non-empty list",
    ),
    "layer an int": (
        archive_members(architecture={**GOOD_ARCHITECTURE, "layers": [3]}),
        r"architecture\['layers'\]\[0\] must be a dict",
    ),
    "layer without config": (
        archive_members(architecture={**GOOD_ARCHITECTURE, "layers": [{"type": "ReLU"}]}),
        r"must be a dict with a 'type' string and a 'config' dict",
    ),
    "config a list": (
        archive_members(
            architecture={**GOOD_ARCHITECTURE, "layers": [{"type": "ReLU", "config": [1]}]}
        ),
        "'config' dict",
    ),
    "config deeply nested": (
        archive_members(
            architecture={
                **GOOD_ARCHITECTURE,
                "layers": [{"type": "ReLU", "config": {"a": json.loads(nested(50))}}],
            }
        ),
        "nested deeper than",
    ),
    "unknown type": (
        archive_members(
            architecture={**GOOD_ARCHITECTURE, "layers": [{"type": "Conv3D", "config": {}}]}
        ),
        "layer 0 has type 'Conv3D', which is not registered",
    ),
    "config with an unknown argument": (
        archive_members(
            architecture={
                **GOOD_ARCHITECTURE,
                "layers": [{"type": "ReLU", "config": {"inplace": True}}],
            }
        ),
        r"layer 0 \(ReLU\) cannot be built",
    ),
    "config with a string size": (
        archive_members(
            architecture={
                **GOOD_ARCHITECTURE,
                "layers": [{"type": "Dense", "config": {"in_features": "2", "out_features": 8}}],
            }
        ),
        r"in_features must be a positive integer",
    ),
    "unknown output": (
        archive_members(architecture={**GOOD_ARCHITECTURE, "output": {"name": "Softmax"}}),
        "output map does not fit",
    ),
    "output of the wrong width": (
        archive_members(
            architecture={
                **GOOD_ARCHITECTURE,
                "output": {"name": "LocalizationOutput", "num_classes": 4},
            }
        ),
        "reads raw output of shape \\(N, 9\\), but the network.s Dense\\(2, 8\\) gives \\(N, 8\\)",
    ),
    "output not a dict": (
        archive_members(architecture={**GOOD_ARCHITECTURE, "output": "x"}),
        r"architecture\['output'\] must be a dict",
    ),
    "architecture as numbers": (
        archive_members(architecture=np.zeros(3)),
        "architecture must be one JSON text",
    ),
    "missing weights": (
        archive_members(drop=("layers.0.params.b",)),
        "lacks the arrays layers.0.params.b",
    ),
    "unknown member": (
        archive_members(extra={"payload.npy": npy_bytes(np.zeros(3))}),
        "holds members that no layer uses: payload",
    ),
    "member that is not .npy": (
        archive_members(extra={"run.py": b"print('hi')"}),
        "holds 'run.py', which is not a .npy member",
    ),
    "object weights": (
        archive_members(weights={"layers.0.params.W": np.array([[None] * 8] * 2, dtype=object)}),
        "dtype object, which tinycnn never writes",
    ),
    "complex weights": (
        archive_members(weights={"layers.0.params.W": np.ones((2, 8), complex)}),
        "must be float32 or float64",
    ),
    "integer weights": (
        archive_members(weights={"layers.0.params.W": np.ones((2, 8), np.int32)}),
        "must be float32 or float64",
    ),
    "half-precision weights": (
        archive_members(weights={"layers.0.params.W": np.ones((2, 8), np.float16)}),
        "must be float32 or float64",
    ),
    "NaN weights": (
        archive_members(weights={"layers.0.params.b": np.full(8, np.nan, np.float32)}),
        "layers.0.params.b holds NaN, inf",
    ),
    "overflowing weights": (
        archive_members(weights={"layers.0.params.W": np.full((2, 8), 1e300)}),
        "beyond the range of float32",
    ),
    "wrong shape": (
        archive_members(weights={"layers.0.params.W": np.ones((8, 2), np.float32)}),
        r"layers.0.params.W has shape \(8, 2\), but layer 0 Dense\(2, 8\) needs",
    ),
    "header larger than the data": (
        archive_members(extra={"layers.0.params.W.npy": npy_header((2, 8), np.float32) + bytes(8)}),
        "accounts for",
    ),
    "not a .npy member": (
        archive_members(extra={"layers.0.params.W.npy": b"PK junk"}),
        "is not a .npy array",
    ),
}


@pytest.mark.parametrize("members, match", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_archives_name_the_file_and_what_is_wrong(tmp_path, members, match):
    path = tmp_path / "malformed.npz"
    write_members(path, members)
    with pytest.raises(ValueError, match=match) as raised:
        tc.load(path)
    assert str(path) in str(raised.value)


def test_the_good_archive_of_the_malformed_ones_loads(tmp_path):
    write_members(tmp_path / "good.npz", archive_members(), zipfile.ZIP_DEFLATED)
    model = tc.load(tmp_path / "good.npz")
    assert model.output == LocalizationOutput(3)
    np.testing.assert_array_equal(model.layers[0].params["W"], 0.5)


@pytest.mark.parametrize(
    "content, match",
    [
        (npy_bytes(np.zeros(3)), "is a plain .npy array, not a tinycnn model"),
        (b"hello", "is not a readable .npz file"),
        (b"", "is not a readable .npz file"),
        (b"PK\x03\x04" + bytes(100), "is not a readable .npz file"),
    ],
)
def test_files_that_are_no_archive_at_all(tmp_path, content, match):
    path = tmp_path / "weights.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as raised:
        tc.load(path)
    assert str(path) in str(raised.value)


def test_every_truncation_of_a_model_file_gives_a_value_error(saved, tmp_path):
    path, data = saved
    for length in range(0, len(data), max(1, len(data) // 40)):
        cut = tmp_path / "cut.npz"
        cut.write_bytes(data[:length])
        with pytest.raises(ValueError, match="cut.npz"):
            tc.load(cut)


# --- empty batches and params of the wrong shape ----------------------------------------------


def test_an_empty_batch_flows_through_a_whole_network():
    loss = LocalizationLoss(3)
    model = tc.networks.localizer(output=loss.output)
    x = np.zeros((0, 1, 64, 64), np.float32)
    assert model.predict(x).shape == (0, 8)  # keeps nothing for a backward
    assert model.forward(x).shape == (0, 8)
    assert model.backward(np.zeros((0, 8), np.float32)).shape == x.shape
    model.forward(x)  # each backward uses up what its forward kept
    assert model.backward(np.zeros((0, 8), np.float32), input_grad=False) is None


@pytest.mark.parametrize(
    "loss",
    [LocalizationLoss(3), SquaredLocalizationLoss(3), LandmarkLoss(), SquaredLandmarkLoss()],
    ids=repr,
)
def test_losses_refuse_an_empty_batch_clearly(loss):
    with pytest.raises(ValueError, match="the batch is empty"):
        loss.forward(np.zeros((0, loss.width)), np.zeros((0, loss.width)))


@pytest.mark.parametrize(
    "name, shape",
    [("W", (2, 1, 3, 4)), ("W", (2, 2, 3, 3)), ("W", (2,)), ("b", (1,)), ("b", (2, 1))],
)
def test_a_conv_with_params_of_the_wrong_shape_reads_nothing_past_them(name, shape):
    layer = tc.Conv2D(1, 2, 3, rng=0)
    x = np.ones((2, 1, 6, 6), np.float32)
    out = layer.forward(x)
    layer.params[name] = np.ones(shape, np.float32)
    with pytest.raises(ValueError, match=rf"params\['{name}'\] must have shape"):
        layer.forward(x)
    with pytest.raises(ValueError, match=rf"params\['{name}'\] must have shape"):
        layer.backward(np.ones_like(out))


# --- hypothesis: every constructor and every layer, with hostile arguments ---------------------

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.sampled_from([10**30, -(10**30), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=2),
    st.sampled_from(
        [
            [1],
            (2,),
            {"a": 1},
            np.array([1.0]),
            np.float32(0.5),
            np.int64(3),
            1j,
            np.float64,
            "float32",
            int,
            np.uint8,
            "junk",
        ]
    ),
)


def argument(plausible):
    """Half the time a value that should work, else anything at all."""
    return st.one_of(plausible, HOSTILE)


SIZE = st.integers(1, 4)
FRACTION = st.floats(0, 0.9)
DTYPE = st.sampled_from([np.float32, np.float64])

LAYER_BUILDERS = {
    tc.Conv2D: st.builds(
        tc.Conv2D,
        argument(SIZE),
        argument(SIZE),
        argument(SIZE),
        argument(SIZE),
        argument(st.integers(0, 1)),
        dtype=argument(DTYPE),
        rng=argument(st.integers(0, 9)),
    ),
    tc.ConvReLUMaxPool2D: st.builds(
        tc.ConvReLUMaxPool2D,
        argument(SIZE),
        argument(SIZE),
        argument(SIZE),
        argument(SIZE),
        argument(st.integers(0, 1)),
        argument(SIZE),
        argument(st.none() | SIZE),
        dtype=argument(DTYPE),
        rng=argument(st.integers(0, 9)),
    ),
    tc.MaxPool2D: st.builds(tc.MaxPool2D, argument(SIZE), argument(st.none() | SIZE)),
    tc.ReLUMaxPool2D: st.builds(tc.ReLUMaxPool2D, argument(SIZE), argument(st.none() | SIZE)),
    tc.Dense: st.builds(
        tc.Dense,
        argument(SIZE),
        argument(SIZE),
        dtype=argument(DTYPE),
        rng=argument(st.integers(0, 9)),
    ),
    tc.LeakyReLU: st.builds(tc.LeakyReLU, argument(FRACTION)),
    tc.Dropout: st.builds(tc.Dropout, argument(FRACTION), rng=argument(st.integers(0, 9))),
    tc.Flatten: st.builds(tc.Flatten),
    tc.ReLU: st.builds(tc.ReLU),
    tc.Sigmoid: st.builds(tc.Sigmoid),
    tc.Tanh: st.builds(tc.Tanh),
}

OTHER_BUILDERS = [
    lambda draw: LocalizationLoss(
        draw(argument(SIZE)), draw(argument(FRACTION)), draw(argument(FRACTION))
    ),
    lambda draw: SquaredLocalizationLoss(draw(argument(SIZE))),
    lambda draw: LandmarkLoss(draw(argument(SIZE)), draw(argument(FRACTION))),
    lambda draw: SquaredLandmarkLoss(draw(argument(SIZE))),
    lambda draw: LocalizationOutput(draw(argument(SIZE))),
    lambda draw: LandmarkOutput(draw(argument(SIZE))),
    lambda draw: tc.optim.SGD(
        tc.Sequential([tc.Dense(2, 2)]), draw(argument(FRACTION)), draw(argument(FRACTION))
    ),
    lambda draw: tc.optim.Adam(
        tc.Sequential([tc.Dense(2, 2)]),
        draw(argument(FRACTION)),
        draw(argument(FRACTION)),
        draw(argument(FRACTION)),
        draw(argument(st.floats(1e-9, 1e-3))),
    ),
    lambda draw: tc.Sequential(
        draw(argument(st.just([tc.Dense(2, 8)]))),
        draw(argument(st.sampled_from([None, Identity(), LocalizationOutput(3)]))),
    ),
]


def hostile_arrays():
    """Arrays of any of several dtypes, 0-4 dimensions of sizes 0-5, with NaN, inf and huge
    values; or something that is not an array at all."""
    dtypes = st.sampled_from(
        [np.float32, np.float64, np.int64, np.uint8, np.bool_, np.complex128, np.float16, object]
    )
    shapes = st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple)

    @st.composite
    def array(draw):
        dtype, shape = draw(dtypes), draw(shapes)
        if dtype is object:
            return np.full(shape, None, dtype=object)
        if np.dtype(dtype).kind == "f":
            elements = st.floats(
                allow_nan=True, allow_infinity=True, width=np.dtype(dtype).itemsize * 8
            )
            return draw(arrays(dtype, shape, elements=elements))
        return draw(arrays(dtype, shape))

    return st.one_of(array(), HOSTILE)


def fitting_input(layer, draw):
    """An input the layer takes: finite floats of a shape it fits."""
    dtype = draw(DTYPE)
    n = draw(st.integers(0, 3))
    # A huge kernel_size is a valid argument; the input then is smaller than it, to be refused.
    kernel_size = min(getattr(layer, "kernel_size", 1), 16)
    if isinstance(layer, tc.Conv2D):
        size = kernel_size + draw(st.integers(0, 3))
        shape = (n, layer.in_channels, size, size)
    elif isinstance(layer, tc.MaxPool2D):
        size = kernel_size + draw(st.integers(0, 3))
        shape = (n, draw(SIZE), size, size)
    elif isinstance(layer, tc.Dense):
        shape = (n, layer.in_features)
    else:
        shape = (n, *draw(st.lists(SIZE, min_size=1, max_size=3)))
    return draw(arrays(dtype, shape, elements=st.floats(-100, 100, width=32)))


EXPECTED = (ValueError, TypeError)


@settings(
    max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(st.sampled_from(list(LAYER_BUILDERS)), st.data())
def test_layers_give_the_right_result_or_a_clear_error(layer_type, data):
    try:
        layer = data.draw(LAYER_BUILDERS[layer_type])
    except EXPECTED:
        return
    assert type(layer) is layer_type
    layer.check_arrays()
    if data.draw(st.booleans()):
        x = data.draw(hostile_arrays())
    else:
        x = fitting_input(layer, data.draw)
    try:
        out = layer.forward(x)
    except EXPECTED:
        event("forward refused")
        return
    event("forward gave a result")
    assert isinstance(out, np.ndarray) and out.shape[0] == x.shape[0]
    assert out.dtype in (np.float32, np.float64)
    if np.all(np.isfinite(x)) and all(np.isfinite(p).all() for p in layer.params.values()):
        if not isinstance(layer, tc.Dense):  # a product of large finite numbers may overflow
            assert np.all(np.isfinite(out))
    if data.draw(st.booleans()):
        dout = data.draw(hostile_arrays())
    else:
        dout = np.ones(out.shape, out.dtype)
    try:
        dx = layer.backward(dout, input_grad=data.draw(argument(st.booleans())))
    except EXPECTED:
        event("backward refused")
        return
    event("backward gave a result")
    assert dx is None or (isinstance(dx, np.ndarray) and dx.shape == x.shape)
    for name, param in layer.params.items():
        assert layer.grads[name].shape == param.shape


@settings(max_examples=150)
@given(st.integers(0, len(OTHER_BUILDERS) - 1), st.data())
def test_other_constructors_give_a_working_object_or_a_clear_error(index, data):
    try:
        built = OTHER_BUILDERS[index](data.draw)
    except EXPECTED:
        event("refused")
        return
    event("built")
    assert built is not None


def test_save_into_a_folder_that_is_not_there_or_onto_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        tc.save(small_model(), tmp_path / "missing" / "model.npz")
    (tmp_path / "taken.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        tc.save(small_model(), tmp_path / "taken.npz")
    assert sorted(os.listdir(tmp_path)) == ["taken.npz"]  # no temporary file left behind
    with pytest.raises(IsADirectoryError):
        tc.load(tmp_path / "taken.npz")


# --- hypothesis: a wrong type is a TypeError naming the argument ------------------------------
# Each public callable with a valid call, one argument replaced at a time by a value of a wrong
# type: the house rule wants a TypeError whose message names that argument, never a ValueError
# (that is for a right type with a wrong value), another exception, or an answer.

OBJECTS = st.sampled_from([object(), {"a": 1}, b"2", 1j, int, np.int32, (lambda: 0)])
NOT_A_NUMBER = st.one_of(st.text(max_size=3), st.none(), st.booleans(), OBJECTS)


def arrays_of_no_numbers(like):
    """Arrays shaped like the valid one of bools, complex numbers, objects or strings; or a
    nested list whose rows differ in length (numpy makes no array of it)."""
    shape = np.shape(like)
    return st.sampled_from(
        [
            np.ones(shape, bool),
            np.zeros(shape, complex),
            np.full(shape, None, dtype=object),
            np.full(shape, "1"),
            [[0.5, 0.5], [0.5]],
        ]
    )


WRONG_TYPES = {
    "int": st.one_of(NOT_A_NUMBER, st.floats(), st.sampled_from([np.float64(2), np.bool_(1), [2]])),
    "real": st.one_of(NOT_A_NUMBER, st.sampled_from([np.bool_(True), "0.5"])),
    "flag": st.one_of(st.text(max_size=3), st.none(), st.integers(), st.floats(), OBJECTS),
    "rng": st.one_of(st.text(max_size=3), st.booleans(), st.floats(), OBJECTS),
    "dtype": st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), OBJECTS),
    "output": st.one_of(st.text(max_size=3), st.booleans(), st.integers(), st.floats(), OBJECTS),
    "path": st.one_of(
        st.booleans(), st.integers(), st.floats(), OBJECTS.filter(lambda value: value != b"2")
    ),
}


def wrong_types(kind, valid):
    """Values of a wrong type for an argument of `kind` ("array" for arrays of numbers; a kind
    ending in "|None" takes None)."""
    kind, _, takes_none = kind.partition("|")
    if kind == "array":
        values = st.one_of(NOT_A_NUMBER, arrays_of_no_numbers(valid))
    else:
        values = WRONG_TYPES[kind]
    return values.filter(lambda value: value is not None) if takes_none else values


def _grid():
    truth = [{"boxes": np.array([[0.5, 0.5, 0.2, 0.4]]), "labels": np.array([1])}]
    return tc.detection.encode_grid(truth, 3, tc.detection.DEFAULT_ANCHORS, 3)


def _after_forward(layer, x):
    def backward(dout, input_grad):
        layer.forward(x)
        return layer.backward(dout, input_grad)

    return backward


def _fit(x, y, epochs, batch_size, progress):
    model = small_model()
    optimizer = tc.optim.SGD(model, 0.01)
    return tc.train.fit(
        model, LocalizationLoss(3), optimizer, x, y, epochs, batch_size, progress=progress
    )


def _axes_showing_an_image():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    ax.imshow(np.zeros((8, 8)))
    return ax


_IMAGES = np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32)
_LOC = np.array([[1, 0.5, 0.5, 0.2, 0.2, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 0]], np.float32)
_FACES = np.array([[1, 0.25, 0.5, 0.75, 0.5, 0.5, 0.75], [0, 0, 0, 0, 0, 0, 0]], np.float32)
_BOXES = np.array([[0.5, 0.5, 0.2, 0.2], [0.4, 0.4, 0.3, 0.3]])
_X = np.random.default_rng(1).random((2, 3, 6, 6))
_W = np.random.default_rng(2).random((4, 3, 3, 3))
_CONV_X = np.random.default_rng(3).random((2, 1, 6, 6)).astype(np.float32)
_SMALL_MODEL_X = np.random.default_rng(5).random((2, 1, 4, 4)).astype(np.float32)
_LOSS_INPUT = np.random.default_rng(4).random((2, 8)).astype(np.float32)

# The numba kernel and its plain twin take the same arguments, checked alike (kernels/arguments.py).
_CONV2D_FORWARD_ARGUMENTS = {
    "x": (_X, "array"),
    "weights": (_W, "array"),
    "bias": (np.zeros(4), "array|None"),
    "stride": (1, "int"),
    "padding": (0, "int"),
}

_DATASET_SEED = {"seed": (0, "int")}
_DATASET = {"n": (2, "int"), **_DATASET_SEED}
_BATCHNORM = {
    "channels": (1, "int"),
    "eps": (1e-5, "real"),
    "momentum": (0.1, "real"),
    "dtype": (np.float32, "dtype"),
}

# name: (callable, {argument: (valid value, kind)})
TYPED_CALLS = {
    "boxes.iou_matrix": (
        tc.boxes.iou_matrix,
        {"boxes_a": (_BOXES, "array"), "boxes_b": (_BOXES, "array")},
    ),
    "boxes.clip_sizes": (tc.boxes.clip_sizes, {"boxes": (_BOXES, "array")}),
    "boxes.center_to_corners": (tc.boxes.center_to_corners, {"boxes": (_BOXES, "array")}),
    "boxes.corners_to_center": (
        tc.boxes.corners_to_center,
        {"boxes": (tc.boxes.center_to_corners(_BOXES), "array")},
    ),
    "boxes.iou": (tc.boxes.iou, {"boxes_a": (_BOXES, "array"), "boxes_b": (_BOXES, "array")}),
    "boxes.non_max_suppression": (
        tc.boxes.non_max_suppression,
        {
            "boxes": (_BOXES, "array"),
            "scores": (np.array([0.9, 0.8]), "array"),
            "iou_threshold": (0.5, "real"),
            "score_threshold": (0.6, "real"),
            "labels": (np.array([0, 1]), "array|None"),
        },
    ),
    "targets.encode_localization": (
        tc.targets.encode_localization,
        {
            "label": (1, "int|None"),
            "box": ((0.5, 0.5, 0.2, 0.2), "array"),
            "num_classes": (3, "int"),
            "dtype": (np.float32, "dtype"),
        },
    ),
    "targets.encode_localization_batch": (
        tc.targets.encode_localization_batch,
        {
            "labels": (np.array([0, 1]), "array"),
            "boxes": (_BOXES, "array"),
            "num_classes": (3, "int"),
            "dtype": (np.float32, "dtype"),
        },
    ),
    "targets.decode_localization": (
        tc.targets.decode_localization,
        {"y_hat": (_LOC, "array"), "num_classes": (3, "int"), "threshold": (0.5, "real")},
    ),
    "targets.encode_landmarks": (
        tc.targets.encode_landmarks,
        {
            "points": (np.array([[0.2, 0.3], [0.6, 0.3], [0.4, 0.8]]), "array|None"),
            "dtype": (np.float32, "dtype"),
        },
    ),
    "targets.one_hot_rows": (tc.targets.one_hot_rows, {"classes": (np.eye(3), "array")}),
    "metrics.correct_localization_rate": (
        tc.metrics.correct_localization_rate,
        {
            "y_pred": (_LOC, "array"),
            "y_true": (_LOC, "array"),
            "threshold": (0.5, "real"),
            "iou_threshold": (0.5, "real"),
        },
    ),
    "metrics.mean_iou": (
        tc.metrics.mean_iou,
        {"y_pred": (_LOC, "array"), "y_true": (_LOC, "array")},
    ),
    "metrics.pc_accuracy": (
        tc.metrics.pc_accuracy,
        {"y_pred": (_LOC, "array"), "y_true": (_LOC, "array"), "threshold": (0.5, "real")},
    ),
    "metrics.class_accuracy": (
        tc.metrics.class_accuracy,
        {"y_pred": (_LOC, "array"), "y_true": (_LOC, "array")},
    ),
    "metrics.nme": (
        tc.metrics.nme,
        {
            "y_pred": (_FACES, "array"),
            "y_true": (_FACES, "array"),
            "face_sizes": (np.array([0.5, 0.5]), "array"),
        },
    ),
    "metrics.landmark_report": (
        tc.metrics.landmark_report,
        {
            "y_pred": (_FACES, "array"),
            "y_true": (_FACES, "array"),
            "face_sizes": (np.array([0.5, 0.5]), "array"),
            "threshold": (0.5, "real"),
        },
    ),
    "metrics.mean_average_precision": (
        lambda iou_thresholds, num_classes: tc.metrics.mean_average_precision(
            [], [], iou_thresholds, num_classes
        ),
        {"iou_thresholds": (0.5, "real"), "num_classes": (3, "int|None")},
    ),
    "detection.encode_grid": (
        lambda grid_size, anchors, num_classes: tc.detection.encode_grid(
            [], grid_size, anchors, num_classes
        ),
        {
            "grid_size": (3, "int"),
            "anchors": (tc.detection.DEFAULT_ANCHORS, "array"),
            "num_classes": (3, "int"),
        },
    ),
    "detection.decode_grid": (
        tc.detection.decode_grid,
        {"y": (_grid(), "array"), "score_threshold": (0.5, "real")},
    ),
    "detection.GridLoss": (
        tc.detection.GridLoss,
        {
            "anchors": (tc.detection.DEFAULT_ANCHORS, "array"),
            "num_classes": (3, "int"),
            "box_weight": (5.0, "real"),
            "no_object_weight": (0.5, "real"),
            "class_weight": (1.0, "real"),
        },
    ),
    "detection.GridOutput()": (
        lambda raw: tc.detection.GridOutput(tc.detection.DEFAULT_ANCHORS, 3)(raw),
        {"raw": (_grid().astype(np.float32), "array")},
    ),
    "data.localization_dataset": (
        tc.data.localization_dataset,
        {
            **_DATASET,
            "image_size": (32, "int"),
            "no_object_fraction": (0.25, "real"),
            "clutter": (True, "flag"),
        },
    ),
    "data.landmark_dataset": (
        tc.data.landmark_dataset,
        {
            **_DATASET,
            "image_size": (32, "int"),
            "no_face_fraction": (0.25, "real"),
            "return_face_sizes": (False, "flag"),
        },
    ),
    "data.crop_dataset": (tc.data.crop_dataset, {**_DATASET, "crop_size": (32, "int")}),
    "data.detection_dataset": (
        tc.data.detection_dataset,
        {**_DATASET, "image_size": (64, "int"), "clutter": (True, "flag")},
    ),
    "data.sliding_window_scene": (
        tc.data.sliding_window_scene,
        {**_DATASET_SEED, "height": (96, "int"), "width": (160, "int"), "crop_size": (32, "int")},
    ),
    "augment.adjust_contrast": (
        tc.data.augment.adjust_contrast,
        {"images": (_IMAGES, "array"), "factor": (1.2, "real")},
    ),
    "augment.adjust_brightness": (
        tc.data.augment.adjust_brightness,
        {"images": (_IMAGES, "array"), "delta": (0.1, "real")},
    ),
    "augment.add_noise": (
        tc.data.augment.add_noise,
        {
            "images": (_IMAGES, "array"),
            "sigma": (0.01, "real"),
            "rng": (np.random.default_rng(0), "rng"),
        },
    ),
    "augment.random_augment": (
        lambda images, targets, flip_probability: tc.data.augment.random_augment(
            images, targets, np.random.default_rng(0), flip_probability=flip_probability
        ),
        {
            "images": (_IMAGES, "array"),
            "targets": (_LOC, "array"),
            "flip_probability": (0.5, "real"),
        },
    ),
    "networks.landmark_detector": (
        tc.networks.landmark_detector,
        {
            "num_landmarks": (3, "int"),
            "image_size": (32, "int"),
            "rng": (0, "rng|None"),
            "output": (None, "output|None"),
            "dtype": (np.float32, "dtype"),
        },
    ),
    "networks.localizer": (
        tc.networks.localizer,
        {
            "num_classes": (3, "int"),
            "image_size": (32, "int"),
            "rng": (0, "rng|None"),
            "output": (None, "output|None"),
            "dtype": (np.float32, "dtype"),
        },
    ),
    "outputs.LocalizationOutput()": (
        lambda raw: LocalizationOutput(3)(raw),
        {"raw": (_LOSS_INPUT, "array")},
    ),
    "losses.LocalizationLoss": (
        LocalizationLoss,
        {"num_classes": (3, "int"), "box_weight": (5.0, "real"), "class_weight": (1.0, "real")},
    ),
    "losses.LocalizationLoss.forward": (
        lambda y_hat, y: LocalizationLoss(3).forward(y_hat, y),
        {"y_hat": (_LOSS_INPUT, "array"), "y": (_LOC, "array")},
    ),
    "functional.log_softmax": (
        tc.functional.log_softmax,
        {"z": (_LOC, "array"), "axis": (-1, "int")},
    ),
    "functional.logsumexp": (tc.functional.logsumexp, {"z": (_LOC, "array"), "axis": (-1, "int")}),
    "functional.softmax_cross_entropy": (
        tc.functional.softmax_cross_entropy,
        {"logits": (_LOC[:, 5:], "array"), "one_hot": (_LOC[:, 5:], "array")},
    ),
    "functional.softmax": (tc.functional.softmax, {"z": (_LOC, "array"), "axis": (-1, "int")}),
    "functional.binary_cross_entropy": (
        tc.functional.binary_cross_entropy,
        {"logits": (_LOC[:, 0], "array"), "targets": (_LOC[:, 0], "array")},
    ),
    "layers.Conv2D": (
        tc.Conv2D,
        {
            "in_channels": (1, "int"),
            "out_channels": (2, "int"),
            "kernel_size": (3, "int"),
            "stride": (1, "int"),
            "padding": (0, "int"),
            "dtype": (np.float32, "dtype"),
            "rng": (0, "rng|None"),
        },
    ),
    "layers.ConvReLUMaxPool2D": (
        tc.ConvReLUMaxPool2D,
        {
            "in_channels": (1, "int"),
            "out_channels": (2, "int"),
            "kernel_size": (3, "int"),
            "stride": (1, "int"),
            "padding": (0, "int"),
            "pool_size": (2, "int"),
            "pool_stride": (2, "int|None"),
            "dtype": (np.float32, "dtype"),
            "rng": (0, "rng|None"),
        },
    ),
    "layers.ConvReLUMaxPool2D.backward": (
        lambda dout, input_grad: _after_forward(tc.ConvReLUMaxPool2D(1, 2, 3, rng=0), _CONV_X)(
            dout, input_grad
        ),
        {"dout": (np.ones((2, 2, 2, 2), np.float32), "array"), "input_grad": (True, "flag")},
    ),
    "layers.MaxPool2D": (tc.MaxPool2D, {"kernel_size": (2, "int"), "stride": (2, "int|None")}),
    "layers.ReLUMaxPool2D": (
        tc.ReLUMaxPool2D,
        {"kernel_size": (2, "int"), "stride": (2, "int|None")},
    ),
    "layers.Dense": (
        tc.Dense,
        {
            "in_features": (3, "int"),
            "out_features": (2, "int"),
            "dtype": (np.float32, "dtype"),
            "rng": (0, "rng|None"),
        },
    ),
    "layers.Dropout": (tc.Dropout, {"p": (0.5, "real"), "rng": (0, "rng|None")}),
    "layers.BatchNorm2D": (tc.BatchNorm2D, _BATCHNORM),
    "layers.Conv2D.forward": (
        lambda x: tc.Conv2D(1, 2, 3, rng=0).forward(x),
        {"x": (_CONV_X, "array")},
    ),
    "layers.Conv2D.backward": (
        lambda dout, input_grad: _after_forward(tc.Conv2D(1, 2, 3, rng=0), _CONV_X)(
            dout, input_grad
        ),
        {"dout": (np.ones((2, 2, 4, 4), np.float32), "array"), "input_grad": (True, "flag")},
    ),
    "layers.BatchNormReLU2D": (tc.BatchNormReLU2D, _BATCHNORM),
    "layers.BatchNormReLUMaxPool2D": (
        tc.BatchNormReLUMaxPool2D,
        {**_BATCHNORM, "kernel_size": (2, "int"), "stride": (2, "int|None")},
    ),
    "layers.BatchNorm2D.backward": (
        lambda dout, input_grad: _after_forward(tc.BatchNorm2D(1), _CONV_X)(dout, input_grad),
        {"dout": (np.ones_like(_CONV_X), "array"), "input_grad": (True, "flag")},
    ),
    "Sequential.predict": (
        lambda x, batch_size: small_model().predict(x, batch_size),
        {"x": (_SMALL_MODEL_X, "array"), "batch_size": (2, "int")},
    ),
    "train.fit": (
        _fit,
        {
            "x": (_SMALL_MODEL_X, "array"),
            "y": (_LOC, "array"),
            "epochs": (1, "int"),
            "batch_size": (2, "int"),
            "progress": (False, "flag"),
        },
    ),
    "train.step_decay": (
        tc.train.step_decay,
        {"lr": (0.1, "real"), "drop": (0.5, "real"), "every": (5, "int")},
    ),
    "optim.Adam": (
        lambda lr, beta1, eps: tc.optim.Adam(small_model(), lr, beta1, eps=eps),
        {"lr": (1e-3, "real"), "beta1": (0.9, "real"), "eps": (1e-8, "real")},
    ),
    "gradcheck.numerical_gradient": (
        lambda x, h: tc.gradcheck.numerical_gradient(lambda: 1.0, x, h),
        {"x": (np.ones(3), "array"), "h": (1e-6, "real")},
    ),
    "viz.show_localization": (
        lambda images, y_true, ncols, threshold: tinycnn.viz.show_localization(
            images, y_true, ncols=ncols, threshold=threshold
        ),
        {
            "images": (_IMAGES, "array"),
            "y_true": (_LOC, "array|None"),
            "ncols": (2, "int"),
            "threshold": (0.5, "real"),
        },
    ),
    "viz.show_filters": (
        tinycnn.viz.show_filters,
        {"weights": (_W, "array"), "path": (None, "path|None")},
    ),
    "viz.draw_boxes": (
        lambda boxes, linewidth, fontsize: tinycnn.viz.draw_boxes(
            _axes_showing_an_image(), boxes, linewidth=linewidth, fontsize=fontsize
        ),
        {"boxes": (_BOXES, "array"), "linewidth": (1.5, "real"), "fontsize": (7, "real")},
    ),
    "kernels.conv.conv2d_forward": (
        conv.conv2d_forward,
        {**_CONV2D_FORWARD_ARGUMENTS, "keep_planes": (False, "flag")},
    ),
    "kernels.reference.conv2d_forward": (reference.conv2d_forward, _CONV2D_FORWARD_ARGUMENTS),
    "kernels.winograd.winograd_forward": (
        winograd.winograd_forward,
        {"x": (_X, "array"), "weights": (_W, "array"), "bias": (np.zeros(4), "array|None")},
    ),
    "kernels.pointwise_blas.pointwise_forward": (
        pointwise_blas.pointwise_forward,
        {"x": (_X, "array"), "weights": (_W[:, :, :1, :1], "array"), "bias": (None, "array|None")},
    ),
    "kernels.dense.dense_forward": (
        dense.dense_forward,
        {
            "x": (_X[:, 0, 0], "array"),
            "weights": (np.ones((6, 2)), "array"),
            "bias": (np.zeros(2), "array"),
        },
    ),
    "kernels.dense.dense_backward": (
        dense.dense_backward,
        {
            "x": (_X[:, 0, 0], "array"),
            "dout": (np.ones((_X.shape[0], 2)), "array"),
            "weights": (np.ones((6, 2)), "array"),
            "input_grad": (True, "flag"),
        },
    ),
    "kernels.im2col.im2col": (
        im2col.im2col,
        {
            "x": (_X, "array"),
            "kernel_size": (3, "int"),
            "stride": (1, "int"),
            "padding": (0, "int"),
        },
    ),
    "kernels.conv_pool.conv_relu_maxpool_forward": (
        conv_pool.conv_relu_maxpool_forward,
        {
            "x": (_X, "array"),
            "weights": (_W, "array"),
            "bias": (np.zeros(4), "array|None"),
            "padding": (1, "int"),
        },
    ),
    "kernels.pool.maxpool2d_forward": (
        pool.maxpool2d_forward,
        {"x": (_X, "array"), "kernel_size": (2, "int"), "stride": (2, "int")},
    ),
    "kernels.batchnorm.batchnorm_forward": (
        batchnorm.batchnorm_forward,
        {
            "x": (_X, "array"),
            "gamma": (np.ones(3), "array"),
            "beta": (np.zeros(3), "array"),
            "eps": (1e-5, "real"),
            "relu": (True, "flag"),
        },
    ),
    "kernels.batchnorm_pool.batchnorm_relu_maxpool_forward": (
        batchnorm_pool.batchnorm_relu_maxpool_forward,
        {
            "x": (_X, "array"),
            "gamma": (np.ones(3), "array"),
            "beta": (np.zeros(3), "array"),
            "eps": (1e-5, "real"),
            "kernel_size": (2, "int"),
            "stride": (2, "int"),
        },
    ),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(TYPED_CALLS)), st.data())
def test_a_wrong_type_is_a_type_error_naming_the_argument(name, data):
    function, arguments = TYPED_CALLS[name]
    argument = data.draw(st.sampled_from(sorted(arguments)), label="argument")
    valid, kind = arguments[argument]
    wrong = data.draw(wrong_types(kind, valid), label="wrong value")
    call = {key: value for key, (value, _) in arguments.items()}
    with pytest.raises(TypeError) as raised:
        function(**{**call, argument: wrong})
    assert argument in str(raised.value), f"{name}({argument}=...) raised {raised.value!r}"


@pytest.mark.parametrize("name", sorted(TYPED_CALLS))
def test_a_typed_call_lists_every_argument_of_its_function(name):
    """An argument left out of the table would never be given a wrong type."""
    function, arguments = TYPED_CALLS[name]
    parameters = inspect.signature(function).parameters.values()
    named = {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    assert named == set(arguments), f"{name}: not in the table {sorted(named - set(arguments))}"


@pytest.mark.parametrize("name", sorted(TYPED_CALLS))
def test_the_calls_the_wrong_types_replace_arguments_of_are_valid(name):
    function, arguments = TYPED_CALLS[name]
    function(**{key: value for key, (value, _) in arguments.items()})
