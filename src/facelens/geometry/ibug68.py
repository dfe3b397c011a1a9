"""Index tables of the iBUG 300-W 68-point layout on the face mesh (first 468 vertices)."""

from __future__ import annotations

import numpy as np

# For each iBUG 300-W point, the mesh vertex on the same anatomical spot.
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

JAW = np.arange(17)
# Side of the face of each jaw point: -1 subject's right (image left when frontal), +1 left, 0 chin.
JAW_SIDE = np.sign(np.arange(17) - 8)
