"""Face detection: BlazeFace for faces with keypoints, FaceBoxes for small, cut-off, turned and grey faces.

Modes (`Analyzer(detector=...)`, `--detector`):

- ``standard`` (default): BlazeFace full range, plus FaceBoxes on a copy of the image scaled to
  about `STANDARD_PIXELS` pixels (up to 2× for small images, down for large ones: a 1024×768
  photo is searched at 1.1×), and in photos a second time at about `FINE_PIXELS` for faces under
  `SMALL_FACE` px in the first search's input (1024×768 at 3×, for faces under 58 px; not on the
  video tracker's detection frames). FaceBoxes sees a contrast-stretched copy, which recovers
  low-contrast photos.
- ``thorough``: as standard, plus FaceBoxes at 2× and 3× (in overlapping tiles, up to
  `THOROUGH_MAX_PIXELS` a scale; over 4 MP, where neither fits, standard's second search instead)
  and MTCNN (`facelens.models.mtcnn`, faces from 12 px), for faces down to about 12-16 px, grey
  photos included. MTCNN's boxes are only added where no other box covers them. Several times
  slower.
- ``full`` / ``short``: BlazeFace alone (full or short range), as facelens 0.1 did.

Images up to `SMALL_IMAGE` px are also searched on a padded copy by BlazeFace (tight face crops).
Grey images are searched by BlazeFace and FaceBoxes tinted with a face colour (`FACE_TINT`).
FaceBoxes boxes are mapped to BlazeFace's box convention (`FACEBOXES_TO_BLAZEFACE`). Where both
find a face, BlazeFace is unsure (score under `BLAZEFACE_SURE`) and FaceBoxes' box of about the
same size scores higher, that box is kept with BlazeFace's keypoints (`add_faceboxes`). A face only
FaceBoxes finds carries no keypoints (NaN), and its mesh ROI is built from its box alone (see
`facelens.models.facemesh.roi_from_detection`). Faces the detectors are sure of are marked `sure`,
and the pipeline keeps them even when the mesh's presence score is low: faces that both FaceBoxes
and MTCNN find (thorough), and faces a detector scores at least `DETECTOR_SURE`: the score is
unreliable on faces ~10-25 px wide, on turned ones and on faces cut by the image border (the
mesh's crop there is part face, part replicated edge pixels).
"""

from __future__ import annotations

import cv2
import numpy as np

from facelens.models.blazeface import (BlazeFace, Detections, box_area, greedy_keep, intersection_matrix, iou_matrix,
                                       overlap_of_smaller)
from facelens.models.faceboxes import MAX_BOXES, FaceBoxes
from facelens.models.mtcnn import MTCNN

