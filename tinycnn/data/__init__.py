"""Datasets, nothing to download: drawn localization scenes, landmark faces, crops and detection
scenes; real faces in real photographs (scikit-image's wheel: the `real` extra); augmentation.
Every dataset is drawn from an integer seed (`seeds`): the same arguments give the same images,
and counts the memory they need before drawing (`sizes`): a size this machine cannot hold is a
ValueError naming n or the image size, at once."""

from tinycnn.data import augment
from tinycnn.data.crops import crop_dataset, sliding_window_scene
from tinycnn.data.detection import detection_dataset
from tinycnn.data.faces import landmark_dataset
from tinycnn.data.real_faces import real_face_dataset  # scikit-image is imported when it runs
from tinycnn.data.scenes import CLASS_NAMES, localization_dataset

__all__ = [
    "CLASS_NAMES",
    "augment",
    "crop_dataset",
    "detection_dataset",
    "landmark_dataset",
    "localization_dataset",
    "real_face_dataset",
    "sliding_window_scene",
]
