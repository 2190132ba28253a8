"""The smooth functions of the course, each numerically stable: for logits z of any size, no
intermediate value overflows and no log is taken of a rounded-off 0.

    sigmoid(z)          = 1 / (1 + e^(-z))
    softmax(z)_k        = e^(z_k) / Σ_j e^(z_j)
    logsumexp(z)        = log Σ_j e^(z_j)
    log_softmax(z)_k    = z_k - logsumexp(z)
    BCE(z, p)           = -[p log σ(z) + (1 - p) log(1 - σ(z))]  = log(1 + e^z) - p z
    CE(z, c)            = -Σ_k c_k log softmax(z)_k               = Σ_k c_k (logsumexp(z) - z_k)

(the last, for a one-hot c, is the lecture's logsumexp(z) - z_class). The layers (Sigmoid), the
output maps and the losses all take them from here.

Arguments: z and logits are float32 or float64 numpy arrays (or one real number, for the functions
that work entry by entry); targets and one_hot are arrays of numbers in [0, 1] with the logits'
exact shape, not merely one that broadcasts; axis is an int within z's dimensions. Anything else
is a TypeError or ValueError naming the argument. A list is refused as everywhere in tinycnn (the
message says how to convert it). The values of z are not checked: NaN in gives NaN out, visibly.
The checks cost a few microseconds a call, most of it the two reductions of the [0, 1] range check:
LocalizationLoss's forward and backward on lesson 4's batch (64 x 8), which call these four times,
took about 10 µs more, 117 µs instead of 107 µs (medians of 15 rounds, side by side; AMD EPYC,
Zen 4, family 25, a shared machine), next to some 16 ms for that lesson's whole training step.
"""

import math
import numbers

import numpy as np

from tinycnn.checks import FLOAT_DTYPES, integer


def sigmoid(z):
    """σ(z) = 1 / (1 + e^(-z)), entry by entry, without overflow for any z.

    For z < 0 it is computed as e^z / (1 + e^z), so that e^(-|z|) never grows past 1 either way.
    """
    z = _real_floats(z, "z")
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z, axis=-1):
    """softmax(z)_k = e^(z_k) / Σ_j e^(z_j) along `axis` (the last by default).

    Subtracting max_j z_j first changes nothing in the ratio and keeps every e^(...) <= 1.
    """
    z, axis = _along_axis(z, "z", axis)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(z, axis=-1):
    """log Σ_j e^(z_j) along `axis` (the last by default), that axis removed.

    Computed as m + log Σ_j e^(z_j - m) with m = max_j z_j, so no e^(...) exceeds 1.
    """
    z, axis = _along_axis(z, "z", axis)
    return np.squeeze(_logsumexp(z, axis), axis=axis)


def _logsumexp(z, axis):
    """logsumexp with the axis kept (length 1), for the functions that subtract it from z."""
    largest = np.max(z, axis=axis, keepdims=True)
    return largest + np.log(np.sum(np.exp(z - largest), axis=axis, keepdims=True))


def log_softmax(z, axis=-1):
    """log softmax(z)_k = z_k - log Σ_j e^(z_j) along `axis`: exact where softmax rounds to 0."""
    z, axis = _along_axis(z, "z", axis)
    return z - _logsumexp(z, axis)


def binary_cross_entropy(logits, targets):
    """BCE(z, p) = log(1 + e^z) - p z, entry by entry, for logits z and targets p in [0, 1] of
    the same shape.

    This equals -[p log σ(z) + (1 - p) log(1 - σ(z))]. log(1 + e^z) is np.logaddexp(0, z),
    which is exact and does not overflow for any z. dBCE/dz = σ(z) - p.
    """
    logits = _real_floats(logits, "logits")
    targets = _probabilities(targets, "targets", logits.shape)
    return np.logaddexp(0.0, logits) - targets * logits


