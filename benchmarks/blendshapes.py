"""Blendshape agreement with MediaPipe's FaceLandmarker on the shared photos, per mesh variant.

Usage: python benchmarks/blendshapes.py [--reference JSON] [--venv /tmp/venv-mp]

The reference is MediaPipe's own FaceLandmarker (tools/mediapipe_reference.py), run in the
throwaway virtual environment `--venv` when it exists; otherwise a reference JSON written earlier
(`--reference`, default the one the unit test keeps, scores only for the expression photos).
Faces are paired with MediaPipe's by box centre. For each variant of facelens' mesh it prints, over
the paired faces: Pearson r on each of the 12 scores that vary most in MediaPipe's output (min and
mean), the mean absolute difference over all 52 scores, and ms per face for mesh + blendshapes.
Variants: facelens as the analyzer runs on photos (default: the v1 mesh places a Face Mesh V2 pass
on MediaPipe's image ROI; --mesh v2: V2 is the main mesh), the v1 mesh's own points, and two
other ROIs for Face Mesh V2 (what the image ROI was chosen against).
For faces with landmarks in the reference, MediaPipe's own 478 points are fed through facelens'
blendshape model too (it must reproduce the scores: a check of the feeding).
With --fps it also times whole video runs on WolfgangLanger_Pexels.mp4 (benchmarks/video.py's
facelens child, one process each, in the same run): the default features, the default features +
blendshapes, the same with --mesh v2, and the default features without AUs (no Face Mesh V2 pass:
what the default cost before AUs came from blendshapes); wall-clock FPS and frames per CPU-second of the process
(which moves less when other work shares the cores).
Writes benchmarks/results/blendshapes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from facelens.models.blendshapes import BLENDSHAPE_NAMES, Blendshapes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_blendshapes import agreement, pair  # noqa: E402  (one definition of the metric)

VIDEO = ROOT.parent / "shared" / "data" / "video" / "WolfgangLanger_Pexels.mp4"
DEFAULT = "landmarks,pose,gaze,aus,emotion,identity,age_gender,quality"
FPS_RUNS = {"default features": (DEFAULT, "v1"), "default + blendshapes": (DEFAULT + ",blendshapes", "v1"),
            "default + blendshapes, --mesh v2": (DEFAULT + ",blendshapes", "v2"),
            "landmarks,pose,gaze,emotion,identity,age_gender,quality (no AUs: no Face Mesh V2 pass)":
                ("landmarks,pose,gaze,emotion,identity,age_gender,quality", "v1")}
DATA = ROOT.parent / "shared" / "data"
STORED = ROOT / "tests" / "data" / "mediapipe_blendshapes.json"


def reference(args: argparse.Namespace) -> dict:
    """MediaPipe's output: a fresh run in the venv when there is one, else the stored JSON."""
    python = args.venv / "bin" / "python"
    if args.reference is None and python.exists():
        out = Path("/tmp/facelens-mp-reference/reference.json")
        subprocess.run([str(python), str(ROOT / "tools" / "mediapipe_reference.py"), "--out", str(out)], check=True)
        return json.loads(out.read_text())
    return json.loads((args.reference or STORED).read_text())


