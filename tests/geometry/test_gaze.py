import numpy as np
import pytest

from facelens.geometry.gaze import EYEBALL_OFFSET_MM, EYEBALL_RADIUS_MM, gaze
from facelens.geometry.pose import canonical_face, head_pose, rotation_matrix


def synthetic(yaw_deg=0.0, eye_yaw_deg=0.0):
    """Weak-perspective mesh (3 px/mm) with irises placed on a 12 mm eyeball turned by eye_yaw."""
    M = rotation_matrix(np.radians([[0, yaw_deg, 0]]))[0]
    C = canonical_face()
    mesh = np.zeros((478, 3))
    mesh[:468] = C @ M.T
    eye = rotation_matrix(np.radians([[0, yaw_deg + eye_yaw_deg, 0]]))[0] @ [0, 0, -EYEBALL_RADIUS_MM]
    for corners, iris in (((33, 133), 468), ((362, 263), 473)):
        centre = C[list(corners)].mean(0) @ M.T + M @ EYEBALL_OFFSET_MM
        mesh[iris] = centre + eye
    mesh = mesh * 3.0 + [320, 240, 0]
    return mesh[None].astype(np.float32), np.radians([[0, yaw_deg, 0]])


def test_looking_ahead_is_minus_z():
    mesh, R = synthetic()
    v, a = gaze(mesh, R)
    np.testing.assert_allclose(v[0], [[0, 0, -1]] * 2, atol=1e-4)
    np.testing.assert_allclose(a, 0, atol=1e-4)


def test_eye_turn_recovered_under_head_yaw():
    # Head turned 20 deg to the subject's right, eyes turned back 20 deg: looking at the camera.
    mesh, R = synthetic(20, -20)
    v, a = gaze(mesh, R)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1, atol=1e-5)
    np.testing.assert_allclose(a, 0, atol=1e-3)
    mesh, R = synthetic(0, 15)  # eyes to the subject's right = image left: gaze x < 0
    assert np.degrees(gaze(mesh, R)[1][0, 0]) == pytest.approx(-15, abs=0.01)


def test_nan_pose_gives_nan():
    mesh, R = synthetic()
    v, a = gaze(np.repeat(mesh, 2, 0), np.r_[R, [[np.nan] * 3]])
    assert np.isfinite(a[0]).all() and np.isnan(a[1]).all() and np.isnan(v[1]).all()


def test_mirror_flips_gaze_x(analyse):
    for name in ("expression/angry_black.jpg", "expression/happy.jpg"):
        out = []
        for mirror in (False, True):
            rgb, _, mesh = analyse(name, mirror=mirror)
            R, T = head_pose(mesh[:1], rgb.shape[1::-1])
            v, a = gaze(mesh[:1], R, T)
            assert np.isfinite(v).all()
            out.append(a[0])
        assert abs(out[0][0]) > np.radians(5), name
        assert np.sign(out[0][0]) == -np.sign(out[1][0]), (name, np.degrees(out))
        assert abs(out[0][0] + out[1][0]) < np.radians(8), (name, np.degrees(out))


def test_eye_zero_is_image_left(analyse):
    rgb, _, mesh = analyse("expression/angry_black.jpg")
    R, T = head_pose(mesh[:1], rgb.shape[1::-1])
    v, _ = gaze(mesh[:1], R, T)
    _, _, mirrored = analyse("expression/angry_black.jpg", mirror=True)
    Rm, Tm = head_pose(mirrored[:1], rgb.shape[1::-1])
    vm, _ = gaze(mirrored[:1], Rm, Tm)
    # In the mirror image the image-left eye is the other eye, seen mirrored: x flips, order swaps.
    np.testing.assert_allclose(v[0, 0, 0], -vm[0, 1, 0], atol=0.15)
