"""AU and emotion read-outs on people walking with neutral faces, before and after calibration.

Usage: python benchmarks/calibration.py [--video ../shared/data/video/walking_people.mp4]

Runs the video through facelens with the AU, blendshape and emotion features in four ways: the
mesh-only geometric AUs facelens had before the blendshapes (`geometric_action_units` on the
mesh), the learned AUs as they come, with per-track calibration, and with calibration plus
smoothing (0.2 s). For each it prints, over all face rows of confirmed tracks, the mean and 90th
percentile of AU04 and AU07, the share of rows whose AU04 or AU07 is at least 2, and the share of
rows per top emotion. Writes benchmarks/results/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from facelens import Analyzer
from facelens.faces import EMOTIONS
from facelens.geometry.au import AU_NAMES, GEOMETRIC_NAMES, geometric_action_units

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "data" / "video" / "walking_people.mp4"
FEATURES = "pose,aus,blendshapes,emotion"


def summary(aus: np.ndarray, names: tuple[str, ...], emotion: np.ndarray, tracks: np.ndarray) -> dict[str, object]:
    lengths = np.unique(tracks, return_counts=True)[1]
    out: dict[str, object] = {"rows": len(aus), "tracks": len(lengths), "track_rows_median": float(np.median(lengths)),
                              "track_rows_max": int(lengths.max())}
    for au in ("AU04", "AU07"):
        v = aus[:, names.index(au)]
        out[au] = {"mean": float(np.nanmean(v)), "p90": float(np.nanpercentile(v, 90)), "share_ge_2": float(np.mean(v >= 2))}
    top = Counter(EMOTIONS[i] for i in emotion.argmax(1))
    out["emotion_share"] = {e: round(top[e] / max(len(emotion), 1), 3) for e in EMOTIONS}
    return out


def run(video: Path, geometric: bool = False, **options: object) -> dict[str, object]:
    features = FEATURES + (",mesh" if geometric else "")
    analyzer = Analyzer(features, **options)
    aus, emotion, tracks = [], [], []
    for r in analyzer.iter(video):
        f = r.faces
        if len(f) == 0:
            continue
        aus.append(geometric_action_units(f.mesh, f.pose_R, f.pose_T) if geometric else f.aus)
        emotion.append(f.emotion)
        tracks.append(f.track_id)
    return summary(np.concatenate(aus), GEOMETRIC_NAMES if geometric else AU_NAMES, np.concatenate(emotion),
                   np.concatenate(tracks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, default=VIDEO)
    video = ap.parse_args().video
    rows = {
        "geometric AUs (before)": run(video, geometric=True),
        "learned AUs": run(video),
        "learned AUs, calibrated": run(video, calibrate=True),
        "learned AUs, calibrated + smoothed 0.2 s": run(video, calibrate=True, smooth=0.2),
    }
    load = os.getloadavg()[0]
    print(f"{video.name}; load average {load:.1f}")
    print(f"{'run':42s} {'rows':>5s} {'tracks (median, max rows)':>26s} {'AU04 mean/p90/>=2':>20s} {'AU07 mean/p90/>=2':>20s}  top emotion shares")
    for name, s in rows.items():
        au = "  ".join(f"{s[a]['mean']:5.2f} {s[a]['p90']:5.2f} {s[a]['share_ge_2']:5.2f}" for a in ("AU04", "AU07"))
        emo = ", ".join(f"{e} {v:.2f}" for e, v in sorted(s["emotion_share"].items(), key=lambda kv: -kv[1])[:3])
        tr = f"{s['tracks']} ({s['track_rows_median']:.0f}, {s['track_rows_max']})"
        print(f"{name:42s} {s['rows']:5d} {tr:>26s} {au}  {emo}")
    out = ROOT / "benchmarks" / "results" / "calibration.json"
    out.write_text(json.dumps({"video": video.name, "load_average": load, "runs": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
