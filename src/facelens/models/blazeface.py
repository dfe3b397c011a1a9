"""BlazeFace face detectors (MediaPipe short- and full-range), run with LiteRT.

Decoding follows MediaPipe's published calculator settings: SSD anchors with fixed size,
sigmoid scores, and weighted non-maximum suppression. Keypoints are, in the subject's terms,
right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facelens.models.runtime import Model, sigmoid


@dataclass(frozen=True)
class DetectorSpec:
    asset: str
    size: int
    strides: tuple[int, ...]
    anchors_per_stride: tuple[int, ...]
    min_score: float


SPECS = {
    "short": DetectorSpec("face_detection_short_range", 128, (8, 16), (2, 6), 0.5),
    "full": DetectorSpec("face_detection_full_range", 192, (4,), (1,), 0.5),
}


@dataclass
class Detections:
    """Detections of one image, in its pixel coordinates."""

    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2
    scores: np.ndarray  # (N,)
    keypoints: np.ndarray  # (N, 6, 2)
    sure: np.ndarray | None = None  # (N,) bool: kept whatever the mesh says (`facelens.detection`); None: BlazeFace alone

    def take(self, index: np.ndarray) -> Detections:
        """The detections at `index` (indices or a mask)."""
        sure = None if self.sure is None else self.sure[index]
        return Detections(self.boxes[index], self.scores[index], self.keypoints[index], sure)


def anchors(spec: DetectorSpec) -> np.ndarray:
    """Anchor centres (A, 2) in [0, 1], in the order the network emits its boxes."""
    out = []
    for stride, per_cell in zip(spec.strides, spec.anchors_per_stride):
        n = spec.size // stride
        ys, xs = np.mgrid[0:n, 0:n]
        centres = np.stack([(xs + 0.5) / n, (ys + 0.5) / n], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping aspect ratio into a size×size square, padding with black.

    Returns the square and (scale, pad_x, pad_y) such that original = (square - pad) / scale.
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    px, py = (size - nw) // 2, (size - nh) // 2
    square = np.zeros((size, size, 3), np.uint8)
    square[py : py + nh, px : px + nw] = resized
    return square, scale, float(px), float(py)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of (N,4) x1,y1,x2,y2 boxes."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas of (N,4) and (M,4) x1,y1,x2,y2 boxes."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) x1,y1,x2,y2 boxes."""
    inter = intersection_matrix(a, b)
    return inter / np.maximum(box_area(a)[:, None] + box_area(b)[None, :] - inter, 1e-9)


def overlap_of_smaller(boxes: np.ndarray) -> np.ndarray:
    """(N, N) intersection of each pair of `boxes` over the smaller box's area."""
    area = box_area(boxes)
    return intersection_matrix(boxes, boxes) / np.maximum(np.minimum(area[:, None], area[None, :]), 1e-6)


def greedy_keep(clash: np.ndarray, scores: np.ndarray) -> list[int]:
    """Indices, best score first, of the boxes that clash (`clash[i, j]`) with no better box kept."""
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if not clash[i, keep].any():
            keep.append(int(i))
    return keep


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray, iou_thr: float = 0.3) -> Detections:
    """MediaPipe-style weighted NMS: overlapping boxes are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, scores, kps = boxes[order], scores[order], kps[order]
    keep_b, keep_s, keep_k = [], [], []
    alive = np.ones(len(boxes), bool)
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        group = alive & (iou_matrix(boxes[i : i + 1], boxes)[0] > iou_thr)
        w = scores[group][:, None]
        keep_b.append((boxes[group] * w).sum(0) / w.sum())
        keep_k.append((kps[group] * w[:, :, None]).sum(0) / w.sum())
        keep_s.append(scores[i])
        alive &= ~group
    if not keep_b:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 6, 2), np.float32))
    return Detections(np.array(keep_b, np.float32), np.array(keep_s, np.float32), np.array(keep_k, np.float32))


class BlazeFace:
    """`BlazeFace("full")(rgb) -> Detections`; "short" suits faces within ~2 m, "full" small or far faces."""

    def __init__(self, kind: str = "full", min_score: float | None = None) -> None:
        if kind not in SPECS:
            raise ValueError(f"unknown detector {kind!r}; choose one of {sorted(SPECS)}")
        self.spec = SPECS[kind]
        self.min_score = self.spec.min_score if min_score is None else min_score
        self.model = Model(self.spec.asset)
        self.anchors = anchors(self.spec)

    def __call__(self, rgb: np.ndarray) -> Detections:
        size = self.spec.size
        square, scale, px, py = letterbox(rgb, size)
        x = (square.astype(np.float32) / 127.5 - 1.0)[None]
        raw, logits = self.model(x)
        raw, logits = raw[0], logits[0, :, 0]
        scores = sigmoid(logits)
        keep = scores >= self.min_score
        raw, scores, anc = raw[keep], scores[keep], self.anchors[keep]
        centre = raw[:, 0:2] / size + anc
        half = raw[:, 2:4] / size / 2
        boxes = np.concatenate([centre - half, centre + half], 1) * size
        kps = (raw[:, 4:16].reshape(-1, 6, 2) / size + anc[:, None, :]) * size
        det = weighted_nms(boxes, scores, kps)
        offset = np.array([px, py, px, py], np.float32)
        det.boxes = (det.boxes - offset) / scale
        det.keypoints = (det.keypoints - offset[:2]) / scale
        h, w = rgb.shape[:2]
        det.boxes = np.clip(det.boxes, 0, [w, h, w, h]).astype(np.float32)
        return det
