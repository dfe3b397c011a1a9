"""Per-stage and total milliseconds per image on this CPU (single face, 640 px wide).

Usage: python benchmarks/speed.py [--image PATH] [--repeat 30] [--threads 1]
Prints a table and writes benchmarks/results/speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np

import facelens
from facelens import Analyzer, geometry
from facelens.models import facemesh as fm

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = ROOT / "src" / "facelens" / "samples" / "astronaut.jpg"


def timed(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    bgr = cv2.imread(str(args.image))
    scale = 640 / bgr.shape[1]
    rgb = cv2.cvtColor(cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)

    a = Analyzer("all")
    faces = a.faces(rgb)
    assert len(faces) == 1, f"expected one face in {args.image}, found {len(faces)}"
    det = a.detector(rgb)
    roi = fm.roi_from_detection(det.boxes[0], det.keypoints[0])
    v2 = Analyzer("landmarks", mesh="v2")
    m468, _ = a.mesh_model(rgb, roi)
    mesh = faces.mesh
    R, T = geometry.head_pose(mesh, rgb.shape[1::-1])
    shapes = faces.blendshapes
    r = args.repeat
    stages = {
        "detect (standard: BlazeFace + FaceBoxes, two searches)": timed(lambda: a.detector(rgb), r),
        "detect, standard's first FaceBoxes search only (as in video)": timed(lambda: a.detector(rgb, small_faces=False), r),
        "detect, BlazeFace alone (--detector full)": timed(lambda: a.detector(rgb, faceboxes=False), r),
        "mesh, 2 passes": timed(lambda: a.mesh_from_rois(rgb, [roi], refine=True, irises=False), r),
        "Face Mesh V2 pass (irises, blendshape points)": timed(lambda: a.complete(rgb, m468[None]), r),
        "blendshape model": timed(lambda: a.blendshape_model(mesh), r),
        "--mesh v2: Face Mesh V2, 2 passes (478 points)": timed(lambda: v2.mesh_from_rois(rgb, [roi], refine=True), r),
        "68/5 points": timed(lambda: (geometry.landmarks68(mesh), geometry.landmarks5(mesh)), r),
        "head pose": timed(lambda: geometry.head_pose(mesh, rgb.shape[1::-1]), r),
        "gaze": timed(lambda: geometry.gaze(mesh, R, T), r),
        "action units (from blendshapes + geometry)": timed(lambda: geometry.action_units(shapes, mesh, R, T), r),
        "quality": timed(lambda: geometry.quality(rgb, faces.boxes, mesh, R, faces.scores, T), r),
        "aligned crop": timed(lambda: geometry.align(rgb, faces.landmarks5), r),
        "emotion": timed(lambda: a.emotion_model(rgb, faces.boxes), r),
        "age + gender": timed(lambda: a.age_gender_model(rgb, mesh), r),
        "identity (dlib 128-D)": timed(lambda: a.embedder(rgb, faces.boxes), max(5, r // 3)),
    }
    no_id = Analyzer([f for f in facelens.features.FEATURES if f != "identity"])
    no_id_full = Analyzer([f for f in facelens.features.FEATURES if f != "identity"], detector="full")
    totals = {
        "all features except identity": timed(lambda: no_id.faces(rgb), r),
        "all features": timed(lambda: a.faces(rgb), max(5, r // 3)),
        "all features except identity, --detector full": timed(lambda: no_id_full.faces(rgb), r),
    }
    width = max(map(len, list(stages) + list(totals)))
    print(f"{args.image.name} at {rgb.shape[1]}x{rgb.shape[0]}, 1 face, {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.1f}")
    for name, ms in stages.items():
        print(f"  {name:<{width}} {ms:7.2f} ms")
    for name, ms in totals.items():
        print(f"  {'TOTAL ' + name:<{width + 6}} {ms:7.2f} ms")
    out = ROOT / "benchmarks" / "results" / "speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"image": args.image.name, "size": list(rgb.shape[1::-1]), "cores": os.cpu_count(),
                               "load_average": os.getloadavg()[0],
                               "stages_ms": stages, "totals_ms": totals, "facelens": facelens.__version__}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
