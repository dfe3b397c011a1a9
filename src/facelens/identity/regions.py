"""Face-region vertex sets of the 478-point MediaPipe face mesh.

Each region is the convex hull of these mesh vertices (lips: outer lip hull minus the inner mouth
hull). These masks are derived from the mesh geometry, not from a learned face parser: hair,
occluders and unusual expressions are not segmented. "right"/"left" are the subject's.
"""

from __future__ import annotations

import numpy as np

FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                      152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109])
RIGHT_BROW = np.array([70, 63, 105, 66, 107, 55, 65, 52, 53, 46])
LEFT_BROW = np.array([300, 293, 334, 296, 336, 285, 295, 282, 283, 276])
RIGHT_EYE = np.array([33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246])
LEFT_EYE = np.array([263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466])
NOSE = np.array([168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 64, 294, 48, 278, 193, 417, 122, 351])
OUTER_LIPS = np.array([61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185])
INNER_MOUTH = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191])

# Region name -> (vertices to fill, vertices to cut out or None).
REGIONS: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
    "face_oval": (FACE_OVAL, None),
    "right_brow": (RIGHT_BROW, None),
    "left_brow": (LEFT_BROW, None),
    "right_eye": (RIGHT_EYE, None),
    "left_eye": (LEFT_EYE, None),
    "nose": (NOSE, None),
    "lips": (OUTER_LIPS, INNER_MOUTH),
    "inner_mouth": (INNER_MOUTH, None),
}
