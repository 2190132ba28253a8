"""tinycnn: convolutional networks from scratch, for object localization and landmark detection."""

from tinycnn import threads  # noqa: F401  (first: sets the thread pools before numba starts)
