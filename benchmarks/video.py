"""Video throughput on real multi-person footage: facelens against face_recognition in the same run.

Usage: python benchmarks/video.py [--peer-frames 20] [--compare SRC ...] [--repeat N] [--sweep] [--videos NAME ...]
Prints a table and writes benchmarks/results/video.json and benchmarks/results/walking_people_tracks.png.

Videos: WolfgangLanger_Pexels (one face, 640x360), walking_people (1920x1080, a street of people
at many sizes) from ../shared/data/video, and three clips made from them in a scratch folder
(benchmarks/clips.py): two faces side by side, the same with the halves swapping places, and
hard cuts between five shots.

Configurations: the default features; the default features plus `blendshapes` (the expression
issue's target on WolfgangLanger); landmarks alone. Every configuration runs in its own child
process, so that its peak RSS (ru_maxrss from
os.wait4) is its own. facelens FPS is net of start-up: the whole per-frame loop, decoding
included (in the reader thread), after the models are loaded (load time reported apart). Frames
per CPU-second count all threads of the process; they move less than FPS when other work shares
the cores (the load average is printed and saved). Per-stage milliseconds per frame are the
summed call times of each model (detector, mesh, irises, emotion, age/gender, identity) and of
the per-frame features (`describe`, in the two worker threads, summed over both and timed while
they share the cores: it overlaps the others, so the stages do not add up to the wall time);
decoding is timed apart, in a pass of its own.
face_recognition (HOG detection + 68 points + encodings, the peer) gets the first
`--peer-frames` frames of each video decoded in advance, in the same run; its ratio is
facelens FPS / face_recognition FPS. It runs in a throwaway venv made on first use
(/tmp/facelens-bench-peers, `pip install --no-deps face_recognition==1.3.0` over this
interpreter's packages) when this interpreter lacks it.
`--compare SRC ...` also runs the facelens children with each SRC/src first on the path (other
checkouts, e.g. the last release) in the same run, for same-conditions before/after ratios; a
configuration whose features a checkout does not have (facelens 0.1 has no `blendshapes`) is
left out for it.
`--repeat N` runs every facelens configuration N times, in interleaved rounds, and reports the
run with the median FPS (the range beside it, all samples in the JSON): on a 2-core machine a
single run of the same tree moves by about ±7%.
`--sweep` adds the detection-interval (K) sweep on WolfgangLanger_Pexels.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from checkouts import checkout, child_env  # beside this script

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "video"
RESULTS = ROOT / "benchmarks" / "results"
FULL = "landmarks,pose,gaze,aus,emotion,identity,age_gender,quality"  # the default features
CONFIGS = {"default": FULL, "default+blendshapes": FULL + ",blendshapes", "landmarks": "landmarks"}
SHARED = ("WolfgangLanger_Pexels.mp4", "walking_people.mp4")
MADE = ("side_by_side", "swap", "cuts")
SWEEP_K = (1, 5, 10, 20, 40)
PRESENCE = {"face_noface.mov": lambda i: i < 72, "noface_face.mov": lambda i: i >= 96}
PEER_VENV = Path(tempfile.gettempdir()) / "facelens-bench-peers"
STAGES = {"detector": "detect", "mesh_model": "mesh", "mesh_v2_model": "mesh v2 (irises, blendshapes)", "emotion_model": "emotion",
          "age_gender_model": "age_gender", "embedder": "identity"}


def warm_up(analyzer: Any, video: Path) -> None:
    """Loads the models the video path uses by tracking the video's first second. (`faces()` on a
    frame would also run the photo path's finer FaceBoxes search, whose ~7 MP input leaves
    onnxruntime ~200 MB of memory that video frames never need, in the peak RSS.)"""
    from facelens.track import video_frames

    for _ in video_frames(analyzer, video, end=1.0):
        pass


def frames(video: Path, limit: int | None = None) -> list[Any]:
    from facelens.io import readers

    out = []
    for f in readers.read_video(video):
        out.append(f.rgb)
        if limit is not None and len(out) >= limit:
            break
    return out


class _timed:
    """A model whose calls add their time to `spent[key]`; its other attributes (e.g. an
    embedder's `threshold`) are the model's."""

    def __init__(self, fn: Any, key: str, spent: dict[str, float]) -> None:
        self.fn, self.key, self.spent = fn, key, spent

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.spent[self.key] += time.perf_counter() - t0

    def __get__(self, obj: Any, owner: Any = None) -> Any:  # as a method, bind like the function it wraps
        return self if obj is None else functools.partial(self.__call__, obj)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fn, name)


def child_facelens(video: str, features: str) -> dict[str, Any]:
    """Track `video` with `features`; FPS net of loading, CPU time, per-stage ms, tracks."""
    from facelens import Analyzer
    from facelens.errors import FeatureError
    from facelens.io import readers
    from facelens.track import MeshTracker, video_frames

    path = Path(video)
    t0 = time.perf_counter()
    try:
        a = Analyzer(features)
    except FeatureError as exc:  # an older --compare checkout without one of the features
        return {"unsupported": str(exc)}
    warm_up(a, path)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_decoded = sum(1 for _ in readers.read_video(path))
    decode = time.perf_counter() - t0
    spent: dict[str, float] = defaultdict(float)
    for attr, key in STAGES.items():
        if attr in a.__dict__:
            a.__dict__[attr] = _timed(a.__dict__[attr], key, spent)
    describe = getattr(MeshTracker, "describe", None)  # absent in a --compare checkout before it
    if describe is not None:
        MeshTracker.describe = _timed(describe, "describe (worker thread)", spent)  # type: ignore[method-assign]
    trackers: list[MeshTracker] = []
    init = MeshTracker.__init__

    def keep(self: MeshTracker, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        trackers.append(self)

    MeshTracker.__init__ = keep  # type: ignore[method-assign]
    t0, c0 = time.perf_counter(), time.process_time()
    results = [r for r, _ in video_frames(a, path)]
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    MeshTracker.__init__ = init  # type: ignore[method-assign]
    if describe is not None:
        MeshTracker.describe = describe  # type: ignore[method-assign]
    n = len(results)
    tracks: dict[int, list[int]] = defaultdict(list)
    for r in results:
        for tid in (r.faces.track_id.tolist() if r.faces.track_id is not None else []):
            tracks[tid].append(r.frame)
    tracker = trackers[0]
    boxes = [{"frame": r.frame, "track_id": [int(i) for i in r.faces.track_id],
              "boxes": r.faces.boxes.round(1).tolist()} for r in results if r.faces.track_id is not None]
    return {"frames": n, "seconds": dt, "fps": n / dt, "cpu_s": cpu, "frames_per_cpu_s": n / cpu, "load_s": load,
            "decode_ms_per_frame": 1000 * decode / max(n_decoded, 1),
            "stage_ms_per_frame": {k: 1000 * v / n for k, v in sorted(spent.items())},
            "face_rows": sum(len(r.faces) for r in results), "tracks": len(tracks),
            "track_frames": {str(k): [min(v), max(v), len(v)] for k, v in sorted(tracks.items())},
            "detector_runs": tracker.detections, "faceboxes_runs": getattr(tracker, "faceboxes_runs", None),
            "cuts": getattr(tracker, "cuts", None), "rows": boxes}


def child_face_recognition(video: str, limit: int) -> dict[str, Any]:
    import face_recognition

    imgs = frames(Path(video), limit)
    face_recognition.face_encodings(imgs[0])  # load
    t0, c0 = time.perf_counter(), time.process_time()
    found = 0
    for rgb in imgs:
        locs = face_recognition.face_locations(rgb)
        face_recognition.face_landmarks(rgb, locs)
        face_recognition.face_encodings(rgb, locs)
        found += len(locs)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": len(imgs), "seconds": dt, "fps": len(imgs) / dt, "cpu_s": cpu,
            "frames_per_cpu_s": len(imgs) / cpu, "face_rows": found}


def child_clips(folder: str) -> dict[str, str]:
    import clips

    return {k: str(v) for k, v in clips.make_all(Path(folder)).items()}


def child_sweep(video: str) -> dict[str, Any]:
    """FPS ("landmarks") on `video`, and presence accuracy on the cut clips, per detection interval K."""
    from facelens import Analyzer
    from facelens.track import TrackerOptions, track_video

    a = Analyzer("landmarks")
    warm_up(a, Path(video))
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


def peer_python() -> str:
    """An interpreter that imports face_recognition: this one, or the throwaway peer venv."""
    probe = [sys.executable, "-c", "import face_recognition"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return sys.executable
    py = PEER_VENV / "bin" / "python"
    if not py.exists():
        print(f"making {PEER_VENV} for face_recognition (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(PEER_VENV)], check=True)
    if subprocess.run([str(py), "-c", "import face_recognition"], capture_output=True).returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "face_recognition==1.3.0"], check=True)
    return str(py)


def run_child(args: list[str], python: str = sys.executable, src: Path | None = None) -> tuple[dict[str, Any], float]:
    """Run this script as a child; return its JSON result and its peak RSS in MB."""
    proc = subprocess.Popen([python, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=child_env(src))
    assert proc.stdout is not None
    data = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed with exit code {proc.returncode}")
    return json.loads(data), usage.ru_maxrss / 1024


def plot_tracks(video: Path, run: dict[str, Any], out: Path) -> None:
    """Track timeline (one bar per track) beside four frames with their boxes and track ids."""
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {r["frame"]: r for r in run["rows"]}
    imgs = frames(video)
    picks = [int(i) for i in (0, len(imgs) // 3, 2 * len(imgs) // 3, len(imgs) - 1)]
    fig = plt.figure(figsize=(16, 9))
    grid = fig.add_gridspec(2, 3, width_ratios=[1, 1.3, 1.3])
    ax = fig.add_subplot(grid[:, 0])
    colours = plt.get_cmap("tab20")
    for tid, (first, last, n) in run["track_frames"].items():
        frames_of = [f for f, r in rows.items() if int(tid) in r["track_id"]]
        ax.scatter(frames_of, [int(tid)] * len(frames_of), s=6, color=colours(int(tid) % 20))
        ax.text(last + 1, int(tid), f"{n}", va="center", fontsize=7)
    ax.set_xlabel("frame")
    ax.set_ylabel("track id")
    ax.set_title(f"{video.name}: {run['tracks']} tracks (label: frames with a row)")
    for k, i in enumerate(picks):
        img = imgs[i].copy()
        r = rows.get(i, {"track_id": [], "boxes": []})
        for tid, b in zip(r["track_id"], r["boxes"]):
            c = tuple(int(255 * v) for v in colours(tid % 20)[:3])
            cv2.rectangle(img, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), c, 4)
            cv2.putText(img, str(tid), (int(b[0]), int(b[1]) - 8), cv2.FONT_HERSHEY_SIMPLEX, 1.6, c, 4)
        a = fig.add_subplot(grid[k // 2, 1 + k % 2])
        a.imshow(img)
        a.set_title(f"frame {i}")
        a.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median FPS (the lower middle one of an even count), with every run's FPS."""
    ranked = sorted(runs, key=lambda r: r["fps"])
    return {**ranked[(len(ranked) - 1) // 2], "fps_samples": [r["fps"] for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", nargs="+", default=[*SHARED, *MADE], help="names from: %(default)s")
    ap.add_argument("--peer-frames", type=int, default=20)
    ap.add_argument("--compare", type=checkout, nargs="+", default=[], metavar="SRC",
                    help="other facelens checkouts (SRC/src) to run in the same run")
    ap.add_argument("--sweep", action="store_true", help="add the detection-interval sweep")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of the facelens runs, interleaved; each row is the median-FPS run")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"facelens": child_facelens, "face_recognition": child_face_recognition, "sweep": child_sweep,
              "clips": child_clips}[kind]
        print(json.dumps(fn(*[int(x) if x.isdigit() else x for x in rest])))
        return

    t_start = time.perf_counter()
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="facelens-clips-"))
    # made in a child: a child's peak RSS starts from its parent's at fork, so the parent stays small
    made = ({k: Path(v) for k, v in run_child(["--child", "clips", str(scratch)])[0].items()}
            if set(args.videos) & set(MADE) else {})
    paths = {n: DATA / n for n in SHARED} | made
    peer = peer_python()
    checkouts: dict[str, Path | None] = {"facelens": None}
    for src in args.compare:
        checkouts[f"compare ({src.name})"] = src
    out: dict[str, Any] = {"videos": {}}
    for name in args.videos:
        video = paths[name]
        samples: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.repeat):  # rounds interleave the configurations, so drift hits them alike
            for label, src in checkouts.items():
                for conf, feats in CONFIGS.items():
                    r, rss = run_child(["--child", "facelens", str(video), feats], src=src)
                    if "unsupported" not in r:
                        samples.setdefault(f"{label} {conf}", []).append({**r, "peak_rss_mb": rss})
        runs = {key: median_run(rs) for key, rs in samples.items()}
        r, rss = run_child(["--child", "face_recognition", str(video), str(args.peer_frames)], python=peer)
        runs["face_recognition"] = {**r, "peak_rss_mb": rss}
        out["videos"][name] = runs
        print(f"\n{name}: {runs['facelens default']['frames']} frames; 1-min load {os.getloadavg()[0]:.1f}")
        print(f"  {'configuration':<34} {'FPS':>7} {'frames/CPU-s':>12} {'x face_rec':>10} {'RSS MB':>7} "
              f"{'tracks':>6} {'det runs':>8} {'FaceBoxes':>9} {'load s':>6}")
        fr = runs["face_recognition"]["fps"]
        for label, r in runs.items():
            ratio = r["fps"] / fr
            r["vs_face_recognition"] = ratio
            extra = (f"{r['tracks']:>6} {r['detector_runs']:>8} {str(r.get('faceboxes_runs', '-')):>9} "
                     f"{r['load_s']:>6.1f}" if "tracks" in r else f"{'-':>6} {'-':>8} {'-':>9} {'-':>6}")
            spread = (f"  (FPS {min(r['fps_samples']):.1f}-{max(r['fps_samples']):.1f})"
                      if len(r.get("fps_samples", [])) > 1 else "")
            print(f"  {label:<34} {r['fps']:>7.1f} {r['frames_per_cpu_s']:>12.1f} {ratio:>10.1f} "
                  f"{r['peak_rss_mb']:>7.0f} {extra}{spread}")
        stages = runs["facelens default"]["stage_ms_per_frame"]
        print("  default features, ms per frame: decode " f"{runs['facelens default']['decode_ms_per_frame']:.1f}; "
              + "; ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    if args.sweep:
        out["k_sweep"], _ = run_child(["--child", "sweep", str(DATA / SHARED[0])])
        print("K sweep (detection every K frames; FPS for landmarks, presence accuracy):")
        for kk, s in out["k_sweep"].items():
            acc = ", ".join(f"{n} {100 * x:.1f}%" for n, x in s["presence_accuracy"].items())
            print(f"  K={kk:>3}: {s['fps']:6.1f} FPS; {acc}")
    if "walking_people.mp4" in out["videos"]:
        png = RESULTS / "walking_people_tracks.png"
        plot_tracks(paths["walking_people.mp4"], out["videos"]["walking_people.mp4"]["facelens default"], png)
        print(f"wrote {png}")
    shutil.rmtree(scratch)
    for runs in out["videos"].values():
        for r in runs.values():
            r.pop("rows", None)
    out.update({"cores": os.cpu_count(), "machine": platform.platform(), "processor": platform.processor(),
                "load_average_before": load_before, "load_average_after": os.getloadavg(),
                "peer_frames": args.peer_frames, "wall_s": time.perf_counter() - t_start})
    (RESULTS / "video.json").write_text(json.dumps(out, indent=1))
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}; "
          f"{out['wall_s']:.0f} s; wrote {RESULTS / 'video.json'}")


if __name__ == "__main__":
    main()
