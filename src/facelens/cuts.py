"""Hard scene cuts from tiny thumbnails: the cheap cue that tells the tracker to look again.

Each frame is reduced to a 64x36 RGB thumbnail (every n-th pixel, then an area resize: ~0.2 ms
at 1080p, ~0.1 ms at 640x360). A frame is a cut when the mean absolute difference from the previous
thumbnail, in 0-255 grey levels, exceeds `CUT_THRESHOLD`. Measured on the shared videos and the
clips of benchmarks/clips.py: consecutive frames of one shot differ by 0.6-3.4 (median) and at
most 8.2 (walking_people, WolfgangLanger, single_face, the cut-free stretches of
face_noface/noface_face); every hard cut scored 65-142 and the halves of the swap clip trading
places scored 112. The threshold sits between, with room on both sides.

A face region changed (someone else now stands where a followed face was) when the mean colour
of its thumbnail patch differs from that of the patch where the face was on the previous frame
by more than `REGION_THRESHOLD`. The mean colour, unlike a pixel difference, does not move when
a mesh-derived box sits a thumbnail pixel away from the detector's: on the same clips a followed
face's mean colour changed by at most 6.7 between frames, while the faces of the swap clip, with
the frame-wide cut check off, changed by 30.8 and 10.5 (only the first is caught by the region
check; the frame-wide check catches that clip anyway). Regions under `MIN_REGION` thumbnail
pixels a side (faces under ~180 px at 1080p) are not judged.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMB_W, THUMB_H = 64, 36
CUT_THRESHOLD = 30.0
REGION_THRESHOLD = 15.0  # mean-colour change of a face region (grey levels): same face <= 6.7, swapped 30.8
MIN_REGION = 6  # thumbnail pixels a side a region needs to be judged


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """(36, 64, 3) int16 thumbnail of an RGB frame."""
    step = max(1, rgb.shape[1] // (4 * THUMB_W))
    small = cv2.resize(rgb, (rgb.shape[1] // step, rgb.shape[0] // step), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(small, (THUMB_W, THUMB_H), interpolation=cv2.INTER_AREA).astype(np.int16)


class CutDetector:
    """`detector(rgb)` -> True on the first frame of a new shot; then `changed(before, after)` per region."""

    def __init__(self, threshold: float = CUT_THRESHOLD) -> None:
        self.threshold = threshold
        self.prev: np.ndarray | None = None  # this frame's thumbnail once called
        self.prev_thumb: np.ndarray | None = None  # the one before
        self.diff: np.ndarray | None = None  # (36, 64) per-pixel change from the previous frame
        self.scale = (1.0, 1.0)

    def __call__(self, rgb: np.ndarray) -> bool:
        thumb = thumbnail(rgb)
        prev, self.prev = self.prev, thumb
        self.prev_thumb = prev
        self.scale = (THUMB_W / rgb.shape[1], THUMB_H / rgb.shape[0])
        if prev is None:
            self.diff = None
            return False
        self.diff = np.abs(thumb - prev).mean(2)
        return bool(self.diff.mean() > self.threshold)

    def changed(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """(N,) bool: whether the region at box `after[i]` in this frame differs in mean colour from
        the region at `before[i]` in the previous one (boxes in image pixels, x0 y0 x1 y1; a face
        that moved is compared with where it was)."""
        out = np.zeros(len(after), bool)
        if self.diff is None or self.prev_thumb is None:
            return out
        scale = np.array(self.scale * 2, np.float32)
        for i, (b0, b1) in enumerate(zip(before * scale, after * scale)):
            w, h = int(round(b1[2] - b1[0])), int(round(b1[3] - b1[1]))
            if min(w, h) < MIN_REGION:
                continue
            a, b = _patch(self.prev_thumb, b0, w, h), _patch(self.prev, b1, w, h)
            if a is not None and b is not None:
                out[i] = np.abs(a.mean((0, 1)) - b.mean((0, 1))).mean() > REGION_THRESHOLD
        return out


def _patch(thumb: np.ndarray, box: np.ndarray, w: int, h: int) -> np.ndarray | None:
    """The w x h thumbnail patch centred on `box` (thumbnail pixels), None where it leaves the thumbnail."""
    x0 = int(round((box[0] + box[2]) / 2 - w / 2))
    y0 = int(round((box[1] + box[3]) / 2 - h / 2))
    if x0 < 0 or y0 < 0 or x0 + w > THUMB_W or y0 + h > THUMB_H:
        return None
    return thumb[y0:y0 + h, x0:x0 + w]
