"""Video throughput: facelens against face_recognition and plain dlib on the same frames.

Usage: python benchmarks/video.py [--video PATH] [--peer-frames 100]
Prints a table and writes benchmarks/results/video.json.

FPS is wall-clock; frames per CPU-second (all threads of the process) is also printed, as it
moves less when other work shares the two cores (the load average is printed and saved).
Every configuration runs in its own child process, so that its peak RSS (ru_maxrss from
os.wait4) is its own. facelens FPS counts the whole per-frame loop, decoding included (in the
reader thread), after the models are loaded; the load time is reported apart. The peers get
their frames decoded in advance (decoding is not counted for them), and run on the first
`--peer-frames` frames only, because they are slow. The floor is the sum of the bare model calls
facelens makes on the same frames (detector every K frames, mesh (and, with mesh v1, irises)
every frame, plus the blendshapes (a Face Mesh V2 pass and the blendshape model), emotion and
age/gender heads and one identity embedding for the
full configuration),
without decoding, cropping bookkeeping, geometry or tracking.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "video"
DEFAULT_VIDEO = DATA / "WolfgangLanger_Pexels.mp4"
FULL = "landmarks,pose,gaze,aus,emotion,identity,age_gender,quality"  # the default features
SWEEP_K = (1, 5, 10, 20, 40)
PRESENCE = {"face_noface.mov": lambda i: i < 72, "noface_face.mov": lambda i: i >= 96}


def frames(video: Path, limit: int | None = None) -> list[Any]:
    from facelens.io import readers

    out = []
    for f in readers.read_video(video):
        out.append(f.rgb)
        if limit is not None and len(out) >= limit:
            break
    return out


def child_facelens(video: Path, features: str, mesh: str = "v2") -> dict[str, Any]:
    from facelens import Analyzer
    from facelens.io import readers
    from facelens.track import MeshTracker, track_video

    t0 = time.perf_counter()
    a = Analyzer(features, mesh=mesh)
    first = frames(video, 1)[0]
    a.faces(first)  # loads the detector, mesh and the requested heads
    if "identity" in a.features:
        a.embedder(first, a.faces(first).boxes)
    load = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    results = list(track_video(a, video))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    tracker = MeshTracker(a)
    for f in readers.read_video(video):  # count detector runs with the same rules, outside the timed loop
        tracker.step(f.rgb, f.index)
    n_det = tracker.detections
    tracks = sorted({int(i) for r in results if r.faces.track_id is not None for i in r.faces.track_id})
    return {"frames": len(results), "seconds": dt, "fps": len(results) / dt, "cpu_s": cpu, "load_s": load,
            "face_rows": sum(len(r.faces) for r in results), "tracks": len(tracks), "detector_runs": n_det}


def child_face_recognition(video: Path, limit: int) -> dict[str, Any]:
    import face_recognition

    imgs = frames(video, limit)
    face_recognition.face_encodings(imgs[0])  # load
    t0, c0 = time.perf_counter(), time.process_time()
    found = 0
    for rgb in imgs:
        locs = face_recognition.face_locations(rgb)
        face_recognition.face_landmarks(rgb, locs)
        face_recognition.face_encodings(rgb, locs)
        found += len(locs)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": len(imgs), "seconds": dt, "fps": len(imgs) / dt, "cpu_s": cpu, "face_rows": found}


def child_dlib(video: Path, limit: int) -> dict[str, Any]:
    import dlib

    from facelens.models.runtime import asset_path

    detector = dlib.get_frontal_face_detector()
    sp68 = dlib.shape_predictor(str(asset_path("dlib_shape_predictor_68")))
    imgs = frames(video, limit)
    t0, c0 = time.perf_counter(), time.process_time()
    found = 0
    for rgb in imgs:
        rects = detector(rgb, 1)
        for r in rects:
            sp68(rgb, r)
        found += len(rects)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": len(imgs), "seconds": dt, "fps": len(imgs) / dt, "cpu_s": cpu, "face_rows": found}


def child_floor(video: Path, features: str, k: int) -> dict[str, Any]:
    """Sum of the model objects' call times on every frame, following the face as facelens does."""
    from facelens import Analyzer
    from facelens.models import facemesh as fm
    from facelens.track import box_from_mesh

    a = Analyzer(features)
    imgs = frames(video)
    a.faces(imgs[0])
    spent = 0.0
    mesh = None

    def timed(fn: Any, *args: Any) -> Any:
        nonlocal spent
        t0 = time.perf_counter()
        out = fn(*args)
        spent += time.perf_counter() - t0
        return out

    for i, rgb in enumerate(imgs):
        if mesh is None or i % k == 0:
            det = timed(a.detector, rgb)
            if mesh is None:
                mesh, _ = a.mesh_model(rgb, fm.roi_from_detection(det.boxes[0], det.keypoints[0]))
        mesh, _ = timed(a.mesh_model, rgb, fm.roi_from_mesh(mesh))
        full = (mesh if a.mesh_kind == "v2" else np.concatenate([mesh, timed(a.iris_model, rgb, mesh)]))[None]
        box = box_from_mesh(full)
        if a.features & {"aus", "blendshapes"}:
            timed(a.blendshapes, rgb, full)
        if "emotion" in a.features:
            timed(a.emotion_model, rgb, box)
        if "age_gender" in a.features:
            timed(a.age_gender_model, rgb, full)
        if "identity" in a.features and i == 0:
            timed(a.embedder, rgb, box)
    return {"frames": len(imgs), "seconds": spent, "fps": len(imgs) / spent}


