"""tinycnn: convolutional networks from scratch, for object localization and landmark detection.

The package reads like a table of contents:
    layers, model        the network: Conv2D, MaxPool2D, Dense, ... and Sequential
    kernels              the hot loops: plain reference versions and their numba twins
    boxes                box formats, intersection over union, non-max suppression
    detection            the YOLO grid: targets, output maps, losses, detect
    targets, outputs     the lecture's vectors, and how raw network output maps to them
    functional           sigmoid, softmax and the cross-entropies, each numerically stable
    checks               the argument checks every public function uses
    course               what every lesson does first and last: its options, folder, time
    losses, metrics      what training minimises, and what a learner measures
    optim, train         SGD and Adam; fit
    gradcheck            backprop checked against central differences
    data, viz            drawn scenes and faces; the pictures
    networks, io         the course's networks; save and load
    interop              to PyTorch (torch itself optional: imported by to_torch)
"""

from tinycnn import runtime  # noqa: F401, I001  (first: threads, fork, memory; see its docstring)
from tinycnn import (
    boxes,
    checks,
    course,
    data,
    detection,
    functional,
    gradcheck,
    interop,
    losses,
    metrics,
    networks,
    optim,
    outputs,
    targets,
    train,
)
from tinycnn.io import load, save
from tinycnn.layers import Layer
from tinycnn.model import Sequential

LAYERS = {name: cls for name, cls in Layer.registry.items() if "." not in name}
"""tinycnn's own layers by name, as registered by their classes: each is exported as tc.<name>."""
globals().update(LAYERS)

__all__ = ["Layer", "Sequential", "save", "load", "boxes", "checks", "course", "data", "functional"]
__all__ += ["gradcheck", "interop", "losses", "metrics", "networks", "optim", "outputs", "targets"]
__all__ += ["train"]
__all__ += ["viz", "detection", *LAYERS]


def __getattr__(name):
    # matplotlib takes longer to import than the rest of tinycnn: load the pictures when asked for.
    if name == "viz":
        import importlib

        return importlib.import_module("tinycnn.viz")
    raise AttributeError(f"module 'tinycnn' has no attribute {name!r}")
