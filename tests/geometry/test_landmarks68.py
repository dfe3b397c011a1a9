"""68 points under head pose on synthetic meshes: the canonical face posed with a known rotation.

These check the geometry of the mapping (marching reaches the silhouette, nothing moves on a frontal
face, no jumps as a head turns), not its accuracy: accuracy needs real faces (tests/test_landmarks.py
and benchmarks/landmarks.py), since the silhouette of a synthetic face is the mesh's own.
"""

import cv2
import numpy as np
import pytest
from test_pose import project

from facelens.geometry.ibug68 import JAW
from facelens.geometry.landmarks68 import PoseFrame, contour_lines, landmarks68, march_offsets
from facelens.geometry.pose import head_pose

WH = (640, 480)
T = [0.0, 0.0, 450.0]  # about 1.1 px per mm, inter-ocular distance ~70 px


def posed(yaw_deg: float, pitch_deg: float = 0.0):
    mesh = project(np.radians([[pitch_deg, yaw_deg, 0.0]]), np.array([T]), WH)
    R, Tr = head_pose(mesh, WH)
    return mesh, R, Tr


def hull_distance(points: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Signed distance (px) of each point to the projected mesh's outline; > 0 inside."""
    hull = cv2.convexHull(np.ascontiguousarray(mesh[0, :468, :2], np.float32))
    return np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in points])


def test_contour_lines_run_inward_from_each_jaw_vertex():
    normals, lines = contour_lines()
    assert normals.shape == (17, 2) and len(lines) == 17
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert normals[0, 0] < -0.9 and normals[16, 0] > 0.9 and normals[8, 1] > 0.99  # out at the sides, down at the chin
    assert all(len(line) >= 3 for line in lines)


def test_frontal_face_does_not_march():
    mesh, R, Tr = posed(0.0)
    shift = march_offsets(mesh.astype(np.float64), PoseFrame.from_pose(mesh, R, Tr))
    assert np.abs(shift).max() < 0.05
    np.testing.assert_allclose(landmarks68(mesh, pose_R=R, pose_T=Tr), landmarks68(mesh), atol=0.1)


@pytest.mark.parametrize("yaw", [25.0, 35.0, -35.0])
def test_far_side_jaw_marches_to_the_silhouette(yaw):
    """Turned away, the far side's fixed vertices hide behind the cheek; marching brings them out.

    Up to ~40 degrees the outline is the convex hull of the projected mesh; beyond, the nose
    sticks out past the far cheek and the hull no longer is the silhouette.
    """
    mesh, R, Tr = posed(yaw)
    far = JAW[:8] if yaw > 0 else JAW[16:8:-1]  # upper first; yaw > 0: nose to image left, subject's right away
    fixed = hull_distance(landmarks68(mesh, fitted=False)[0, far], mesh)
    marched = hull_distance(landmarks68(mesh, fitted=False, pose_R=R, pose_T=Tr)[0, far], mesh)
    assert fixed[:4].min() > 5.0, fixed  # upper far-side vertices well inside the outline
    assert np.all(marched <= fixed + 1e-6) and marched[:4].max() < fixed[:4].min()
    assert np.median(marched) < 3.0, marched  # on the outline within the line spacing


def test_points_glide_as_the_head_turns():
    """No jumps: through frontal and beyond, each 0.5 degree moves every point by a small, steady amount."""
    steps = []
    previous = None
    for yaw in np.arange(-20.0, 20.01, 0.5):
        mesh, R, Tr = posed(float(yaw), pitch_deg=8.0)
        pts = landmarks68(mesh, pose_R=R, pose_T=Tr)[0]
        if previous is not None:
            steps.append(np.linalg.norm(pts - previous, axis=1).max())
        previous = pts
    assert max(steps) < 1.5, max(steps)
    assert max(steps) < 4 * np.median(steps), (max(steps), np.median(steps))


def test_unknown_pose_gives_the_frontal_mapping():
    mesh, R, Tr = posed(30.0)
    np.testing.assert_allclose(landmarks68(mesh, pose_R=np.full_like(R, np.nan)), landmarks68(mesh), atol=1e-4)