def child_sweep(video: Path) -> dict[str, Any]:
    """FPS ("landmarks") and detector runs on `video`, and presence accuracy on the cut clips, per K."""
    from facelens import Analyzer
    from facelens.track import TrackerOptions, track_video

    a = Analyzer("landmarks")
    a.faces(frames(video, 1)[0])
    out = {}
    for k in SWEEP_K:
        opt = TrackerOptions(detect_every=k)
        t0 = time.perf_counter()
        n = sum(1 for _ in track_video(a, video, options=opt))
        fps = n / (time.perf_counter() - t0)
        acc = {}
        for name, truth in PRESENCE.items():
            if (DATA / name).exists():
                res = [r for r in track_video(a, DATA / name, options=opt) if not r.error]
                acc[name] = sum((len(r.faces) > 0) == truth(r.frame) for r in res) / len(res)
        out[str(k)] = {"fps": fps, "presence_accuracy": acc}
    return out


def run_child(args: list[str]) -> tuple[dict[str, Any], float]:
    """Run this script as a child; return its JSON result and its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    data = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed with exit code {proc.returncode}")
    return json.loads(data), usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--peer-frames", type=int, default=100)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"facelens": child_facelens, "face_recognition": child_face_recognition, "dlib": child_dlib,
              "floor": child_floor, "sweep": child_sweep}[kind]
        conv = [int(x) if x.isdigit() else x for x in rest]
        print(json.dumps(fn(args.video, *conv)))
        return

    from facelens.track import TrackerOptions

    k = TrackerOptions().detect_every
    load_before = os.getloadavg()[0]
    v = ["--video", str(args.video)]
    runs: dict[str, tuple[dict[str, Any], float]] = {
        "facelens (a) landmarks": run_child(["--child", "facelens", "landmarks", *v]),
        "facelens (b) default features, identity once per track": run_child(["--child", "facelens", FULL, *v]),
        "floor (a): bare model calls": run_child(["--child", "floor", "landmarks", str(k), *v]),
        "floor (b): bare model calls": run_child(["--child", "floor", FULL, str(k), *v]),
        f"face_recognition HOG + 68 + encodings (first {args.peer_frames} frames)":
            run_child(["--child", "face_recognition", str(args.peer_frames), *v]),
        f"dlib HOG + 68 points (first {args.peer_frames} frames)": run_child(["--child", "dlib", str(args.peer_frames), *v]),
    }
    sweep, _ = run_child(["--child", "sweep", *v])
    names = list(runs)
    fps = {n: r[0]["fps"] for n, r in runs.items()}
    fr, dl = fps[names[4]], fps[names[5]]
    load = (load_before, os.getloadavg()[0])
    print(f"{args.video.name}: {runs[names[0]][0]['frames']} frames; {os.cpu_count()} cores; "
          f"{platform.processor() or platform.machine()}; 1-min load average {load[0]:.1f} before, {load[1]:.1f} after")
    print(f"{'configuration':<62} {'frames':>6} {'FPS':>8} {'frames/CPU-s':>12} {'peak RSS MB':>11}")
    for n, (r, rss) in runs.items():
        per_cpu = f"{r['frames'] / r['cpu_s']:.1f}" if "cpu_s" in r else "-"
        print(f"{n:<62} {r['frames']:>6} {r['fps']:>8.1f} {per_cpu:>12} {rss:>11.0f}")
    ratios = {}
    for n in names[:2]:
        ratios[n] = {"vs_face_recognition": fps[n] / fr, "vs_dlib": fps[n] / dl}
    ratios[names[0]]["of_floor"] = fps[names[0]] / fps[names[2]]
    ratios[names[1]]["of_floor"] = fps[names[1]] / fps[names[3]]
    for n, r in ratios.items():
        print(f"{n}: {r['vs_face_recognition']:.1f}x face_recognition, {r['vs_dlib']:.1f}x dlib, "
              f"{100 * r['of_floor']:.0f}% of the floor's FPS")
    print(f"K sweep (detection every K frames; FPS for landmarks on {args.video.name}, presence accuracy):")
    for kk, s in sweep.items():
        acc = ", ".join(f"{n} {100 * x:.1f}%" for n, x in s["presence_accuracy"].items())
        print(f"  K={kk:>3}: {s['fps']:6.1f} FPS; {acc}")
    out = {
        "video": args.video.name, "cores": os.cpu_count(), "machine": platform.platform(),
        "processor": platform.processor(), "load_average_before_after": load, "detect_every": k,
        "runs": {n: {**r, "peak_rss_mb": rss} for n, (r, rss) in runs.items()},
        "ratios": ratios, "k_sweep": sweep,
    }
    path = ROOT / "benchmarks" / "results" / "video.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
