"""MediaPipe's face blendshape model (Blendshape V2): 146 of the 478 mesh points -> 52 scores.

Fed as MediaPipe's FaceBlendshapesGraph feeds it: the `LANDMARK_SUBSET` points of the 478-point
mesh (irises included), (x, y) only, in image pixels (MediaPipe's normalised landmarks times the
image size). The subset and the category order are MediaPipe's `kLandmarksSubsetIdxs` and
`kBlendshapeNames` (mediapipe/tasks/cc/vision/face_landmarker/face_blendshapes_graph.cc).
Scores are in [0, 1]; MediaPipe documents `_neutral` (index 0) as one to ignore.
"""

from __future__ import annotations

import numpy as np

from facelens.models.runtime import Model

LANDMARK_SUBSET = (
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66,
    67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145,
    146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176,
    178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285,
    288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334,
    336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387,
    388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474,
    475, 476, 477,
)
BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)
# The output columns: every category but `_neutral`.
BLENDSHAPE_COLUMNS = BLENDSHAPE_NAMES[1:]


def blendshape_index(name: str) -> int:
    """Position of a category in `Faces.blendshapes` (MediaPipe's order)."""
    return BLENDSHAPE_NAMES.index(name)


class Blendshapes:
    """`Blendshapes()(mesh) -> (N, 52)` scores in `BLENDSHAPE_NAMES` order.

    `mesh` is (N, 478, 2|3) in image pixels, irises at 468-477 as MediaPipe's 478-point layout.
    """

    def __init__(self) -> None:
        self.model = Model("face_blendshapes")

    def __call__(self, mesh: np.ndarray) -> np.ndarray:
        out = np.zeros((len(mesh), len(BLENDSHAPE_NAMES)), np.float32)
        for i, m in enumerate(np.asarray(mesh, np.float32)):
            (scores,) = self.model(m[LANDMARK_SUBSET, :2][None])
            out[i] = scores.reshape(-1)
        return np.clip(out, 0.0, 1.0)
