"""Five-point face alignment to the ArcFace 112 x 112 template by a similarity transform.

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
