"""Video analysis with stable track ids.

Every frame is detected and matched to the live tracks by box IoU (greedy, highest first); a
track survives `max_missed` frames without a match before its id is retired.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facelens.faces import Faces, FrameResult
from facelens.io import readers
from facelens.models import facemesh as fm

if TYPE_CHECKING:
    from facelens.api import Analyzer


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) x1,y1,x2,y2 boxes."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


class IouTracker:
    """Assigns track ids to boxes frame by frame."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 10) -> None:
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.boxes = np.zeros((0, 4), np.float32)
        self.ids: list[int] = []
        self.missed: list[int] = []
        self.next_id = 0

    def update(self, boxes: np.ndarray) -> np.ndarray:
        ids = np.full(len(boxes), -1, np.int64)
        if len(self.ids) and len(boxes):
            iou = iou_matrix(self.boxes, boxes)
            for flat in np.argsort(-iou, axis=None):
                t, d = np.unravel_index(flat, iou.shape)
                if iou[t, d] < self.min_iou:
                    break
                if ids[d] < 0 and self.ids[t] not in ids:
                    ids[d] = self.ids[t]
        matched = set(ids.tolist())
        kept = [(b, i, m + 1) for b, i, m in zip(self.boxes, self.ids, self.missed) if i not in matched and m + 1 <= self.max_missed]
        for d in np.flatnonzero(ids < 0):
            ids[d] = self.next_id
            self.next_id += 1
        self.boxes = np.concatenate([boxes, np.array([k[0] for k in kept], np.float32).reshape(-1, 4)]).astype(np.float32)
        self.ids = ids.tolist() + [k[1] for k in kept]
        self.missed = [0] * len(boxes) + [k[2] for k in kept]
        return ids


def track_video(analyzer: Analyzer, path: str | Path, every: int = 1, start: float = 0.0,
                end: float | None = None) -> Iterator[FrameResult]:
    """Yield one `FrameResult` per selected frame, faces carrying `track_id`."""
    info = readers.video_info(path)
    tracker = IouTracker()
    last = -1
    for frame in readers.read_video(path, every=every, start=start, end=end):
        last = frame.index
        det = analyzer._detect(frame.rgb)
        rois = [fm.roi_from_detection(b, k) for b, k in zip(det.boxes, det.keypoints)]
        mesh, presence = analyzer.mesh_from_rois(frame.rgb, rois, refine=False)
        keep = presence >= 0.5
        faces: Faces = analyzer.describe(frame.rgb, det.boxes[keep], det.scores[keep], mesh[keep], det.keypoints[keep])
        faces = faces.with_(track_id=tracker.update(faces.boxes))
        yield FrameResult(str(path), faces, frame.index, frame.timestamp, info.width, info.height)
    if end is None and info.frames and last + 1 < info.frames - 1:
        msg = f"{path}: video ended at frame {last + 1} of {info.frames} declared"
        yield FrameResult(str(path), Faces.empty(), last + 1, error=msg)
