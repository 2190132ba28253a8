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

Each loss carries its map as `loss.output`; the model applies it in `predict`, and `save`/`load`
keep it through `get_config` and `output_from_config`.
"""

import numpy as np

from tinycnn.targets import BOX, CLASSES, IS_FACE, P_C, POINTS, landmark_width, localization_width


def sigmoid(z):
    """σ(z) = 1 / (1 + e^(-z)), without overflow for any z.

    For z < 0 it is computed as e^z / (1 + e^z), so that e^(-z) never grows past 1 either way.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z):
    """softmax(z)_k = e^(z_k) / Σ_j e^(z_j) along the last axis.

    Subtracting max_j z_j first changes nothing in the ratio and keeps every e^(...) <= 1.
    """
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


class Identity:
    """raw -> raw: for the squared losses, whose network outputs the lecture's vector itself."""

    def __call__(self, raw):
        return _check_raw(raw, None, self).copy()

    def get_config(self):
        return {"name": "Identity"}

    def __repr__(self):
        return "Identity()"


class LocalizationOutput:
    """raw (N, K+5) -> [sigmoid(p_c logit), box as is, softmax(class logits)], for
    LocalizationLoss."""

    def __init__(self, num_classes):
        self.width = localization_width(num_classes)
        self.num_classes = num_classes

    def __call__(self, raw):
        raw = _check_raw(raw, self.width, self)
        y_hat = np.empty_like(raw)
        y_hat[:, P_C] = sigmoid(raw[:, P_C])
        y_hat[:, BOX] = raw[:, BOX]
        y_hat[:, CLASSES] = softmax(raw[:, CLASSES])
        return y_hat

    def get_config(self):
        return {"name": "LocalizationOutput", "num_classes": self.num_classes}

    def __repr__(self):
        return f"LocalizationOutput(num_classes={self.num_classes})"


class LandmarkOutput:
    """raw (N, 1+2L) -> [sigmoid(is_face logit), points as is], for LandmarkLoss."""

    def __init__(self, num_landmarks=3):
        self.width = landmark_width(num_landmarks)
        self.num_landmarks = num_landmarks

    def __call__(self, raw):
        raw = _check_raw(raw, self.width, self)
        y_hat = np.empty_like(raw)
        y_hat[:, IS_FACE] = sigmoid(raw[:, IS_FACE])
        y_hat[:, POINTS] = raw[:, POINTS]
        return y_hat

    def get_config(self):
        return {"name": "LandmarkOutput", "num_landmarks": self.num_landmarks}

    def __repr__(self):
        return f"LandmarkOutput(num_landmarks={self.num_landmarks})"


OUTPUTS = {output.__name__: output for output in (Identity, LocalizationOutput, LandmarkOutput)}
"""Every output map by class name, for `output_from_config`."""


def output_from_config(config):
    """Rebuild an output map from its `get_config()` dict."""
    if not isinstance(config, dict) or config.get("name") not in OUTPUTS:
        raise ValueError(f"config must be a dict whose 'name' is one of {sorted(OUTPUTS)}, "
                         f"got {config!r}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    return OUTPUTS[config["name"]](**arguments)


def _check_raw(raw, width, output):
    if not isinstance(raw, np.ndarray) or not np.issubdtype(raw.dtype, np.floating):
        raise TypeError(f"{output!r}: raw must be a numpy float array, got {type(raw).__name__} "
                        f"of dtype {getattr(raw, 'dtype', None)}")
    if raw.ndim != 2 or (width is not None and raw.shape[1] != width):
        expected = "(N, D)" if width is None else f"(N, {width})"
        raise ValueError(f"{output!r}: raw must have shape {expected}, got {raw.shape}")
    return raw