DETECTORS = ("standard", "thorough", "full", "short")
SMALL_IMAGE = 512  # images up to this size are also searched on a padded copy (tight crops)
STANDARD_PIXELS = 1.0e6  # FaceBoxes input size of the standard search
# Photos: a second standard search at about this size (at most FINE_MAX_SCALE), keeping its boxes
# that would be under SMALL_FACE px in the first search's input (58 px in a 1024×768 photo, 131 in
# a 2048×1536 one). FaceBoxes finds faces best at 60 px and more in its input (its smallest anchors
# are 32 px). Dev composites (1024×768, faces >= 20 px after the mesh check, 30 scenes × 3
# variants): standard 0.598 -> 0.901 / 0.949 / 0.957 with this search at 3 / 6 / 7 MP (1.96× /
# 2.8× / 3×), 1 false positive each; 20-29 px faces 0.83 -> 0.92 from 3 to 7 MP. Its larger boxes
# are left to the first search: a single search at 1.35-1.9× found a dog's face in dogs.jpg
# (0.62-0.79), which the mesh then took for a face. A cut-off of 64 px in the image instead lost
# larger faces in larger photos: dev colour composites upscaled 2× / 3× (faces 24-180 px), faces
# 64-99 px 0.88 / 0.69 against 1.00 / 0.98.
FINE_PIXELS = 7.0e6
FINE_MAX_SCALE = 3.0
SMALL_FACE = 64
MAX_STANDARD_SCALE = 2.0
THOROUGH_SCALES = (2.0, 3.0)
THOROUGH_MAX_PIXELS = 16e6  # thorough skips a scale whose FaceBoxes input would exceed this
TILE = 1024  # FaceBoxes inputs larger than this on a side are searched in overlapping tiles
TILE_OVERLAP = 192  # tile overlap in FaceBoxes input pixels: larger than the faces that need tiles
FACEBOXES_MIN_SCORE = 0.5
# A BlazeFace box scoring under this yields to a higher-scoring FaceBoxes box of the same face
# (dev composites, faces >= 20 px, thorough: recall 0.900 -> 0.939; single_face's frames score >= 0.865).
BLAZEFACE_SURE = 0.75
SAME_FACE_IOU = 0.2  # ... and only to a box of about its size, not to a part of the face inside it
# FaceBoxes box -> BlazeFace box: width and height scale, centre shift as a share of the height.
# FaceBoxes draws WIDER FACE boxes (forehead included); medians over the dev composites' faces
# (hand-drawn VOC boxes and BlazeFace boxes), measured at 2×.
FACEBOXES_TO_BLAZEFACE = (1.0 / 0.90, 1.0 / 1.15, 0.037)
# MTCNN box -> BlazeFace box, the same way (its boxes are square; medians over 261 dev composite faces).
MTCNN_TO_BLAZEFACE = (1.106, 0.868, 0.071)
# A face both FaceBoxes and MTCNN (scoring at least this) find is kept even if the mesh doubts it
# (`Detections.sure`): small and turned faces, on which the mesh's presence score is unreliable.
MTCNN_SURE = 0.95
# A detection scored at least this is kept even if the mesh doubts it (`Detections.sure`). Dev
# composites, thorough, 50 scenes x 3 variants: of the 95 detections with presence under 0.5 and
# no other reason to keep them, the 4 scoring >= 0.9 were faces (12-16 px) and the 63 false
# positives scored <= 0.83; two cut-off 58 px faces FaceBoxes scored 0.98 had presence 0.37 and
# 0.50. (This rule first applied only within 15% of a face's size from the image border.)
DETECTOR_SURE = 0.9
# A grey image is searched tinted with a face colour: the median R:G:B of the dev composites'
# colour source faces (middle of the face box; 37 faces, quartiles G 0.71-0.79, B 0.58-0.71).
# BlazeFace and FaceBoxes were trained on colour photos. Dev composites (30 scenes), grey variant,
# faces >= 20 px, after the mesh check: thorough 0.930 -> 0.971 (1 false positive in 30 scenes,
# from 0), standard 0.339 -> 0.480 (none); FER2013 dev crops found by standard 58 -> 64 of 70.
FACE_TINT = (1.0, 0.75, 0.65)


def merge(a: Detections, b: Detections, overlap: float = 0.5) -> Detections:
    """Detections of both sets, dropping any box that mostly lies in a higher-scoring one.

    Overlap is intersection over the smaller box, so a partial-face box inside a whole-face box
    goes, whatever their IoU.
    """
    boxes = np.concatenate([a.boxes, b.boxes])
    scores = np.concatenate([a.scores, b.scores])
    kps = np.concatenate([a.keypoints, b.keypoints])
    keep = sorted(greedy_keep(overlap_of_smaller(boxes) > overlap, scores))
    return Detections(boxes[keep], scores[keep], kps[keep])


