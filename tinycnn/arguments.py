"""Argument checks shared by the layers, the model, the targets and training."""

import numpy as np


def positive_int(value, name):
    """Return value as an int; raise ValueError naming `name` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
