"""MediaPipe face mesh (468 points) and iris (5 points per eye), run with LiteRT.

Each face is cropped as a rotated square region of interest (ROI) from the detector's eye
keypoints or, in video, from the previous frame's mesh, as MediaPipe's face-landmark graph does.
Two mesh models: the 468-point mesh plus the iris model (`FaceMesh` + `Iris`, the main mesh by
default) and Face Mesh V2 (`FaceMeshV2`, MediaPipe's Face Landmarker bundle, 256x256 crop, all 478
points in one pass; what the blendshapes are computed from). In the 478-point layout 468–472 are the subject's right iris (centre
first), 473–477 the left.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facelens.models.runtime import Model

MESH_SIZE = 192
MESH_V2_SIZE = 256
# MediaPipe's FaceLandmarker (IMAGE mode) crops 1.5x its short-range detector box around the box
# centre. Relative to the mesh that this crop yields (468-point extent in the eye-line frame), that
# ROI measured 1.30x the extent, centre 4.3% of the extent's height lower (medians over 154 frames
# of three face videos in ../shared/data/video; 10-90%: 1.23-1.36, 1.8-6.3%).
IMAGE_ROI_SCALE, IMAGE_ROI_SHIFT = 1.30, 0.043
IRIS_SIZE = 64
# Eye corners (outer, inner) of the subject's right and left eye in the 468-point mesh.
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)


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

    def __init__(self) -> None:
        self.model = Model("face_landmark")

    def __call__(self, rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        x = crop(rgb, roi, MESH_SIZE).astype(np.float32)[None] / 255.0
        pts, flag = self.model(x)
        score = float(1.0 / (1.0 + np.exp(-np.clip(flag.reshape(-1)[0], -80, 80))))
        return roi.to_image(pts.reshape(468, 3), MESH_SIZE), score


class FaceMeshV2:
    """`FaceMeshV2()(rgb, roi) -> (mesh (478, 3) image pixels, presence score)`.

    Face Mesh V2 from MediaPipe's Face Landmarker bundle: a 256x256 crop in, all 478 points
    (irises included) out in one pass.
    """

    def __init__(self) -> None:
        self.model = Model("face_landmarks_detector")

    def __call__(self, rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        x = crop(rgb, roi, MESH_V2_SIZE).astype(np.float32)[None] / 255.0
        pts, flag = self.model(x)[:2]
        score = float(1.0 / (1.0 + np.exp(-np.clip(flag.reshape(-1)[0], -80, 80))))
        return roi.to_image(pts.reshape(478, 3), MESH_V2_SIZE), score


class Iris:
    """`Iris()(rgb, mesh468) -> (10, 3)`: right iris (5) then left iris (5), image pixels."""

    def __init__(self) -> None:
        self.model = Model("iris_landmark")

    def _eye(self, rgb: np.ndarray, mesh: np.ndarray, corners: tuple[int, int], flip: bool) -> np.ndarray:
        a, b = mesh[corners[0], :2], mesh[corners[1], :2]
        box = np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])])
        roi = roi_from_points(a, b, box, 2.3)
        patch = crop(rgb, roi, IRIS_SIZE)
        if flip:
            patch = patch[:, ::-1]
        _, iris = self.model(np.ascontiguousarray(patch, np.float32)[None] / 255.0)
        iris = iris.reshape(5, 3)
        if flip:
            iris[:, 0] = IRIS_SIZE - iris[:, 0]
        return roi.to_image(iris, IRIS_SIZE)

    def __call__(self, rgb: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        right = self._eye(rgb, mesh, RIGHT_EYE_CORNERS, flip=False)
        left = self._eye(rgb, mesh, LEFT_EYE_CORNERS, flip=True)
        return np.concatenate([right, left])
