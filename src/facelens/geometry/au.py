"""Facial action unit intensity *estimates*, on OpenFace's 0-5 scale; not FACS-coded intensities.

Most AUs come from MediaPipe's learned blendshapes (`facelens.models.blendshapes`): the AU is 5x
the blendshape score, averaged over the left and right blendshape where there are two. Blendshape
scores are learned from images; the mapping to FACS follows the usual ARKit-to-FACS
correspondence and was not fitted to FACS-coded data (none is available here), so these remain
estimates of the same movement, not a coder's intensity.

| AU   | name                 | source    | from                                              |
|------|----------------------|-----------|---------------------------------------------------|
| AU01 | inner brow raiser    | learned   | browInnerUp                                       |
| AU02 | outer brow raiser    | learned   | browOuterUpLeft, browOuterUpRight                 |
| AU04 | brow lowerer         | learned   | browDownLeft, browDownRight                       |
| AU05 | upper lid raiser     | learned   | eyeWideLeft, eyeWideRight                         |
| AU06 | cheek raiser         | learned   | cheekSquintLeft, cheekSquintRight                 |
| AU07 | lid tightener        | learned   | eyeSquintLeft, eyeSquintRight                     |
| AU09 | nose wrinkler        | learned   | noseSneerLeft, noseSneerRight                     |
| AU10 | upper lip raiser     | learned   | mouthUpperUpLeft, mouthUpperUpRight               |
| AU12 | lip corner puller    | learned   | mouthSmileLeft, mouthSmileRight                   |
| AU14 | dimpler              | learned   | mouthDimpleLeft, mouthDimpleRight                 |
| AU15 | lip corner depressor | learned   | mouthFrownLeft, mouthFrownRight                   |
| AU17 | chin raiser          | learned   | mouthShrugLower                                   |
| AU20 | lip stretcher        | learned   | mouthStretchLeft, mouthStretchRight               |
| AU23 | lip tightener        | geometric | red-lip thickness thinning (table below)          |
| AU25 | lips part            | geometric | gap between the inner lips (table below)          |
| AU26 | jaw drop             | learned   | jawOpen                                           |
| AU45 | blink                | learned   | eyeBlinkLeft, eyeBlinkRight                       |

No blendshape measures AU23 (mouthPress is the lip pressor, AU24) or the lip gap itself (jawOpen
and mouthClose describe the jaw and the lips together), so those two stay geometric.

Geometric estimates. Each face's mesh is pose-normalised: centred on the rigid vertices of
`pose.RIGID`, turned back by the head rotation, and scaled to millimetres by the 3-D eye-centre
distance (63 mm). A handful of distances are then compared with their value on neutral faces,
and each difference becomes an intensity: clip(difference / unit, 0, 5). y points down in the
head frame. `geometric_action_units` returns all of them (`GEOMETRIC_NAMES`), the mesh-only
estimates that facelens used before the blendshapes; `action_units` keeps AU23 and AU25.

| AU   | name                 | feature (mesh vertices)                                          | unit   |
|------|----------------------|------------------------------------------------------------------|--------|
| AU01 | inner brow raiser    | inner brow (107, 66 / 336, 296) height above the eye-corner line | 2 mm   |
| AU02 | outer brow raiser    | outer brow (70, 63 / 300, 293) height above the outer corner     | 2 mm   |
| AU04 | brow lowerer         | inner brow lowering + inner brows (107, 336) drawing together    | 1.5 mm |
| AU05 | upper lid raiser     | upper lid (159 / 386) height above the eye-corner line           | 1 mm   |
| AU06 | cheek raiser         | cheek (50 / 280) rising towards the eye-corner line              | 1 mm   |
| AU07 | lid tightener        | narrowing of the eye opening (159-145 / 386-374)                 | 1 mm   |
| AU09 | nose wrinkler        | nose wing (64 / 294) rising towards the inner eye corner         | 1 mm   |
| AU10 | upper lip raiser     | upper lip (0) rising towards the nose base (2)                   | 1 mm   |
| AU12 | lip corner puller    | lip corners (61, 291) rising towards the nose base, + 0.3 x widening | 2 mm |
| AU15 | lip corner depressor | lip corners falling below the middle of the lips (13, 14)        | 1 mm   |
| AU17 | chin raiser          | lower lip (17) to chin (152) shortening, lips closed only        | 2 mm   |
| AU20 | lip stretcher        | mouth widening (61-291) beyond what the corner raise explains     | 3 mm   |
| AU23 | lip tightener        | red-lip thickness (0-13 + 14-17) thinning                        | 1 mm   |
| AU25 | lips part            | gap between the inner lips (13-14)                               | 3 mm   |
| AU26 | jaw drop             | chin (152) falling away from the nose base (2)                   | 3 mm   |
| AU45 | blink                | eye aspect ratio (160-144, 158-153 over 33-133; left alike) below neutral | 5 x ratio drop |

Neutral values (`NEUTRAL`) are the medians of these features over the 8 of 10 labelled neutral
FER-2013 faces in the project's shared data on which our mesh runs (crops upscaled 4x and padded).
MediaPipe's canonical face was the first choice of reference but differs from what the mesh model
outputs on real neutral faces (eye opening 6.7 vs 9.6 mm, lip gap 5.5 vs 1.5 mm, lower lip to chin
40.4 vs 33.3 mm), so it would have put AU05, AU25 and AU17 on every face.
These are population baselines: a person whose brows sit high reads AU01/02 > 0 at rest. In video,
`facelens.calibrate` can subtract each track's running median (as OpenFace's dynamic models do).
"""

