"""Saving and loading a model: architecture and weights in one .npz file, no pickle; and
`write_json`, the same careful writing for a run's results.

The file is a zip archive of .npy members (what `numpy.savez` writes):
- "tinycnn_format": the format version, an integer (FORMAT_VERSION);
- "architecture": JSON text naming each layer's type with its constructor arguments, and the
  output map;
- "layers.<i>.params.<name>": each parameter array, e.g. "layers.0.params.W";
- "layers.<i>.state.<name>": each state array, e.g. "layers.3.state.running_mean".
Format 1 (before state existed) named the parameters "layers.<i>.<name>"; `load` still reads it.

What the two functions promise:
- `save` is atomic. It checks everything first (every array is a finite float32 or float64
  array of the shape its layer expects; every layer can be rebuilt by `load`), then writes a
  temporary file in the same folder, flushes it to disk and renames it over `path`. A failure at
  any point leaves the previous file byte for byte, and no temporary file behind. A new file gets
  the permissions a plain open() would give it (0o666 less the umask), a replaced one keeps its
  own; a symbolic link is followed, so the file it points to is replaced and the link stays.
  `path` must name a file: a folder ("runs/") or a folder that does not exist is refused, the
  error naming the path as it was given.
- `load` is cheap and strict. It reads the zip directory and each member's .npy header before
  decompressing anything, builds the layers without drawing weights, and refuses unknown or
  missing members, dtypes other than float32/float64, shapes the architecture does not expect,
  sizes the header does not account for, and non-finite weights. Every malformed file gets a
  ValueError that names the file and what is wrong. Loading never runs code from the file
  (no pickle) and never allocates more than the arrays the architecture declares. A path that
  is missing or is a folder gets FileNotFoundError or IsADirectoryError naming the path given.

`write_json` writes a dict of results (numbers, strings, lists, numpy numbers and arrays) as
indented JSON, atomically and with the same permissions as `save`. JSON has no NaN or infinity, so
those are written as null: the file is always valid JSON that any reader accepts.
"""

import contextlib
import json
import math
import os
import tempfile
import zipfile

import numpy as np

from tinycnn.checks import FLOAT_DTYPES
from tinycnn.layers import Layer
from tinycnn.model import Sequential
from tinycnn.outputs import OutputMap, output_from_config

FORMAT_VERSION = 2
"""The layout `save` writes."""

READABLE_VERSIONS = (1, 2)
"""The layouts `load` reads: 1 (params only) and 2 (params and state)."""

MAX_ARCHITECTURE_CHARS = 1_000_000
"""Longest architecture JSON `load` reads (a network of thousands of layers fits easily)."""

MAX_NESTING = 8
"""Deepest nesting of lists/dicts accepted in a layer's config."""

_DEFLATE_MAX_RATIO = 1100
"""Deflate cannot shrink data more than about 1032:1; a member claiming more is lying."""


class _Malformed(Exception):
    """What is wrong with a file; `load` turns it into a ValueError naming the file."""