def add_faceboxes(base: Detections, boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.4,
                  replace: bool = True) -> Detections:
    """`base` (BlazeFace) combined with FaceBoxes (or MTCNN) `boxes` in BlazeFace's convention.

    With `replace`, a `base` box scoring under `BLAZEFACE_SURE` takes the box of a FaceBoxes box
    of about its size (IoU >= `SAME_FACE_IOU`) that scores higher, keeping its keypoints (of
    several, the one with the highest score × IoU: a face cut by the border may also get a box
    of its visible chin, at the same score): BlazeFace localises faces only a few of its 192
    input pixels wide coarsely, at low scores.
    `boxes` that no `base` box covers are added, without keypoints (NaN).
    """
    if len(boxes) == 0:
        return base
    base_boxes = base.boxes.copy()
    if len(base_boxes):
        inter = intersection_matrix(base_boxes, boxes)
        small = np.minimum(box_area(base_boxes)[:, None], box_area(boxes)[None, :])
        covered = inter / np.maximum(small, 1e-6) > overlap
        iou = iou_matrix(base_boxes, boxes)
        higher = (iou >= SAME_FACE_IOU) & (scores[None, :] > base.scores[:, None])
        best = np.where(higher, scores[None, :] * iou, -1.0).argmax(1)
        better = higher[np.arange(len(best)), best] & (base.scores < BLAZEFACE_SURE) & replace
        base_boxes[better] = boxes[best[better]]
        new = ~covered.any(0)
        boxes, scores = boxes[new], scores[new]
    kps = np.full((len(boxes), 6, 2), np.nan, np.float32)
    return Detections(np.concatenate([base_boxes, boxes]).astype(np.float32),
                      np.concatenate([base.scores, scores]).astype(np.float32),
                      np.concatenate([base.keypoints, kps]).astype(np.float32))


def found_by_both(boxes: np.ndarray, a: np.ndarray, b: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """(N,) mask of `boxes` that a box of `a` and a box of `b` each match at IoU >= `iou`."""
    def matched(other: np.ndarray) -> np.ndarray:
        return iou_matrix(boxes, other).max(1) >= iou if len(boxes) and len(other) else np.zeros(len(boxes), bool)
    return matched(a) & matched(b)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float = 0.4, cover_thr: float = 0.7) -> np.ndarray:
    """Indices kept by greedy NMS that also drops a box lying mostly inside a better one."""
    cover = intersection_matrix(boxes, boxes) / np.maximum(box_area(boxes)[:, None], 1e-6)  # share of row box inside column box
    return np.array(sorted(greedy_keep((iou_matrix(boxes, boxes) > iou_thr) | (cover > cover_thr), scores)), int)


def to_blazeface_boxes(boxes: np.ndarray, width: int, height: int,
                       mapping: tuple[float, float, float] = FACEBOXES_TO_BLAZEFACE) -> np.ndarray:
    """FaceBoxes (or MTCNN) boxes in BlazeFace's convention (`mapping`: width and height scale,
    centre shift as a share of the height), clipped to the image."""
    sw, sh, dy = mapping
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    w, h = (boxes[:, 2] - boxes[:, 0]) * sw, (boxes[:, 3] - boxes[:, 1]) * sh
    cy = cy + dy * h
    out = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    return np.clip(out, 0, [width, height, width, height]).astype(np.float32)


def stretch_contrast(rgb: np.ndarray) -> np.ndarray:
    """The image with its 1st-99th percentile range stretched to 0-255 (a no-op on well-exposed photos)."""
    sample = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256)]
    lo, hi = np.percentile(sample, (1, 99))
    if hi - lo < 1:
        return rgb
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * 255.0 / (hi - lo), 0, 255).astype(np.uint8)
    return cv2.LUT(rgb, lut)


def is_grey(rgb: np.ndarray) -> bool:
    """Whether an RGB image has equal channels (within 2 levels) on a grid of every 8th pixel."""
    s = rgb[::8, ::8]
    return bool(cv2.absdiff(s[..., 0], s[..., 1]).max() <= 2 and cv2.absdiff(s[..., 1], s[..., 2]).max() <= 2)


def tint(grey: np.ndarray, colour: tuple[float, float, float] = FACE_TINT) -> np.ndarray:
    """A grey RGB image coloured by `colour` (R:G:B ratios) at unchanged luma (BT.601)."""
    ratios = np.array(colour, np.float32) / np.dot(colour, (0.299, 0.587, 0.114))
    lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * ratios, 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(grey[..., :3]), lut[None])


