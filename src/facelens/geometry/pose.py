"""Head pose from the 478-point mesh: PnP on MediaPipe's canonical face, OpenFace 2.2 conventions.

Camera frame: x right, y down, z forward (away from the camera), millimetres. Default intrinsics
are OpenFace's: fx = fy = 500 * w / 640, cx = w / 2, cy = h / 2. `pose_R` holds Euler angles
(pitch Rx, yaw Ry, roll Rz) in radians with R = Rx @ Ry @ Rz, the rotation that takes the
canonical face (x to the subject's left, y down, z into the head) into the camera frame. Signs as
OpenFace reports them: head tipped up -> Rx < 0, head turned to the subject's right (nose towards
image left) -> Ry > 0, head tilted towards the subject's left shoulder (image-right side
lower) -> Rz > 0.
`pose_T` is the centroid of the 68 iBUG landmark vertices of the canonical face, in mm, like
OpenFace's model origin.

Like OpenFace's, the rotation is relative to the camera axes, so a face that looks straight at
the camera from the edge of a wide image has a non-zero pose; `view_rotation` removes that part.

The canonical face (asset `canonical_face_468`, 468 x 3) is MediaPipe's canonical face model from
npm `@mediapipe/face_mesh@0.4.1657299874` (Apache-2.0), extracted by `tools/build_assets.py`;
its eye-centre distance is 63 mm.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from facelens.geometry.ibug68 import MESH_TO_68
from facelens.models.runtime import asset_path

# Vertices that barely move with expression (forehead, nose ridge and tip, eye corners,
# cheekbones, face sides at eye level); PnP on these is steadier than on all 468 (measured on a
# 472-frame video and on mirrored photos) and is not tilted by an open jaw or raised brows.
RIGID = np.array([10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 33, 133, 362, 263, 130, 359, 116, 345, 123, 352,
                  234, 454, 127, 356, 93, 323, 98, 327, 67, 297, 109, 338, 103, 332, 21, 251, 54, 284])


@functools.cache
def canonical_face() -> np.ndarray:
    """(468, 3) float64 canonical face in mm, origin at the centroid of its 68 iBUG vertices."""
    # The asset is in cm in MediaPipe's axes (y up, z towards the viewer): to mm, y down, z into the head.
    v = np.load(asset_path("canonical_face_468")).astype(np.float64) * np.array([10.0, -10.0, -10.0])
    v -= v[MESH_TO_68].mean(0)
    v.setflags(write=False)
    return v


def camera_matrix(image_wh: tuple[int, int]) -> np.ndarray:
    """OpenFace's default pinhole intrinsics (3, 3) for an image of (width, height)."""
    w, h = image_wh
    f = 500.0 * w / 640.0
    return np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])


def rotation_matrix(R: np.ndarray) -> np.ndarray:
    """(N, 3) Euler angles (pitch, yaw, roll) -> (N, 3, 3) matrices Rx @ Ry @ Rz."""
    R = np.asarray(R, np.float64).reshape(-1, 3)
    s1, s2, s3 = np.sin(R).T
    c1, c2, c3 = np.cos(R).T
    m = np.stack([
        c2 * c3, -c2 * s3, s2,
        c1 * s3 + c3 * s1 * s2, c1 * c3 - s1 * s2 * s3, -c2 * s1,
        s1 * s3 - c1 * c3 * s2, c3 * s1 + c1 * s2 * s3, c1 * c2,
    ], -1)
    return m.reshape(-1, 3, 3)


def euler_angles(M: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices -> (N, 3) (pitch, yaw, roll), inverse of `rotation_matrix`."""
    M = np.asarray(M, np.float64).reshape(-1, 3, 3)
    pitch = np.arctan2(-M[:, 1, 2], M[:, 2, 2])
    yaw = np.arcsin(np.clip(M[:, 0, 2], -1.0, 1.0))
    roll = np.arctan2(-M[:, 0, 1], M[:, 0, 0])
    return np.stack([pitch, yaw, roll], -1)


def ray_rotation(T: np.ndarray) -> np.ndarray:
    """(N, 3) positions -> (N, 3, 3) smallest rotations taking the optical axis onto each ray."""
    T = np.asarray(T, np.float64).reshape(-1, 3)
    d = T / np.linalg.norm(T, axis=1, keepdims=True)
    axis = np.cross([0.0, 0.0, 1.0], d)
    s = np.linalg.norm(axis, axis=1)
    c = d[:, 2]
    k = axis / np.where(s > 1e-12, s, 1.0)[:, None]
    K = np.zeros((len(T), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K -= K.transpose(0, 2, 1)
    # Rodrigues: I + sin K + (1 - cos) K^2
    return np.eye(3) + s[:, None, None] * K + (1.0 - c)[:, None, None] * (K @ K)


def view_rotation(pose_R: np.ndarray, pose_T: np.ndarray | None = None) -> np.ndarray:
    """(N, 3, 3) head rotation relative to the line of sight to the face (the mesh's own frame).

    The mesh is a weak-perspective crop, so in its frame a face looking at the camera is frontal
    wherever it is in the image. Without `pose_T` the face is taken to be on the optical axis.
    """
    M = rotation_matrix(pose_R)
    if pose_T is None:
        return M
    return ray_rotation(pose_T).transpose(0, 2, 1) @ M


def head_pose(mesh: np.ndarray, image_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Head rotation and position of N faces by PnP of the canonical face on the mesh.

    Parameters
    ----------
    mesh : (N, 478|468, 3) mesh points in image pixels (only x, y are used).
    image_wh : (width, height) of the image, for OpenFace's default intrinsics.

    Returns
    -------
    R : (N, 3) float32 pitch, yaw, roll in radians (OpenFace pose_Rx, pose_Ry, pose_Rz).
    T : (N, 3) float32 position in mm (OpenFace pose_Tx, pose_Ty, pose_Tz).
    Rows whose mesh has non-finite points, or where PnP fails, are NaN.
    """
    mesh = np.asarray(mesh)
    K = camera_matrix(image_wh)
    obj = canonical_face()[RIGID]
    R = np.full((len(mesh), 3), np.nan)
    T = np.full((len(mesh), 3), np.nan)
    for i, m in enumerate(mesh):
        img = np.ascontiguousarray(m[RIGID, :2], np.float64)
        if not np.isfinite(img).all():
            continue
        try:  # SQPNP refuses points of too little spread (a mesh a few pixels wide)
            ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
            if ok:  # refine with Levenberg-Marquardt from the global solution
                ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, rvec, tvec, True, flags=cv2.SOLVEPNP_ITERATIVE)
        except cv2.error:
            continue
        if ok and tvec[2, 0] > 0:
            R[i] = euler_angles(cv2.Rodrigues(rvec)[0])[0]
            T[i] = tvec[:, 0]
    return R.astype(np.float32), T.astype(np.float32)
