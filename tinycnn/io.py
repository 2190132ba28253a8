"""Saving and loading a model: architecture and weights in one .npz file, no pickle.

The file holds
- "tinycnn_format": the format version;
- "architecture": JSON text naming each layer with its constructor arguments, and the output map;
- "layers.<i>.<name>": each parameter array, e.g. "layers.0.W".

It is read with `allow_pickle=False`, so loading a file never runs code from it.
"""

import json
import zipfile

import numpy as np

from tinycnn.layers import LAYER_TYPES
from tinycnn.model import Sequential
from tinycnn.outputs import output_from_config

FORMAT_VERSION = 1


def save(model, path):
    """Write `model` (a Sequential) to `path` (".npz" is appended by numpy if missing)."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a tinycnn Sequential, got {type(model).__name__}")
    for index, layer in enumerate(model.layers):
        if type(layer).__name__ not in LAYER_TYPES:
            raise TypeError(f"model.layers[{index}] is a {type(layer).__name__}, which save does "
                            f"not know how to rebuild (known: {', '.join(LAYER_TYPES)})")
    architecture = {
        "layers": [{"type": type(layer).__name__, "config": layer.get_config()}
                   for layer in model.layers],
        "output": model.output.get_config(),
    }
    arrays = {f"layers.{index}.{name}": param for index, layer in enumerate(model.layers)
              for name, param in layer.params.items()}
    np.savez(path, tinycnn_format=np.array(FORMAT_VERSION),
             architecture=np.array(json.dumps(architecture)), **arrays)


def load(path):
    """Rebuild the model saved at `path`, weights and output map included."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable .npz file (truncated or not a tinycnn "
                         f"model): {error}") from error
    if "tinycnn_format" not in arrays or "architecture" not in arrays:
        raise ValueError(f"{path} is not a tinycnn model: it lacks the 'tinycnn_format' and "
                         "'architecture' entries that tinycnn.save writes")
    version = int(arrays.pop("tinycnn_format"))
    if version != FORMAT_VERSION:
        raise ValueError(f"{path} has tinycnn format {version}; this version reads {FORMAT_VERSION}")
    architecture = json.loads(str(arrays.pop("architecture")))
    layers = []
    for index, entry in enumerate(architecture["layers"]):
        if entry["type"] not in LAYER_TYPES:
            raise ValueError(f"{path}: layer {index} has unknown type {entry['type']!r}")
        layer = LAYER_TYPES[entry["type"]](**entry["config"])
        for name, param in layer.params.items():
            key = f"layers.{index}.{name}"
            if key not in arrays:
                raise ValueError(f"{path}: the weights {key!r} of {layer!r} are missing")
            saved = arrays.pop(key)
            if saved.shape != param.shape:
                raise ValueError(f"{path}: {key} has shape {saved.shape}, but {layer!r} needs "
                                 f"{param.shape}")
            param[...] = saved
        layers.append(layer)
    if arrays:
        raise ValueError(f"{path} holds arrays that no layer uses: {', '.join(sorted(arrays))}")
    return Sequential(layers, output=output_from_config(architecture["output"]))