from __future__ import annotations

import numpy as np

from facelens.geometry.pose import RIGID, view_rotation
from facelens.models.blendshapes import blendshape_index

AU_NAMES = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15",
            "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")
# Blendshapes behind each learned AU (averaged); the AUs missing here are geometric.
BLENDSHAPE_AUS: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",),
    "AU02": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04": ("browDownLeft", "browDownRight"),
    "AU05": ("eyeWideLeft", "eyeWideRight"),
    "AU06": ("cheekSquintLeft", "cheekSquintRight"),
    "AU07": ("eyeSquintLeft", "eyeSquintRight"),
    "AU09": ("noseSneerLeft", "noseSneerRight"),
    "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),
    "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),
    "AU17": ("mouthShrugLower",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),
    "AU26": ("jawOpen",),
    "AU45": ("eyeBlinkLeft", "eyeBlinkRight"),
}
GEOMETRIC_NAMES = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU15",
                   "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")

NEUTRAL = {
    "brow_in": 24.7, "brow_out": 17.6, "brow_gap": 30.3, "eye_open": 9.6, "upper_lid": 6.2,
    "cheek": -30.5, "nose_eye": 35.7, "upper_lip": 14.7, "corner": 24.5, "corner_vs_mid": 1.8,
    "width": 50.8, "lip_gap": 1.5, "jaw": 64.6, "lip_thick": 15.5, "lip_chin": 33.3, "ear": 0.31,
}
EYE_DISTANCE_MM = 63.0


def normalised_mesh(mesh: np.ndarray, pose_R: np.ndarray, pose_T: np.ndarray | None = None) -> np.ndarray:
    """(N, P, 3) mesh in pixels -> head frame in mm (x to the subject's left, y down, z into the head)."""
    mesh = np.asarray(mesh, np.float64)
    M = view_rotation(pose_R, pose_T)
    mids = np.stack([mesh[:, [33, 133]].mean(1), mesh[:, [362, 263]].mean(1)], 1)
    px_per_mm = np.linalg.norm(mids[:, 0] - mids[:, 1], axis=1) / EYE_DISTANCE_MM
    centred = mesh - mesh[:, RIGID].mean(1, keepdims=True)
    return np.einsum("nji,npj->npi", M, centred) / px_per_mm[:, None, None]