def tiles(width: int, height: int, tile: int = TILE, overlap: int = TILE_OVERLAP) -> list[tuple[int, int, int, int]]:
    """Overlapping (x1, y1, x2, y2) windows covering a width×height image; one window if it fits."""
    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        count = int(np.ceil((n - overlap) / (tile - overlap)))
        return [round(k * (n - tile) / (count - 1)) for k in range(count)]
    return [(x, y, min(width, x + tile), min(height, y + tile)) for y in starts(height) for x in starts(width)]


def interior_edge_hits(boxes: np.ndarray, window: tuple[int, int, int, int], width: int, height: int,
                       margin: float = 2.0) -> np.ndarray:
    """Mask of window-relative boxes that touch a window edge lying inside the image.

    Such a box may hold part of a face cut by the tile; the overlap puts that face whole in the
    neighbouring tile. Boxes at the image's own border are kept (faces cut by the frame).
    """
    x1, y1, x2, y2 = window
    tw, th = x2 - x1, y2 - y1
    hit = np.zeros(len(boxes), bool)
    if x1 > 0:
        hit |= boxes[:, 0] <= margin
    if y1 > 0:
        hit |= boxes[:, 1] <= margin
    if x2 < width:
        hit |= boxes[:, 2] >= tw - margin
    if y2 < height:
        hit |= boxes[:, 3] >= th - margin
    return hit


def fine_scale(width: int, height: int) -> float:
    """Scale of the second search for small faces (`FINE_PIXELS`, at most `FINE_MAX_SCALE`)."""
    return min(FINE_MAX_SCALE, float(np.sqrt(FINE_PIXELS / (width * height))))


