"""Face crops by similarity transforms: five-point alignment to the ArcFace 112 x 112 template, and
the upright face square around the mesh that the age/gender and emotion heads read.

`ARCFACE_112` is the template that InsightFace's ArcFace models (and most 112 x 112 face embedders)
were trained on: eye centres, nose tip, mouth corners, in the image-left-to-right order that
`landmarks68.landmarks5` returns. Other sizes scale the template by size / 112.
"""

from __future__ import annotations

import cv2
import numpy as np

ARCFACE_112 = np.array([
    [38.2946, 51.6963],  # image-left eye centre
    [73.5318, 51.5014],  # image-right eye centre
    [56.0252, 71.7366],  # nose tip
    [41.5493, 92.3655],  # image-left mouth corner
    [70.7299, 92.2041],  # image-right mouth corner
], np.float32)


EYE_CORNERS = ([33, 133], [263, 362])  # mesh vertices: image-left eye, image-right eye


def upright_square_matrices(mesh: np.ndarray, size: int, side: float, shift: float = 0.0) -> np.ndarray:
    """(N, 2, 3) similarity matrices from image pixels to an upright `size` x `size` face square.

    The square is centred on the bounding box of the 468 mesh vertices, turned so that the line
    through the two eyes' corner midpoints is horizontal, `side` times the box's larger side wide,
    and moved `shift` of its width towards the chin.
    """
    pts = np.asarray(mesh, np.float64)[:, :468, :2]
    left, right = pts[:, EYE_CORNERS[0]].mean(1), pts[:, EYE_CORNERS[1]].mean(1)
    angle = np.arctan2(right[:, 1] - left[:, 1], right[:, 0] - left[:, 0])
    lo, hi = pts.min(1), pts.max(1)
    extent = (hi - lo).max(1) * side
    centre = (lo + hi) / 2 + shift * extent[:, None] * np.stack([-np.sin(angle), np.cos(angle)], 1)
    k = size / extent
    cos, sin = np.cos(angle) * k, np.sin(angle) * k
    rot = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)  # undo the roll, then scale
    offset = size / 2 - np.einsum("nij,nj->ni", rot, centre)
    return np.concatenate([rot, offset[:, :, None]], 2)


def warp(rgb: np.ndarray, matrices: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, C) crops of `rgb` under each (2, 3) matrix, borders replicated."""
    return np.stack([cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                     for m in matrices])


def align_matrices(landmarks5: np.ndarray, size: int = 112) -> np.ndarray:
    """(N, 5, 2) image points -> (N, 2, 3) similarity matrices onto the template (NaN if unknown).

    Fitted with `cv2.estimateAffinePartial2D` (rotation, uniform scale, translation) and LMEDS, so
    one badly placed point (e.g. a mouth corner under a hand) does not drag the eyes off the template.
    """
    dst = ARCFACE_112 * (size / 112.0)
    out = np.full((len(landmarks5), 2, 3), np.nan)
    for i, src in enumerate(np.asarray(landmarks5, np.float32)):
        if not np.isfinite(src).all():
            continue
        m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
        if m is not None:
            out[i] = m
    return out


def align(rgb: np.ndarray, landmarks5: np.ndarray, size: int = 112) -> np.ndarray:
    """Aligned face crops of N faces.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 image.
    landmarks5 : (N, 5, 2) points from `landmarks68.landmarks5`.
    size : output side in pixels.

    Returns
    -------
    (N, size, size, 3) uint8 crops, borders replicated from the image edge. A face whose
    landmarks are not finite gets an all-black crop (its `align_matrices` row is NaN).
    """
    mats = align_matrices(landmarks5, size)
    crops = np.zeros((len(mats), size, size, 3), np.uint8)
    for i, m in enumerate(mats):
        if np.isfinite(m).all():
            crops[i] = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crops