def softmax_cross_entropy(logits, one_hot):
    """CE(z, c) = -Σ_k c_k log softmax(z)_k over the last axis: logits and one_hot (N, K) -> (N,).

    It is computed as Σ_k c_k (logsumexp(z) - z_k), which for a one-hot (or any probability)
    vector c, Σ_k c_k = 1, is the short form logsumexp(z) - Σ_k c_k z_k, with
    dCE/dz = softmax(z) - c. Unlike the short form it stays the cross-entropy for a c that does
    not sum to 1: a row of zeros, which the losses pass for the images without an object, gives 0.
    one_hot holds numbers in [0, 1] and has the logits' shape: class labels (N,) become one-hot
    rows with np.eye(K)[labels].
    """
    logits, axis = _along_axis(logits, "logits", -1)
    one_hot = _probabilities(one_hot, "one_hot", logits.shape)
    return np.sum(one_hot * (_logsumexp(logits, axis) - logits), axis=axis)


def _real_floats(value, name):
    """value as a float32 or float64 array (unchanged, if it is one), or one real number as a 0-d
    float64 array; TypeError naming `name` for anything else.

    A list is refused, as everywhere in tinycnn: np.asarray of a list guesses a dtype (ints,
    objects for ragged rows), and the message says how to convert it.
    """
    array = _array_or_none(value)
    if array is None:
        hint = f" (np.asarray({name}, dtype=np.float64) converts it)"
        raise TypeError(
            f"{name} must be a numpy array of float32 or float64 (or one real number), got "
            f"{type(value).__name__}" + (hint if isinstance(value, (list, tuple)) else "")
        )
    if array.dtype not in FLOAT_DTYPES:
        hint = f" ({name}.astype(np.float64) converts it)" if array.dtype.kind in "iuf" else ""
        raise TypeError(f"{name} must be a float32 or float64 array, got {array.dtype}{hint}")
    return array


def _array_or_none(value):
    """value as a numpy array if it is one, a numpy scalar or one real number (a Python int too
    large for float64 becomes ±inf); None for anything else, bools included."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if isinstance(value, numbers.Real):
        try:
            return np.asarray(value, dtype=np.float64)
        except OverflowError:
            return np.asarray(math.inf if value > 0 else -math.inf)
    return None


def _along_axis(z, name, axis):
    """z (an array with at least one axis) and axis (an int) checked for a reduction along axis;
    axis returned as a non-negative int."""
    z = _real_floats(z, name)
    axis = integer(axis, "axis")
    if z.ndim == 0:
        raise ValueError(f"{name} must have at least one axis to run along, got one number")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(
            f"axis must be in [-{z.ndim}, {z.ndim - 1}] for {name} of shape {z.shape}, got {axis}"
        )
    axis %= z.ndim
    if z.shape[axis] == 0:
        raise ValueError(
            f"{name} has no entries along axis {axis} (shape {z.shape}): a softmax over no "
            "entries is undefined"
        )
    return z, axis


def _probabilities(value, name, shape):
    """value (numbers in [0, 1], integers or floats) as an array of the given shape; TypeError or
    ValueError naming `name`."""
    array = _array_or_none(value)
    if array is None or array.dtype.kind not in "iuf":
        got = type(value).__name__ if array is None else f"dtype {array.dtype}"
        raise TypeError(f"{name} must be a numpy array of numbers in [0, 1], got {got}")
    if array.shape != shape:
        hint = ""
        if name == "one_hot" and array.shape == shape[:-1]:
            hint = f": class labels {array.shape} need one-hot rows, np.eye({shape[-1]})[labels]"
        raise ValueError(f"{name} must have the logits' shape {shape}, got {array.shape}{hint}")
    if array.size and not (array.min() >= 0 and array.max() <= 1):
        outside = array[~((array >= 0) & (array <= 1))].flat[0]
        raise ValueError(f"{name} must be in [0, 1], found {outside}")
    return array