class FaceDetector:
    """`FaceDetector(mode)(rgb) -> Detections` in rgb's pixels; `mode` is one of `DETECTORS`."""

    def __init__(self, mode: str = "standard", min_score: float | None = None) -> None:
        if mode not in DETECTORS:
            raise ValueError(f"unknown detector {mode!r}; choose one of {', '.join(DETECTORS)}")
        self.mode = mode
        self.min_score = min_score
        self.blazeface = BlazeFace("short" if mode == "short" else "full", min_score)
        self.faceboxes = FaceBoxes(FACEBOXES_MIN_SCORE if min_score is None else min_score)  # loads on first use
        self.mtcnn = MTCNN()  # thorough only; loads on first use

    def scales(self, width: int, height: int) -> tuple[float, ...]:
        """FaceBoxes scales searched for a width×height image (none for the BlazeFace-only modes)."""
        if self.mode not in ("standard", "thorough"):
            return ()
        base = min(MAX_STANDARD_SCALE, float(np.sqrt(STANDARD_PIXELS / (width * height))))
        if self.mode == "standard":
            return (base,)
        more = [s for s in THOROUGH_SCALES if s > base * 1.2 and width * height * s * s <= THOROUGH_MAX_PIXELS]
        return (base, *more)

    def __call__(self, rgb: np.ndarray, faceboxes: bool = True, small_faces: bool = True) -> Detections:
        """Detections of `rgb`; `faceboxes=False` runs BlazeFace alone whatever the mode (the video
        tracker's cheap searches between its scheduled detection frames); `small_faces=False` skips
        the second, finer search (`FINE_PIXELS`; video), which thorough runs only where its own
        scales stop short of it."""
        h, w = rgb.shape[:2]
        search = tint(rgb) if is_grey(rgb) else rgb  # BlazeFace and FaceBoxes see colour (`FACE_TINT`)
        det = self.blazeface(search)
        if max(h, w) <= SMALL_IMAGE:
            det = merge(det, self._padded(search))
        scales = self.scales(w, h) if faceboxes else ()
        if not scales:
            return det
        image = stretch_contrast(search)  # what every FaceBoxes search of this image reads
        boxes, scores = self.faceboxes_search(image, scales, stretched=True)
        if small_faces and fine_scale(w, h) > 1.2 * max(scales):  # thorough: photos over 4 MP
            boxes, scores = self.add_small_faces(image, scales[0], boxes, scores)
        fb = to_blazeface_boxes(boxes, w, h)
        det = add_faceboxes(det, fb, scores)
        if self.mode != "thorough":
            det.sure = det.scores >= DETECTOR_SURE
            return det
        boxes, scores = self.mtcnn(rgb)
        mt = to_blazeface_boxes(boxes, w, h, MTCNN_TO_BLAZEFACE)
        det = add_faceboxes(det, mt, scores, replace=False)
        det.sure = (det.scores >= DETECTOR_SURE) | found_by_both(det.boxes, fb, mt[scores >= MTCNN_SURE])
        return det

    def faceboxes_search(self, rgb: np.ndarray, scales: tuple[float, ...], tiled: bool = True,
                         stretched: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """FaceBoxes boxes (its own convention) and scores over `scales` on `stretch_contrast(rgb)`
        (`stretched`: `rgb` is that already), tiled where large (unless `tiled=False`: one call a
        scale, or tiles after all where that call returns `MAX_BOXES` faces), merged by NMS."""
        image = rgb if stretched else stretch_contrast(rgb)
        h, w = rgb.shape[:2]
        all_boxes, all_scores = [], []
        for s in scales:
            sw, sh = max(1, round(w * s)), max(1, round(h * s))
            scaled = image if (sw, sh) == (w, h) else cv2.resize(
                image, (sw, sh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            whole = None if tiled else self.faceboxes(scaled)
            if whole is not None and len(whole[1]) < MAX_BOXES:
                windows = [((0, 0, sw, sh), whole)]
            else:  # tiled, or a crowd filled the one call's box cap
                windows = [(t, self.faceboxes(scaled[t[1]:t[3], t[0]:t[2]])) for t in tiles(sw, sh)]
            for (x1, y1, x2, y2), (b, sc) in windows:
                inner = interior_edge_hits(b, (x1, y1, x2, y2), sw, sh)
                all_boxes.append((b[~inner] + [x1, y1, x1, y1]) / s)
                all_scores.append(sc[~inner])
        boxes = np.concatenate(all_boxes).astype(np.float32) if all_boxes else np.zeros((0, 4), np.float32)
        scores = np.concatenate(all_scores).astype(np.float32) if all_scores else np.zeros(0, np.float32)
        if len(boxes) == 0:
            return boxes, scores
        keep = nms(boxes, scores)
        return boxes[keep], scores[keep]

    def add_small_faces(self, stretched: np.ndarray, base: float, boxes: np.ndarray,
                        scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FaceBoxes `boxes` and `scores` of the first standard search, at scale `base`, with those of
        a finer search (`FINE_PIXELS`, at least 1.5× `base`) of the contrast-stretched image added
        that were under `SMALL_FACE` px in the first search's input, merged by NMS."""
        h, w = stretched.shape[:2]
        fine = fine_scale(w, h)
        # One call, not tiles: the input is at most ~FINE_PIXELS, and overlapping 1024-px tiles would
        # cost about twice (1024x768 at 1.96x: 96 against 176 CPU ms; FaceBoxes keeps 200 boxes a call).
        more, more_scores = self.faceboxes_search(stretched, (fine,), tiled=False, stretched=True)
        small = more[:, 2] - more[:, 0] < SMALL_FACE / base
        boxes, scores = np.concatenate([boxes, more[small]]), np.concatenate([scores, more_scores[small]])
        if len(boxes) == 0:
            return boxes, scores
        keep = nms(boxes, scores)
        return boxes[keep], scores[keep]

    def _padded(self, rgb: np.ndarray) -> Detections:
        """BlazeFace on a copy padded by half its size a side.

        On a tight face crop BlazeFace may find nothing, or only part of the face (a cheek and an
        eye); with a margin it sees the whole face, as in its training images.
        """
        h, w = rgb.shape[:2]
        px, py = int(0.5 * w), int(0.5 * h)
        det = self.blazeface(cv2.copyMakeBorder(rgb, py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0)))
        det.boxes = np.clip(det.boxes - [px, py, px, py], 0, [w, h, w, h]).astype(np.float32)
        det.keypoints = (det.keypoints - [px, py]).astype(np.float32)
        return det

