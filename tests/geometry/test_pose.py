import numpy as np
import pytest

from facelens.geometry.pose import camera_matrix, canonical_face, euler_angles, head_pose, ray_rotation, rotation_matrix, view_rotation


def project(R, T, wh=(640, 480)):
    """Synthetic (N, 478, 3) meshes: the canonical face posed and projected with OpenFace intrinsics."""
    C, K = canonical_face(), camera_matrix(wh)
    out = []
    for r, t in zip(R, T):
        P = C @ rotation_matrix(r)[0].T + t
        p = P @ K.T
        out.append(np.c_[p[:, :2] / p[:, 2:], P[:, 2]])
    mesh = np.concatenate([np.array(out), np.zeros((len(R), 10, 3))], 1)
    return mesh.astype(np.float32)


def test_canonical_face_scale_and_frame():
    C = canonical_face()
    assert C.shape == (468, 3)
    eye_r, eye_l = C[[33, 133]].mean(0), C[[362, 263]].mean(0)
    assert np.linalg.norm(eye_r - eye_l) == pytest.approx(63.0, abs=0.5)
    assert eye_r[0] < 0 < eye_l[0]  # subject's right eye on the image left
    assert C[1, 2] < C[234, 2]  # nose tip nearer the camera than the cheek side
    assert C[10, 1] < C[1, 1] < C[152, 1]  # y down: forehead, nose, chin


def test_euler_round_trip():
    R = np.random.default_rng(0).uniform(-1.2, 1.2, (20, 3))
    np.testing.assert_allclose(euler_angles(rotation_matrix(R)), R, atol=1e-9)
    M = rotation_matrix(R)
    np.testing.assert_allclose(M @ M.transpose(0, 2, 1), np.broadcast_to(np.eye(3), M.shape), atol=1e-9)


def test_ray_rotation_points_axis_at_face():
    T = np.array([[0.0, 0.0, 500.0], [200.0, -100.0, 600.0]])
    M = ray_rotation(T)
    np.testing.assert_allclose(M[:, :, 2], T / np.linalg.norm(T, axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(M[0], np.eye(3), atol=1e-12)


def test_head_pose_recovers_synthetic_pose():
    R = np.radians([[10, -20, 5], [-15, 35, -8], [0, 0, 0]])
    T = np.array([[30, -20, 500], [-50, 40, 800], [0, 0, 600.0]])
    R_est, T_est = head_pose(project(R, T), (640, 480))
    np.testing.assert_allclose(R_est, R, atol=np.radians(0.1))
    np.testing.assert_allclose(T_est, T, atol=0.5)


def test_head_pose_signs_follow_openface():
    # Head turned to the subject's right: nose moves towards image left, yaw > 0.
    mesh = project(np.radians([[0, 20, 0]]), np.array([[0, 0, 600.0]]))
    assert mesh[0, 1, 0] < 320 and head_pose(mesh, (640, 480))[0][0, 1] > 0
    # Head tipped up (chin forward): pitch < 0, nose above where it is when frontal.
    up = project(np.radians([[-15, 0, 0]]), np.array([[0, 0, 600.0]]))
    front = project(np.zeros((1, 3)), np.array([[0, 0, 600.0]]))
    assert up[0, 1, 1] < front[0, 1, 1] and head_pose(up, (640, 480))[0][0, 0] < 0


def test_non_finite_mesh_gives_nan_row():
    mesh = project(np.zeros((2, 3)), np.array([[0, 0, 600.0]] * 2))
    mesh[1, 4] = np.nan  # 4 is a vertex PnP uses
    R, T = head_pose(mesh, (640, 480))
    assert np.isfinite(R[0]).all() and np.isnan(R[1]).all() and np.isnan(T[1]).all()


def test_a_mesh_collapsed_to_a_point_gives_a_nan_row_not_an_error():
    """OpenCV's SQPNP raises on points of too little spread (a mesh fitted to a face a few pixels wide)."""
    mesh = project(np.zeros((2, 3)), np.array([[0, 0, 600.0]] * 2))
    mesh[1, :, :2] = mesh[1, :, :2].mean(0) + 1e-4 * (mesh[1, :, :2] - mesh[1, :, :2].mean(0))
    R, T = head_pose(mesh, (640, 480))
    assert np.isfinite(R[0]).all() and np.isnan(R[1]).all() and np.isnan(T[1]).all()


def test_view_rotation_removes_line_of_sight():
    # A face looking straight at the camera from off-axis is frontal in its own view.
    T = np.array([[300.0, -150.0, 600.0]])
    R_cam = euler_angles(ray_rotation(T))
    np.testing.assert_allclose(view_rotation(R_cam, T)[0], np.eye(3), atol=1e-9)


def test_real_faces_frontal_and_mirrored(analyse):
    for name in ("expression/neutral.jpg", "expression/sad.jpg", "misc/astronaut.png"):
        rgb, _, mesh = analyse(name)
        R, T = head_pose(mesh[:1], rgb.shape[1::-1])
        R_view = euler_angles(view_rotation(R, T))
        assert np.all(np.abs(np.degrees(R_view)) < 15), (name, np.degrees(R_view))
        assert 200 < T[0, 2] < 2000  # a plausible distance in mm
    rgb, _, mesh = analyse("expression/happy.jpg")
    _, _, mirrored = analyse("expression/happy.jpg", mirror=True)
    R, _ = head_pose(mesh[:1], rgb.shape[1::-1])
    Rm, _ = head_pose(mirrored[:1], rgb.shape[1::-1])
    assert np.degrees(R[0, 1]) > 10 and np.degrees(Rm[0, 1]) < -10  # turned face, yaw flips
    assert abs(R[0, 1] + Rm[0, 1]) < np.radians(4)
    assert abs(R[0, 2] + Rm[0, 2]) < np.radians(4)  # roll flips too
    assert abs(R[0, 0] - Rm[0, 0]) < np.radians(4)  # pitch does not
