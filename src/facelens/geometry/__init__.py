"""Geometry derived from the face mesh: 68/5 points, head pose, gaze, AU estimates, quality, alignment.

Pure numpy (+ OpenCV for PnP, warps and filters), vectorised over N faces, NaN where a value cannot
be computed for a face.
"""

from facelens.geometry.align import ARCFACE_112, align, align_matrices
from facelens.geometry.au import AU_NAMES, action_units
from facelens.geometry.gaze import gaze
from facelens.geometry.landmarks68 import landmarks5, landmarks68
from facelens.geometry.pose import camera_matrix, canonical_face, euler_angles, head_pose, rotation_matrix, view_rotation
from facelens.geometry.quality import quality

__all__ = [
    "ARCFACE_112", "AU_NAMES", "action_units", "align", "align_matrices", "camera_matrix", "canonical_face",
    "euler_angles", "gaze", "head_pose", "landmarks5", "landmarks68", "quality", "rotation_matrix", "view_rotation",
]