def save(model, path):
    """Write `model` (a Sequential) to `path`, atomically; ".npz" is appended if missing.

    Returns the path written. Raises TypeError/ValueError, before anything is written, for a
    model that `load` could not read back.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a tinycnn Sequential, got {type(model).__name__}")
    model.check()  # model.layers may have been edited since it was built
    target = _npz_path(path)
    _check_writable(path, target, "model.npz")
    members = {
        "tinycnn_format": np.array(FORMAT_VERSION, dtype=np.int64),
        "architecture": np.array(json.dumps(_architecture(model), allow_nan=False)),
    }
    for index, layer in enumerate(model.layers):
        layer.check_arrays()
        for kind in ("params", "state"):
            for name, array in getattr(layer, kind).items():
                if not np.isfinite(array).all():
                    raise ValueError(
                        f"model.layers[{index}] {layer!r}: {kind}[{name!r}] holds NaN or inf, "
                        "which load would refuse; the model cannot be saved as it is"
                    )
                members[f"layers.{index}.{kind}.{name}"] = array
    _write_atomically(target, path, lambda file: _write_npz(file, members))
    return target


def write_json(path, data, name="data"):
    """Write `data` (dicts, lists, strings, numbers, numpy numbers and arrays, None) to `path`
    as indented JSON, atomically as `save` writes. NaN and infinities are written as null.
    TypeError, naming the argument as `name`, for anything JSON cannot hold; ValueError for a
    list or dict that holds itself. Returns nothing."""
    target = _path_text(path)
    try:
        text = json.dumps(_plain(data, name), indent=2, allow_nan=False) + "\n"
    except TypeError as error:  # a dict key JSON cannot hold
        raise TypeError(f"{name} cannot be written as JSON: {error}") from None
    except RecursionError:  # no cycle (_plain refuses those), but lists in lists, ever deeper
        raise ValueError(f"{name} is nested too deeply to be written as JSON") from None
    _check_writable(path, target, f"{name}.json")
    _write_atomically(target, path, lambda file: file.write(text.encode("utf-8")))


def _plain(value, name, holders=frozenset()):
    """value with numpy numbers and arrays turned into Python ones, tuples into lists, and NaN
    and infinities into None. holders are the ids of the lists and dicts that hold value: one of
    them inside itself would recurse for ever."""
    if isinstance(value, (dict, list, tuple)):
        if id(value) in holders:
            raise ValueError(
                f"{name} holds itself (a {type(value).__name__} inside itself): JSON cannot "
                "write a circular reference"
            )
        holders = holders | {id(value)}
    if isinstance(value, dict):
        return {
            key.item() if isinstance(key, np.generic) else key: _plain(item, name, holders)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_plain(item, name, holders) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), name)
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise TypeError(
        f"{name} must hold numbers, strings, lists or dicts, got {type(value).__name__}"
    )


def load(path):
    """Rebuild the model saved at `path` (".npz" appended if missing), weights, state and output
    map included. ValueError naming the file for anything that is not a valid tinycnn model."""
    given = path
    path = _npz_path(path, for_reading=True)
    # "localizer" reads localizer.npz, beside any folder of that name; a folder alone is refused.
    for candidate in (path, os.fspath(given)):
        if os.path.isdir(candidate) and not os.path.isfile(path):
            raise IsADirectoryError(f"{candidate} is a folder, not a tinycnn model (an .npz file)")
    if not os.path.exists(path):
        tried = f"{os.fspath(given)} (nor at {path})" if path != os.fspath(given) else path
        raise FileNotFoundError(f"no tinycnn model at {tried}")
    with open(path, "rb") as file:  # a file we may not read: PermissionError, as it is
        if file.read(6) == b"\x93NUMPY":
            raise ValueError(f"{path} is a plain .npy array, not a tinycnn model (.npz archive)")
    try:
        return _load(path)
    except _Malformed as error:
        raise ValueError(f"{path}: {error}") from None
    except Exception as error:  # a damaged zip makes zipfile fail in many ways, none of them ours
        raise ValueError(
            f"{path} is not a readable .npz file, so not a tinycnn model "
            f"({type(error).__name__}: {error})"
        ) from error


# --- save --------------------------------------------------------------------------------------


def _architecture(model):
    """The JSON-ready description of model, each layer checked to be rebuildable by load."""
    layers = []
    for index, layer in enumerate(model.layers):
        cls = type(layer)
        if Layer.registry.get(cls.type_name) is not cls:
            raise TypeError(
                f"model.layers[{index}] is a {cls.__qualname__} that load could not find again: "
                f"the name {cls.type_name!r} now belongs to another class (was it redefined?)"
            )
        config = layer.get_config()
        try:
            config = json.loads(json.dumps(config, allow_nan=False))
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"model.layers[{index}] {layer!r}: get_config() must give JSON-serialisable, "
                f"finite values, got {config!r} ({error})"
            ) from error
        cls.from_config(config)  # the constructor refuses now what load would refuse later
        layers.append({"type": cls.type_name, "config": config})
    output = model.output
    if not isinstance(output, OutputMap):
        raise TypeError(f"model.output must be a tinycnn output map, got {output!r}")
    try:
        config = json.loads(json.dumps(output.get_config(), allow_nan=False))
        rebuilt = output_from_config(config)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"model.output {output!r} cannot be rebuilt from its config: {error}"
        ) from error
    if type(rebuilt) is not type(output):
        raise TypeError(
            f"model.output {output!r} would load as a {type(rebuilt).__name__}: "
            f"the name {config['name']!r} belongs to another class (was it redefined?)"
        )
    return {"layers": layers, "output": config}


def _check_writable(given, target, example):
    """Refuse, naming the path as given, a target that names a folder or lies in a folder that
    is not there, before anything is written. Only the file to be written counts: saving to
    "localizer" writes localizer.npz, whatever a folder named localizer holds. example: a file
    name to suggest inside a folder."""
    given = os.fspath(given)
    if given.endswith((os.sep, os.altsep or os.sep)):
        raise IsADirectoryError(
            f"{given} names a folder (it ends with {os.sep}): give a file name in it, e.g. "
            f"{os.path.join(given, example)}"
        )
    if os.path.isdir(target):
        raise IsADirectoryError(
            f"{target} is a folder: give a file name in it, e.g. {os.path.join(target, example)}"
        )
    folder = os.path.dirname(os.path.realpath(target))
    if not os.path.isdir(folder):
        reason = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise FileNotFoundError(f"cannot write {given}: the folder {folder} {reason}")


def _write_atomically(target, given, write):
    """Call write(file) on a temporary file beside target, fsync it, and rename it over target
    (over the file a symbolic link points to, keeping the link). An OSError names the path as
    the user gave it, never the temporary file."""
    real_target = os.path.realpath(target)
    directory = os.path.dirname(real_target)
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(real_target)}.", suffix=".tmp", dir=directory
        )
    except OSError as error:
        raise _naming(error, given) from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _file_mode(real_target))
        os.replace(temporary, real_target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError) and temporary in str(error):
            raise _naming(error, given) from None
        raise
    _sync_directory(directory)


def _naming(error, given):
    """The same kind of OSError, its message naming the path the user gave, not a temporary."""
    reason = error.strerror or str(error)
    if error.errno is None:
        return type(error)(f"cannot write {os.fspath(given)}: {reason}")
    return type(error)(error.errno, f"cannot write {os.fspath(given)}: {reason}")


def _write_npz(file, members):
    """Write members {key: array} into file as an uncompressed .npz (a zip of .npy arrays)."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in members.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _file_mode(target):
    """The old file's permissions, or what a plain open() would give a new one."""
    with contextlib.suppress(FileNotFoundError):
        return os.stat(target).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _sync_directory(directory):
    """Make the rename itself durable, where the system allows it."""
    with contextlib.suppress(OSError, AttributeError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _npz_path(path, for_reading=False):
    """path with ".npz" appended if it does not end so, as numpy.savez does. For reading, an
    existing file named exactly `path` is taken as it is."""
    path = _path_text(path)
    if path.endswith(".npz") or (for_reading and os.path.isfile(path)):
        return path
    return path + ".npz"


def _path_text(path):
    """path as a str; TypeError unless it is a str or os.PathLike of str, ValueError if empty."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        raise TypeError("path must be a str or os.PathLike of str, got bytes")
    if not path:
        raise ValueError("path must name a file, got an empty string")
    return path


# --- load --------------------------------------------------------------------------------------


def _load(path):
    with zipfile.ZipFile(path) as archive:
        members = _members(archive)
        version = _read_version(archive, members)
        architecture = _read_architecture(archive, members)
        layers = [_build_layer(index, entry) for index, entry in enumerate(architecture["layers"])]
        expected = _expected_members(layers, version)
        unknown = sorted(set(members) - set(expected) - {"tinycnn_format", "architecture"})
        if unknown:
            raise _Malformed(f"holds members that no layer uses: {', '.join(unknown[:10])}")
        missing = [key for key in expected if key not in members]
        if missing:
            raise _Malformed(f"lacks the arrays {', '.join(missing[:10])} that its layers need")
        headers = {key: _read_header(archive, members[key], key) for key in expected}
        for key, (index, _, _, shape) in expected.items():
            member_shape = headers[key][0]
            if member_shape != shape:
                raise _Malformed(
                    f"{key} has shape {member_shape}, but layer {index} {layers[index]!r} needs "
                    f"{shape}"
                )
        for key, (index, kind, name, _) in expected.items():
            array = _read_array(archive, members[key], key, headers[key], layers[index])
            getattr(layers[index], kind)[name] = array
    for layer in layers:
        layer.check_arrays()
    try:
        output = output_from_config(architecture["output"])
        return Sequential(layers, output=output)
    except (TypeError, ValueError) as error:
        raise _Malformed(f"its output map does not fit: {error}") from error


def _members(archive):
    """{key: ZipInfo} for the archive's .npy members, the zip directory checked."""
    members = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise _Malformed(f"holds {info.filename!r}, which is not a .npy member")
        key = info.filename[: -len(".npy")]
        if key in members:
            raise _Malformed(f"holds the member {info.filename!r} twice")
        if info.flag_bits & 0x1:
            raise _Malformed(f"member {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Malformed(f"member {info.filename!r} uses an unsupported compression")
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024
        ):
            raise _Malformed(
                f"member {info.filename!r} claims {info.file_size} bytes from "
                f"{info.compress_size} compressed: more than any real compression gives"
            )
        members[key] = info
    return members


def _read_header(archive, info, key):
    """(shape, dtype, fortran_order, header_length) of a member, decompressing only its header.
    The member's size in the zip directory must be exactly header + data."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
        except ValueError as error:
            raise _Malformed(f"member {key} is not a .npy array ({error})") from error
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise _Malformed(f"member {key} has .npy format version {version}; 1.0 or 2.0 needed")
        header_length = member.tell()
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise _Malformed(f"member {key} has dtype {dtype}, which tinycnn never writes")
    data_length = math.prod(shape) * dtype.itemsize
    if info.file_size != header_length + data_length:
        raise _Malformed(
            f"member {key} is {info.file_size} bytes, but its header ({shape}, {dtype}) "
            f"accounts for {header_length + data_length}"
        )
    return shape, dtype, fortran_order, header_length


def _read_data(archive, info, key, header):
    """The member's data as an array, read only after its header has been checked."""
    shape, dtype, fortran_order, header_length = header
    with archive.open(info) as member:
        member.read(header_length)
        data = member.read(math.prod(shape) * dtype.itemsize)
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise _Malformed(f"member {key} is truncated")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_version(archive, members):
    if "tinycnn_format" not in members or "architecture" not in members:
        raise _Malformed(
            "is not a tinycnn model: it lacks the 'tinycnn_format' and 'architecture' entries "
            "that tinycnn.save writes"
        )
    header = _read_header(archive, members["tinycnn_format"], "tinycnn_format")
    shape, dtype = header[:2]
    if shape != () or dtype.kind not in "iu":
        raise _Malformed(
            f"tinycnn_format must be one integer, got shape {shape} of dtype {dtype}; "
            f"this version reads formats {READABLE_VERSIONS}"
        )
    version = int(_read_data(archive, members["tinycnn_format"], "tinycnn_format", header)[()])
    if version not in READABLE_VERSIONS:
        raise _Malformed(
            f"has tinycnn format {version}; this version reads formats {READABLE_VERSIONS}"
        )
    return version


def _read_architecture(archive, members):
    header = _read_header(archive, members["architecture"], "architecture")
    shape, dtype = header[:2]
    if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * MAX_ARCHITECTURE_CHARS:
        raise _Malformed(
            f"architecture must be one JSON text of at most {MAX_ARCHITECTURE_CHARS} characters, "
            f"got shape {shape} of dtype {dtype}"
        )
    text = str(_read_data(archive, members["architecture"], "architecture", header)[()])
    try:
        architecture = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise _Malformed(f"architecture is not valid JSON ({type(error).__name__})") from None
    _check_architecture(architecture)
    return architecture


def _check_architecture(architecture):
    """Raise _Malformed unless architecture has the structure save writes."""
    if not isinstance(architecture, dict) or set(architecture) != {"layers", "output"}:
        keys = sorted(architecture) if isinstance(architecture, dict) else type(architecture)
        raise _Malformed(f"architecture must be a dict with 'layers' and 'output', got {keys}")
    layers = architecture["layers"]
    if not isinstance(layers, list) or not layers:
        raise _Malformed("architecture['layers'] must be a non-empty list")
    for index, entry in enumerate(layers):
        if (
            not isinstance(entry, dict)
            or set(entry) != {"type", "config"}
            or not isinstance(entry["type"], str)
            or not isinstance(entry["config"], dict)
        ):
            raise _Malformed(
                f"architecture['layers'][{index}] must be a dict with a 'type' string and a "
                f"'config' dict, got {_shorten(entry)}"
            )
        _check_nesting(entry["config"], f"architecture['layers'][{index}]['config']")
    output = architecture["output"]
    if not isinstance(output, dict) or not isinstance(output.get("name"), str):
        raise _Malformed(f"architecture['output'] must be a dict with a 'name', got {output!r}")
    _check_nesting(output, "architecture['output']")


def _check_nesting(value, where, depth=0):
    if depth > MAX_NESTING:
        raise _Malformed(f"{where} is nested deeper than {MAX_NESTING} levels")
    if isinstance(value, dict):
        for item in value.values():
            _check_nesting(item, where, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_nesting(item, where, depth + 1)


def _build_layer(index, entry):
    """The layer an architecture entry names, built without weights."""
    cls = Layer.registry.get(entry["type"])
    if cls is None:
        hint = ""
        if "." in entry["type"]:
            hint = ": import the module that defines it before calling load"
        raise _Malformed(f"layer {index} has type {entry['type']!r}, which is not registered{hint}")
    try:
        return cls.from_config(entry["config"])
    except (TypeError, ValueError) as error:
        raise _Malformed(
            f"layer {index} ({entry['type']}) cannot be built from config "
            f"{_shorten(entry['config'])}: {error}"
        ) from error


def _expected_members(layers, version):
    """{key: (layer index, "params"/"state", name, shape)} for every array the layers need."""
    expected = {}
    for index, layer in enumerate(layers):
        for kind, shapes in (("params", layer.param_shapes()), ("state", layer.state_shapes())):
            for name, shape in shapes.items():
                if version == 1:
                    if kind == "state":
                        raise _Malformed(f"format 1 cannot hold layer {index}'s state {name!r}")
                    key = f"layers.{index}.{name}"
                else:
                    key = f"layers.{index}.{kind}.{name}"
                expected[key] = (index, kind, name, tuple(shape))
    return expected


def _read_array(archive, info, key, header, layer):
    """The member as a writable array in the layer's dtype, refused if complex, integer or not
    finite (values beyond float32's range included)."""
    dtype = header[1]
    if dtype.newbyteorder("=") not in FLOAT_DTYPES:
        raise _Malformed(f"{key} has dtype {dtype}; weights must be float32 or float64")
    with np.errstate(over="ignore"):
        array = _read_data(archive, info, key, header).astype(
            getattr(layer, "dtype", dtype.newbyteorder("="))
        )
    if not np.isfinite(array).all():
        raise _Malformed(f"{key} holds NaN, inf, or values beyond the range of {array.dtype}")
    return array


def _shorten(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