def features(P: np.ndarray) -> dict[str, np.ndarray]:
    """Named distances (mm, or a ratio for `ear`) of (N, P, 3) pose-normalised meshes, each (N,)."""
    y = lambda i: P[:, i, 1]  # noqa: E731
    x = lambda i: P[:, i, 0]  # noqa: E731
    d = lambda a, b: np.linalg.norm(P[:, a] - P[:, b], axis=-1)  # noqa: E731
    eye_r, eye_l = (y(33) + y(133)) / 2, (y(362) + y(263)) / 2
    ear_r = (d(160, 144) + d(158, 153)) / (2 * d(33, 133))
    ear_l = (d(385, 380) + d(387, 373)) / (2 * d(362, 263))
    return {
        "brow_in": (eye_r - (y(107) + y(66)) / 2 + eye_l - (y(336) + y(296)) / 2) / 2,
        "brow_out": (y(33) - (y(70) + y(63)) / 2 + y(263) - (y(300) + y(293)) / 2) / 2,
        "brow_gap": x(336) - x(107),
        "eye_open": (y(145) - y(159) + y(374) - y(386)) / 2,
        "upper_lid": (eye_r - y(159) + eye_l - y(386)) / 2,
        "cheek": (eye_r - y(50) + eye_l - y(280)) / 2,
        "nose_eye": (y(64) - y(133) + y(294) - y(362)) / 2,
        "upper_lip": y(0) - y(2),
        "corner": (y(61) + y(291)) / 2 - y(2),
        "corner_vs_mid": (y(61) + y(291)) / 2 - (y(13) + y(14)) / 2,
        "width": x(291) - x(61),
        "lip_gap": y(14) - y(13),
        "jaw": y(152) - y(2),
        "lip_thick": y(13) - y(0) + y(17) - y(14),
        "lip_chin": y(152) - y(17),
        "ear": (ear_r + ear_l) / 2,
    }


def geometric_action_units(mesh: np.ndarray, pose_R: np.ndarray, pose_T: np.ndarray | None = None) -> np.ndarray:
    """Mesh-only AU intensity estimates (0-5, columns in `GEOMETRIC_NAMES` order) of N faces.

    Parameters
    ----------
    mesh : (N, 478|468, 3) mesh in image pixels.
    pose_R : (N, 3) head pose from `head_pose`.
    pose_T : (N, 3) head position from `head_pose`; relates the camera-frame pose to the line of
        sight (recommended for faces far from the image centre).

    Returns
    -------
    (N, len(GEOMETRIC_NAMES)) float32; NaN rows where the mesh or pose is not finite.
    """
    f = features(normalised_mesh(mesh, pose_R, pose_T))
    dv = {k: f[k] - NEUTRAL[k] for k in NEUTRAL}  # positive = larger than neutral
    raise_corner = -dv["corner"]
    lips_closed = np.clip((4.0 - f["lip_gap"]) / 2.0, 0.0, 1.0)
    raw = {
        "AU01": dv["brow_in"] / 2.0,
        "AU02": dv["brow_out"] / 2.0,
        "AU04": (-dv["brow_in"] - dv["brow_gap"]) / 1.5,
        "AU05": dv["upper_lid"] / 1.0,
        "AU06": dv["cheek"] / 1.0,
        "AU07": -dv["eye_open"] / 1.0,
        "AU09": -dv["nose_eye"] / 1.0,
        "AU10": -dv["upper_lip"] / 1.0,
        "AU12": (raise_corner + 0.3 * dv["width"]) / 2.0,
        "AU15": dv["corner_vs_mid"] / 1.0,
        "AU17": -dv["lip_chin"] / 2.0 * lips_closed,
        "AU20": (dv["width"] - 3.0 * np.maximum(raise_corner, 0.0)) / 3.0,
        "AU23": -dv["lip_thick"] / 1.0,
        "AU25": dv["lip_gap"] / 3.0,
        "AU26": dv["jaw"] / 3.0,
        "AU45": 5.0 * -dv["ear"] / NEUTRAL["ear"],
    }
    out = np.clip(np.stack([raw[k] for k in GEOMETRIC_NAMES], -1), 0.0, 5.0)  # clip keeps NaN
    return out.astype(np.float32)


def action_units(blendshapes: np.ndarray, mesh: np.ndarray, pose_R: np.ndarray,
                 pose_T: np.ndarray | None = None) -> np.ndarray:
    """AU intensity estimates (0-5, columns in `AU_NAMES` order) of N faces: learned where a
    blendshape covers the AU (`BLENDSHAPE_AUS`), geometric otherwise.

    Parameters
    ----------
    blendshapes : (N, 52) scores in `facelens.models.blendshapes.BLENDSHAPE_NAMES` order.
    mesh, pose_R, pose_T : as for `geometric_action_units`.
    """
    geo = geometric_action_units(mesh, pose_R, pose_T)
    cols = []
    for au in AU_NAMES:
        if au in BLENDSHAPE_AUS:
            idx = [blendshape_index(b) for b in BLENDSHAPE_AUS[au]]
            cols.append(5.0 * np.asarray(blendshapes, np.float32)[:, idx].mean(1))
        else:
            cols.append(geo[:, GEOMETRIC_NAMES.index(au)])
    return np.clip(np.stack(cols, -1), 0.0, 5.0).astype(np.float32)
