"""MediaPipe face meshes, run with LiteRT.

Each face is cropped as a rotated square region of interest (ROI) from the detector's eye
keypoints or, in video, from the previous frame's mesh, as MediaPipe's face-landmark graph does.
Two mesh models: the 468-point mesh (`FaceMesh`, the main mesh by default) and Face Mesh V2
(`FaceMeshV2`, MediaPipe's Face Landmarker bundle, 256x256 crop, all 478 points in one pass; what
the blendshapes and, with the default mesh, the irises are taken from: `irises_onto`). In the
478-point layout 468–472 are the subject's right iris (centre first), 473–477 the left.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facelens.models.runtime import Model, sigmoid

MESH_SIZE = 192
MESH_V2_SIZE = 256
# MediaPipe's FaceLandmarker (IMAGE mode) crops 1.5x its short-range detector box around the box
# centre. Relative to the mesh that this crop yields (468-point extent in the eye-line frame), that
# ROI measured 1.30x the extent, centre 4.3% of the extent's height lower (medians over 154 frames
# of three face videos in ../shared/data/video; 10-90%: 1.23-1.36, 1.8-6.3%).
IMAGE_ROI_SCALE, IMAGE_ROI_SHIFT = 1.30, 0.043
# Eye contours (lid margins) of the subject's right and left eye in the 468-point layout; a Face
# Mesh V2 iris is carried onto the main mesh by the similarity that maps one contour onto the other.
EYE_CONTOURS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398),
)


@dataclass
class Roi:
    """A rotated square in image pixels: centre (x, y), side length, rotation in radians."""

    cx: float
    cy: float
    size: float
    angle: float

    def matrix(self, out: int) -> np.ndarray:
        """2×3 affine matrix from image pixels to an out×out crop of this ROI."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        k = out / self.size
        # crop = k * R(-angle) (p - centre) + out/2
        a = np.array([[c, s], [-s, c]]) * k
        t = np.array([out / 2, out / 2]) - a @ np.array([self.cx, self.cy])
        return np.hstack([a, t[:, None]]).astype(np.float32)

    def to_image(self, pts: np.ndarray, out: int) -> np.ndarray:
        """Map (K, 2|3) crop coordinates back to image pixels; z is scaled like x and y."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        k = self.size / out
        xy = (pts[:, :2] - out / 2) * k
        res = pts.astype(np.float32).copy()
        res[:, 0] = self.cx + c * xy[:, 0] - s * xy[:, 1]
        res[:, 1] = self.cy + s * xy[:, 0] + c * xy[:, 1]
        if pts.shape[1] > 2:
            res[:, 2] = pts[:, 2] * k
        return res


def roi_from_points(p_start: np.ndarray, p_end: np.ndarray, box: np.ndarray, scale: float) -> Roi:
    """ROI around an axis-aligned box, rotated so p_start→p_end is horizontal, grown by `scale`."""
    v = p_end - p_start
    angle = float(np.arctan2(v[1], v[0]))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    size = max(box[2] - box[0], box[3] - box[1]) * scale
    return Roi(float(cx), float(cy), float(size), angle)


def roi_from_detection(box: np.ndarray, keypoints: np.ndarray) -> Roi:
    """Face ROI from a BlazeFace box and its eye keypoints (scale 1.5, as MediaPipe).

    A box without keypoints (NaN, from FaceBoxes) gets an upright ROI; on still images the
    second mesh pass (`roi_from_mesh`) then turns it to the face's roll.
    """
    if np.isnan(keypoints[:2]).any():
        return roi_from_points(np.zeros(2), np.array([1.0, 0.0]), box, 1.5)
    return roi_from_points(keypoints[0], keypoints[1], box, 1.5)


# Mesh vertices standing in for BlazeFace's 6 keypoints: eye centres (corner pairs), nose tip,
# mouth centre (inner lips), ear tragions.
KEYPOINT_VERTICES = ((33, 133), (362, 263), (1, 1), (13, 14), (234, 234), (454, 454))


def keypoints_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """(N, 6, 2) BlazeFace-style keypoints from (N, 468+, 3) meshes."""
    idx = np.array(KEYPOINT_VERTICES)
    return ((mesh[:, idx[:, 0], :2] + mesh[:, idx[:, 1], :2]) / 2).astype(np.float32)


def roi_from_mesh(mesh: np.ndarray, scale: float = 1.5, shift: float = 0.0) -> Roi:
    """Face ROI from a mesh: the 468-point extent in the eye-line frame (outer eye corners), its
    centre moved down by `shift` x its height, grown by `scale` (1.5, 0: MediaPipe's video ROI)."""
    angle = float(np.arctan2(*(mesh[263, 1::-1] - mesh[33, 1::-1])))
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    u = mesh[:468, :2] @ rot  # points in the eye-line frame
    lo, hi = u.min(0), u.max(0)
    mid = (lo + hi) / 2 + [0.0, shift * (hi[1] - lo[1])]
    centre = rot @ mid
    return Roi(float(centre[0]), float(centre[1]), float(max(hi - lo) * scale), angle)


def crop(rgb: np.ndarray, roi: Roi, out: int) -> np.ndarray:
    return cv2.warpAffine(rgb, roi.matrix(out), (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class FaceMesh:
    """`FaceMesh()(rgb, roi) -> (mesh (468, 3) image pixels, presence score)`."""

    asset, size, points = "face_landmark", MESH_SIZE, 468

    def __init__(self) -> None:
        self.model = Model(self.asset)

    def __call__(self, rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        x = crop(rgb, roi, self.size).astype(np.float32)[None] / 255.0
        pts, flag = self.model(x)[:2]
        score = float(sigmoid(flag.reshape(-1)[0]))
        return roi.to_image(pts.reshape(self.points, 3), self.size), score


class FaceMeshV2(FaceMesh):
    """`FaceMeshV2()(rgb, roi) -> (mesh (478, 3) image pixels, presence score)`.

    Face Mesh V2 from MediaPipe's Face Landmarker bundle: a 256x256 crop in, all 478 points
    (irises included) out in one pass.
    """

    asset, size, points = "face_landmarks_detector", MESH_V2_SIZE, 478


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (scale s, rotation R, translation t) with s R src + t ≈ dst, (K, 2) points."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sv, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = float((sv * np.diag(d)).sum() / max((a**2).sum(), 1e-12))
    return scale, rot, md - scale * rot @ ms


def irises_onto(mesh: np.ndarray, v2: np.ndarray) -> np.ndarray:
    """(10, 3) irises of a Face Mesh V2 mesh `v2` (478, 3) in the frame of the main mesh `mesh`
    (468+, 3): each eye's iris moved by the similarity that maps V2's eye contour onto the main
    mesh's (x, y; z shifted and scaled alike), so the iris sits in the main mesh's eye."""
    out = []
    for eye, iris in zip(EYE_CONTOURS, (v2[468:473], v2[473:478])):
        src, dst = v2[list(eye)], mesh[list(eye)]
        scale, rot, shift = similarity(src[:, :2].astype(np.float64), dst[:, :2].astype(np.float64))
        xy = iris[:, :2] @ (scale * rot).T + shift
        z = scale * (iris[:, 2] - src[:, 2].mean()) + dst[:, 2].mean()
        out.append(np.column_stack([xy, z]))
    return np.concatenate(out).astype(np.float32)
