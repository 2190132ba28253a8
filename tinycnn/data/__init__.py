"""Generated datasets, nothing to download: localization scenes, landmark faces, augmentation."""

from tinycnn.data import augment
from tinycnn.data.detection import detection_dataset
from tinycnn.data.faces import landmark_dataset
from tinycnn.data.scenes import CLASS_NAMES, localization_dataset

__all__ = [
    "CLASS_NAMES",
    "augment",
    "detection_dataset",
    "landmark_dataset",
    "localization_dataset",
]
