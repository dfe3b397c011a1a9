"""Eye gaze from the mesh's iris centres and a geometric eyeball model (an estimate, not learned).

For each eye, the eyeball centre is placed behind the middle of the two eye corners (33, 133 for
the subject's right eye; 362, 263 for the left): `EYEBALL_OFFSET_MM` in the head's frame (x to the
subject's left, y down, z into the head), turned by the head rotation and scaled to pixels by the
3-D eye-centre distance (63 mm on the canonical face). The iris centre (468 / 473) is put on the
front of a sphere of `EYEBALL_RADIUS_MM` around that centre, along the mesh's viewing direction
(the mesh is a weak-perspective crop), and the gaze is the unit vector from centre to iris.
The 12 mm radius is anatomical; the 8.5 mm depth is the canonical face's lid-to-corner depth
subtracted from that radius; the 0.2 mm height makes the median vertical gaze about zero on 55 faces
(photos of the project's shared data and their mirror images) whose subjects mostly look at the
camera. On those photos the horizontal estimate still follows head yaw in part (regression
slope of gaze_angle_x on yaw about -1.3): treat angles as rough, errors of 10 degrees are usual.

Outputs follow OpenFace 2.2: eye 0 is the eye left-most in the image, eye 1 the other; vectors are
in the camera frame (x right, y down, z forward), so looking into the camera gives about
(0, 0, -1); gaze_angle_x = atan2(g_x, -g_z) and gaze_angle_y = atan2(g_y, -g_z) for g the mean
of both vectors (radians; looking to image-right -> x > 0, looking down -> y > 0).
"""

from __future__ import annotations

import numpy as np

from facelens.geometry.pose import ray_rotation, view_rotation

EYEBALL_RADIUS_MM = 12.0
EYEBALL_OFFSET_MM = np.array([0.0, 0.2, 8.5])
EYE_DISTANCE_MM = 63.0  # distance between the eye-corner midpoints of the canonical face
CORNERS = ((33, 133), (362, 263))  # subject's right eye, left eye
IRIS = (468, 473)


def gaze(
    mesh: np.ndarray, pose_R: np.ndarray, pose_T: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-eye gaze vectors and OpenFace's gaze angles of N faces.

    Parameters
    ----------
    mesh : (N, 478, 3) mesh with irises, image pixels.
    pose_R : (N, 3) head pose (pitch, yaw, roll) from `head_pose`.
    pose_T : (N, 3) head position in mm from `head_pose`. When given, the camera-frame pose is
        related to the line of sight to the face and the vectors are returned in the camera frame;
        without it the face is taken to be on the optical axis.

    Returns
    -------
    vectors : (N, 2, 3) float32 unit vectors, eye 0 = left-most in the image.
    angles : (N, 2) float32 gaze_angle_x, gaze_angle_y in radians.
    NaN where the mesh or pose is not finite.
    """
    mesh = np.asarray(mesh, np.float64)
    if mesh.shape[1] < 478:
        raise ValueError(f"gaze needs the 478-point mesh with irises, got shape {mesh.shape}")
    M = view_rotation(pose_R, pose_T)  # head -> mesh frame
    mids = np.stack([mesh[:, list(c)].mean(1) for c in CORNERS], 1)  # (N, 2, 3)
    px_per_mm = np.linalg.norm(mids[:, 0] - mids[:, 1], axis=1) / EYE_DISTANCE_MM
    centre = mids + (px_per_mm[:, None] * (M @ EYEBALL_OFFSET_MM))[:, None]
    r = EYEBALL_RADIUS_MM * px_per_mm[:, None]
    d = mesh[:, IRIS, :2] - centre[..., :2]
    # Iris on the camera-facing side of the sphere; beyond the rim it stays on the rim.
    dz = -np.sqrt(np.clip(r**2 - (d**2).sum(-1), 0.0, None))
    v = np.concatenate([d, dz[..., None]], -1)
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    if pose_T is not None:
        v = np.einsum("nij,nej->nei", ray_rotation(pose_T), v)
    # Eye 0 is whichever iris is further left in the image.
    swap = mesh[:, IRIS[0], 0] > mesh[:, IRIS[1], 0]
    v[swap] = v[swap, ::-1]
    g = v.mean(1)
    angles = np.stack([np.arctan2(g[:, 0], -g[:, 2]), np.arctan2(g[:, 1], -g[:, 2])], -1)
    return v.astype(np.float32), angles.astype(np.float32)
