"""tinycnn: convolutional networks from scratch, for object localization and landmark detection."""

from tinycnn import threads  # noqa: F401  (first: sets the thread pools before numba starts)
from tinycnn import gradcheck, losses, metrics, optim, outputs, targets
from tinycnn.layers import (Conv2D, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid,
                            Tanh)
from tinycnn.model import Sequential

__all__ = ["Conv2D", "Dense", "Dropout", "Flatten", "LeakyReLU", "MaxPool2D", "ReLU", "Sigmoid",
           "Tanh", "Sequential", "gradcheck", "losses", "metrics", "optim", "outputs", "targets"]
