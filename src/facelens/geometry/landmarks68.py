"""iBUG 68-point and 5-point landmarks derived from the 478-point mesh.

`MESH_TO_68` picks, for each iBUG 300-W point, the mesh vertex on the same anatomical spot (jaw
contour, brows, nose, eyes, lips). 300-W's annotators traced the jaw on the visible outline, which
no fixed vertex follows, so by default each point is instead an affine combination of the 16 mesh
vertices around that vertex (asset `landmarks68_fit`, fitted by `tools/fit_landmarks68.py` to
dlib's 300-W-trained predictor on faces other than the ones the NME is measured on).
"""

from __future__ import annotations

import functools
import json

import numpy as np

from facelens.models.runtime import asset_path

MESH_TO_68 = np.array([
    # jaw 0-16
    127, 234, 132, 58, 172, 150, 149, 148, 152, 377, 378, 379, 397, 288, 361, 454, 356,
    # right brow 17-21, left brow 22-26
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose bridge 27-30, nostrils 31-35
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    # right eye 36-41, left eye 42-47
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # outer lips 48-59, inner lips 60-67
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87,
])


@functools.cache
def _fit() -> tuple[np.ndarray, np.ndarray]:
    doc = json.loads(asset_path("landmarks68_fit").read_text())
    return np.asarray(doc["index"], np.intp), np.asarray(doc["weight"], np.float32)


def landmarks68(mesh: np.ndarray, fitted: bool = True) -> np.ndarray:
    """(N, 478|468, 3) mesh -> (N, 68, 2) iBUG-layout points.

    `fitted=False` returns the plain vertex table (`MESH_TO_68`), which uses no 300-W-derived data.
    """
    if not fitted:
        return mesh[:, MESH_TO_68, :2].astype(np.float32)
    index, weight = _fit()
    return np.einsum("nlkc,lk->nlc", mesh[:, index, :2].astype(np.float32), weight)


def landmarks5(mesh: np.ndarray) -> np.ndarray:
    """(N, 478, 3) mesh -> (N, 5, 2): eye centres, nose tip, mouth corners (image left to right).

    The layout of RetinaFace/InsightFace five-point alignment. Eye centres are the iris centres
    when the mesh has them, else the middle of the eye corners.
    """
    if mesh.shape[1] >= 478:
        right_eye, left_eye = mesh[:, 468, :2], mesh[:, 473, :2]
    else:
        right_eye = mesh[:, [33, 133], :2].mean(1)
        left_eye = mesh[:, [362, 263], :2].mean(1)
    pts = np.stack([right_eye, left_eye, mesh[:, 1, :2], mesh[:, 61, :2], mesh[:, 291, :2]], 1)
    return pts.astype(np.float32)