def video_fps(video: Path) -> dict[str, dict]:
    """FPS of whole tracked video runs, each in its own process (benchmarks/video.py's child)."""
    out = {}
    for name, (features, mesh) in FPS_RUNS.items():
        cmd = [sys.executable, str(ROOT / "benchmarks" / "video.py"), "--child", "facelens", features, mesh,
               "--video", str(video)]
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        out[name] = {"fps": res["fps"], "frames_per_cpu_s": res["frames"] / res["cpu_s"], "frames": res["frames"],
                     "load_average": os.getloadavg()[0]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", type=Path, default=None, help="stored reference JSON (skips running MediaPipe)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--fps", action="store_true", help="also time video runs with and without blendshapes")
    ap.add_argument("--venv", type=Path, default=Path("/tmp/venv-mp"), help="throwaway venv with mediapipe")
    args = ap.parse_args()
    ref = reference(args)
    from facelens import Analyzer
    from facelens.models import facemesh as fm

    v1, v2 = Analyzer("blendshapes", mesh="v1"), Analyzer("blendshapes", mesh="v2")
    analyzer, shapes, net = v1, Blendshapes(), fm.FaceMeshV2()
    variants = {  # (rgb, detection ROI) -> (52,) scores
        "facelens default (v1 mesh, V2 pass)": lambda rgb, roi: v1.blendshapes(rgb, v1.mesh_from_rois(rgb, [roi], True, irises=False)[0])[0],
        "facelens --mesh v2": lambda rgb, roi: v2.blendshapes(rgb, v2.mesh_from_rois(rgb, [roi], True)[0])[0],
        "v1 468 + iris points": lambda rgb, roi: shapes(v1.mesh_from_rois(rgb, [roi], refine=True)[0])[0],
        "V2, 1 pass on detection ROI": lambda rgb, roi: shapes(net(rgb, roi)[0][None])[0],
        "V2, 2nd pass on 1.5x mesh ROI": lambda rgb, roi: shapes(net(rgb, fm.roi_from_mesh(net(rgb, roi)[0]))[0][None])[0],
    }
    scores: dict[str, list[np.ndarray]] = {k: [] for k in variants}
    times: dict[str, list[float]] = {k: [] for k in variants}
    mp_scores, mp_own = [], []
    for rel, img in ref["images"].items():
        path = args.data / rel
        if not path.exists() or not img["faces"]:
            continue
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        det = analyzer.detect_faces(rgb)
        for i, j in pair(det.boxes, img["faces"]):
            face = img["faces"][j]
            roi = fm.roi_from_detection(det.boxes[i], det.keypoints[i])
            for name, run in variants.items():
                t0 = time.perf_counter()
                s = run(rgb, roi)
                times[name].append(time.perf_counter() - t0)
                scores[name].append(s)
            mp_scores.append([face["blendshapes"][n] for n in BLENDSHAPE_NAMES])
            if "landmarks" in face:
                pts = np.array(face["landmarks"], np.float32) * [img["width"], img["height"], img["width"]]
                mp_own.append(np.abs(shapes(pts[None])[0] - mp_scores[-1]).max())
    mp = np.array(mp_scores)
    rows = {name: {**agreement(np.array(s), mp), "ms_per_face": 1000 * float(np.median(times[name]))}
            for name, s in scores.items()}
    load = os.getloadavg()[0]
    print(f"{len(mp)} faces paired with MediaPipe's ({ref['runner']}); load average {load:.1f}")
    print(f"{'variant':38s} {'min r':>6s} {'mean r':>7s} {'MAE':>6s} {'ms/face':>8s}")
    for name, row in rows.items():
        ms = f"{row['ms_per_face']:8.1f}" if "ms_per_face" in row else f"{'-':>8s}"
        print(f"{name:38s} {row['min_r_top12']:6.3f} {row['mean_r_top12']:7.3f} {row['mae_52']:6.3f} {ms}")
    if mp_own:
        print(f"MediaPipe's own landmarks through facelens' blendshape model, {len(mp_own)} face(s): "
              f"max |difference| {max(mp_own):.2e}")
    print("target: min r >= 0.85, mean r >= 0.93 (12 most varying scores), MAE <= 0.05 (52 scores)")
    out = ROOT / "benchmarks" / "results" / "blendshapes.json"
    fps = video_fps(VIDEO) if args.fps else None
    for name, r in (fps or {}).items():
        print(f"{VIDEO.name}, {name}: {r['fps']:.1f} FPS, {r['frames_per_cpu_s']:.1f} frames per CPU-second "
              f"({r['frames']} frames, load average {r['load_average']:.1f})")
    doc = {"load_average": load, "reference": ref["runner"], "variants": rows, "video_fps": fps,
           "mediapipe_landmarks_max_diff": float(max(mp_own)) if mp_own else None}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
