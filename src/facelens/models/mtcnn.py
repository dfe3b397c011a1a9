"""MTCNN (Zhang et al. 2016), a cascade of three small networks run with onnxruntime.

The weights are facenet-pytorch 2.6.0's port of the original MTCNN, rebuilt as ONNX by
`tools/build_mtcnn_onnx.py`. P-Net scans an image pyramid (scale step 0.709, as published) for
12 px windows; R-Net (24 px crops) and O-Net (48 px crops, 5 points) re-score and refine the
candidates. Crops that leave the image are padded with black, as in the original, so faces cut
by the frame keep their shape. Faces from `min_face` px up are searched; it finds faces down to
about 12 px, grey ones included, and so backs up FaceBoxes in the thorough detector.
"""

from __future__ import annotations

import cv2
import numpy as np

from facelens.models.blazeface import greedy_keep, overlap_of_smaller
from facelens.models.runtime import Model

THRESHOLDS = (0.6, 0.7, 0.7)  # P-, R-, O-Net face probability, as published
PYRAMID_STEP = 0.709
BATCH = 64  # R- and O-Net crops a call: larger batches run slower per crop (cache)
MAX_PYRAMID_PIXELS = 8e6  # the pyramid's first level is kept under this (min_face raised for huge images)


def normalise(rgb: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) or (H, W, 3) uint8 RGB -> float32 NCHW in [-1, 1), the networks' input."""
    x = (rgb.astype(np.float32) - 127.5) * 0.0078125
    return np.ascontiguousarray((x[None] if x.ndim == 3 else x).transpose(0, 3, 1, 2))


def suppress(boxes: np.ndarray, scores: np.ndarray, thr: float, over_smaller: bool = False) -> np.ndarray:
    """Indices kept by greedy NMS at IoU `thr` (OpenCV's), or at intersection over the smaller box."""
    if not over_smaller:
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1).astype(np.float64)
        return np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(float).tolist(), 0.0, thr), int).reshape(-1)
    return np.array(greedy_keep(overlap_of_smaller(boxes) > thr, scores), int)


def squared(boxes: np.ndarray) -> np.ndarray:
    """Boxes made square (side = the longer one) about their centres."""
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], 1)


def refined(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by the networks' offsets (shares of the box's width and height)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return boxes + offsets * np.stack([w, h, w, h], 1)


def crops(rgb: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 crops of `boxes`, black where a box leaves the image."""
    h, w = rgb.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(int)):
        sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if sx2 - sx1 < 1 or sy2 - sy1 < 1:
            continue
        patch = cv2.copyMakeBorder(rgb[sy1:sy2, sx1:sx2], sy1 - y1, y2 - sy2, sx1 - x1, x2 - sx2, cv2.BORDER_CONSTANT)
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


def batched(model: Model, x: np.ndarray) -> list[np.ndarray]:
    """`model`'s outputs for `x`, run `BATCH` rows at a time."""
    parts = [model(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]
    return [np.concatenate(outs) for outs in zip(*parts)]


class MTCNN:
    """`MTCNN(min_face)(rgb) -> (boxes (N, 4) x1, y1, x2, y2, scores (N,))`; O-Net's 5 points are not used."""

    def __init__(self, min_face: float = 12.0) -> None:
        self.min_face = min_face
        self.pnet, self.rnet, self.onet = (Model(f"mtcnn_{n}") for n in ("pnet", "rnet", "onet"))

    def candidates(self, rgb: np.ndarray) -> np.ndarray:
        """P-Net's boxes over the pyramid: NMS at IoU 0.5 per level and 0.7 across, then refined and squared."""
        h, w = rgb.shape[:2]
        scale = 12.0 / max(self.min_face, 12.0 * np.sqrt(w * h / MAX_PYRAMID_PIXELS))
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        while min(h, w) * scale >= 12:
            level = cv2.resize(rgb, (int(w * scale + 1), int(h * scale + 1)), interpolation=cv2.INTER_AREA)
            prob, offsets = self.pnet(normalise(level))
            ys, xs = np.nonzero(prob[0, 1] >= THRESHOLDS[0])
            if len(ys):
                cells = np.floor((np.stack([2 * xs, 2 * ys, 2 * xs + 11, 2 * ys + 11], 1) + 1) / scale)
                scores = prob[0, 1, ys, xs]
                keep = suppress(cells, scores, 0.5)
                found.append((cells[keep], scores[keep], offsets[0][:, ys[keep], xs[keep]].T))
            scale *= PYRAMID_STEP
        if not found:
            return np.zeros((0, 4), np.float32)
        boxes, scores, offsets = (np.concatenate(v) for v in zip(*found))
        keep = suppress(boxes, scores, 0.7)
        return squared(refined(boxes[keep], offsets[keep]))

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = self.candidates(rgb)
        if len(boxes):
            prob, offsets = batched(self.rnet, normalise(crops(rgb, boxes, 24)))
            sure = prob[:, 1] > THRESHOLDS[1]
            boxes, scores, offsets = boxes[sure], prob[sure, 1], offsets[sure]
            keep = suppress(boxes, scores, 0.7)
            boxes = squared(refined(boxes[keep], offsets[keep]))
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        prob, offsets, _points = batched(self.onet, normalise(crops(rgb, boxes, 48)))
        sure = prob[:, 1] > THRESHOLDS[2]
        boxes = refined(boxes[sure], offsets[sure])
        scores = prob[sure, 1]
        keep = suppress(boxes, scores, 0.7, over_smaller=True)
        return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)
