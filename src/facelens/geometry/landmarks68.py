"""Index tables that derive iBUG 68-point and 5-point landmarks from the 478-point mesh.

The 68 table picks, for each iBUG 300-W point, the mesh vertex that lies on the same anatomical
spot (jaw contour, brows, nose, eyes, lips). Jaw points in 300-W follow the visible outline,
which the mesh only approximates, so jaw error dominates the NME of this mapping.
"""

from __future__ import annotations

import numpy as np

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


def landmarks68(mesh: np.ndarray) -> np.ndarray:
    """(N, 478|468, 3) mesh -> (N, 68, 2) iBUG-layout points."""
    return mesh[:, MESH_TO_68, :2].astype(np.float32)


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
