"""A face-quality score in [0, 1] for choosing which faces to embed, keep or show (no learned model).

quality = geometric mean of four factors, each in [0, 1], so any factor near 0 pulls it down:

| factor     | definition                                                                      |
|------------|---------------------------------------------------------------------------------|
| sharpness  | v / (v + SHARPNESS_HALF), v = variance of the Laplacian of the face's mesh bounding box, grey, resized to 112 x 112 |
| size       | min(1, box height / 112 px)                                                     |
| pose       | (cos yaw * cos pitch)^2 of the head relative to the line of sight (30 deg -> 0.75, 45 deg -> 0.5) |
| confidence | detector score                                                                  |

SHARPNESS_HALF = 100 is the Laplacian variance that scores 0.5; sharp faces of the project's shared
photos measure 270-760, the same images blurred (Gaussian, sigma 2 px) 6-115. Downscaling keeps
the measure high, which is what the size factor is for. NaN where the
mesh, box or pose of a face is not finite.
"""

from __future__ import annotations

import cv2
import numpy as np

from facelens.geometry.pose import euler_angles, view_rotation

SHARPNESS_SIZE = 112
SHARPNESS_HALF = 100.0
FULL_SIZE_PX = 112.0


def sharpness(rgb: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """(N,) variance of the Laplacian over each face's mesh bounding box, at 112 x 112 grey."""
    h, w = rgb.shape[:2]
    out = np.full(len(mesh), np.nan)
    for i, m in enumerate(np.asarray(mesh)):
        xy = m[:, :2]
        if not np.isfinite(xy).all():
            continue
        x1, y1 = np.floor(xy.min(0)).astype(int)
        x2, y2 = np.ceil(xy.max(0)).astype(int)
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        face = rgb[y1:y2, x1:x2]  # grey per face, not the whole frame (2-7 ms a 1080p frame)
        grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY) if face.ndim == 3 else face
        patch = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
        out[i] = cv2.Laplacian(patch.astype(np.float32), cv2.CV_32F).var()
    return out


def quality(
    rgb: np.ndarray,
    boxes: np.ndarray,
    mesh: np.ndarray,
    pose_R: np.ndarray,
    scores: np.ndarray,
    pose_T: np.ndarray | None = None,
) -> np.ndarray:
    """Quality of N faces in one image, in [0, 1].

    Parameters
    ----------
    rgb : (H, W, 3) uint8 image.
    boxes : (N, 4) x1, y1, x2, y2 pixels.
    mesh : (N, 478|468, 3) mesh in pixels (its bounding box is where sharpness is measured).
    pose_R : (N, 3) head pose from `head_pose`; pose_T (N, 3) optional, see `view_rotation`.
    scores : (N,) detector confidence in [0, 1].

    Returns
    -------
    (N,) float32 geometric mean of sharpness, size, pose and confidence factors; NaN if unknown.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    v = sharpness(rgb, mesh)
    f_sharp = v / (v + SHARPNESS_HALF)
    f_size = np.clip((boxes[:, 3] - boxes[:, 1]) / FULL_SIZE_PX, 0.0, 1.0)
    pitch, yaw, _ = euler_angles(view_rotation(pose_R, pose_T)).T
    f_pose = (np.clip(np.cos(yaw), 0.0, 1.0) * np.clip(np.cos(pitch), 0.0, 1.0)) ** 2
    f_conf = np.clip(np.asarray(scores, np.float64).reshape(-1), 0.0, 1.0)
    q = (f_sharp * f_size * f_pose * f_conf) ** 0.25
    return q.astype(np.float32)
