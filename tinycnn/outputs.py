"""Output maps: from a network's raw output to the lecture's vector.

The last Dense layer outputs raw numbers, one row per image. What they mean depends on the loss
the network was trained with:

- the squared losses compare raw with y directly, so raw already is the lecture's vector
  (`Identity`);
- the cross-entropy losses read p_c (or is_face) and the class scores as logits, so the lecture's
  vector is

      p_c = sigmoid(raw_0)      box = raw_1..raw_4      c_1..c_K = softmax(raw_5..raw_{K+4})

  (`LocalizationOutput`), or is_face = sigmoid(raw_0) and the points as they are
  (`LandmarkOutput`).

Each loss carries its map as `loss.output`; the model is built with it
(`Sequential(layers, output=loss.output)`) and applies it in `predict`, and `save`/`load` keep it
through `get_config` and `output_from_config`. The functions themselves (sigmoid, softmax) live in
`tinycnn.functional`.
"""

import json

import numpy as np

from tinycnn.checks import float_array
from tinycnn.functional import sigmoid, softmax
from tinycnn.targets import (
    BOX,
    CLASSES,
    IS_FACE,
    P_C,
    POINTS,
    check_predictions,
    landmark_width,
    localization_width,
)

__all__ = [
    "OutputMap",
    "Identity",
    "LocalizationOutput",
    "LandmarkOutput",
    "output_from_config",
    "sigmoid",
    "softmax",
]


class OutputMap:
    """What every output map shares: `map(raw) -> y_hat`, a config, and equality by config.

    Two maps are equal when their configs are (`model.output == loss.output`). Subclasses register
    themselves in `OutputMap.registry`, which `output_from_config` reads: tinycnn's own maps by
    class name, any other by "module.QualName" (as layers do, so that a user's map never loads as
    a built-in of the same name).
    `width` is the number of raw outputs the map reads, or None for any. `raw_layout` is the shape
    of one image's raw output that the map reads, None in an axis of any size, or None for any
    shape: (width,) for a vector map; a grid map says its own. Sequential checks it against the
    network where the two meet (`Sequential.output`).
    """

    registry = {}
    width = None

    @property
    def raw_layout(self):
        return None if self.width is None else (self.width,)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__ == "tinycnn" or cls.__module__.startswith("tinycnn."):
            cls.type_name = cls.__name__
        else:
            cls.type_name = f"{cls.__module__}.{cls.__qualname__}"
        OutputMap.registry[cls.type_name] = cls

    def __call__(self, raw):
        raise NotImplementedError

    def get_config(self):
        """The name and constructor arguments, JSON-serialisable."""
        return {"name": type(self).type_name}

    def __eq__(self, other):
        if not isinstance(other, OutputMap):
            return NotImplemented
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(json.dumps(self.get_config(), sort_keys=True))

    def __repr__(self):
        config = self.get_config()
        arguments = ", ".join(f"{key}={value!r}" for key, value in config.items() if key != "name")
        return f"{type(self).__name__}({arguments})"


class Identity(OutputMap):
    """raw -> raw: for the squared losses, whose network outputs the lecture's vector itself,
    and for any network without a map of its own (a detector's grid, a feature map): raw
    output of any shape (N, ...) is returned as it is, a copy."""

    def __call__(self, raw):
        return float_array(raw, "raw", min_ndim=1).copy()


class LocalizationOutput(OutputMap):
    """raw (N, K+5) -> [sigmoid(p_c logit), box as is, softmax(class logits)], for
    LocalizationLoss."""

    def __init__(self, num_classes):
        self.width = localization_width(num_classes)
        self.num_classes = int(num_classes)

    def __call__(self, raw):
        raw = check_predictions(raw, self.width, name="raw", finite=False)
        y_hat = np.empty_like(raw)
        y_hat[:, P_C] = sigmoid(raw[:, P_C])
        y_hat[:, BOX] = raw[:, BOX]
        y_hat[:, CLASSES] = softmax(raw[:, CLASSES])
        return y_hat

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class LandmarkOutput(OutputMap):
    """raw (N, 1+2L) -> [sigmoid(is_face logit), points as is], for LandmarkLoss."""

    def __init__(self, num_landmarks=3):
        self.width = landmark_width(num_landmarks)
        self.num_landmarks = int(num_landmarks)

    def __call__(self, raw):
        raw = check_predictions(raw, self.width, name="raw", finite=False)
        y_hat = np.empty_like(raw)
        y_hat[:, IS_FACE] = sigmoid(raw[:, IS_FACE])
        y_hat[:, POINTS] = raw[:, POINTS]
        return y_hat

    def get_config(self):
        return {**super().get_config(), "num_landmarks": self.num_landmarks}


def output_from_config(config):
    """Rebuild an output map from its `get_config()` dict; TypeError for anything but a dict,
    ValueError for a dict that names no output map."""
    registry = OutputMap.registry
    if not isinstance(config, dict):
        raise TypeError(
            f"config must be a dict whose 'name' is one of {sorted(registry)}, got "
            f"{type(config).__name__}"
        )
    if "name" in config and not isinstance(config["name"], str):
        raise TypeError(
            f"config['name'] must be a string, one of {sorted(registry)}, got "
            f"{type(config['name']).__name__}"
        )
    if config.get("name") not in registry:
        raise ValueError(
            f"config must be a dict whose 'name' is one of {sorted(registry)}, got {config!r}"
        )
    arguments = {key: value for key, value in config.items() if key != "name"}
    try:
        return registry[config["name"]](**arguments)
    except TypeError as error:
        raise ValueError(f"config {config!r} does not fit {config['name']}: {error}") from error
