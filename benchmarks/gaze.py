"""Gaze noise on real faces, without gaze labels: how far each photo's gaze angles are from the
mirror of its mirror image's.

Usage: python benchmarks/gaze.py [--data ../shared/data]

Mirroring a photo mirrors the true gaze: gaze_angle_x changes sign and gaze_angle_y stays. So for a
face found in a photo and in its mirror image, |x + x_mirror| and |y - y_mirror| are zero for a
perfect estimator, and their sizes bound the estimator's noise from below. The faces: the largest
face of every photo in expression/ and identity/ (no gaze labels exist in the shared data).
Prints the medians and means in degrees and writes benchmarks/results/gaze.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facelens import Analyzer
from facelens.io.readers import read_image

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def angles(analyzer: Analyzer, rgb: np.ndarray) -> np.ndarray | None:
    """Degrees (gaze_angle_x, gaze_angle_y) of the largest face, None without a face."""
    faces = analyzer.faces(rgb)
    return np.degrees(faces.gaze_angle[faces.largest()]) if len(faces) else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    photos = sorted(p for d in ("expression", "identity") for p in (args.data / d).rglob("*")
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    analyzer = Analyzer("gaze")
    dx, dy = [], []
    for path in photos:
        rgb = read_image(path)
        a, b = angles(analyzer, rgb), angles(analyzer, np.ascontiguousarray(rgb[:, ::-1]))
        if a is not None and b is not None:
            dx.append(abs(a[0] + b[0]))
            dy.append(abs(a[1] - b[1]))
    out = {"faces": len(dx), "photos": len(photos),
           "x_mirror_error_deg": {"median": float(np.median(dx)), "mean": float(np.mean(dx))},
           "y_mirror_error_deg": {"median": float(np.median(dy)), "mean": float(np.mean(dy))}}
    print(f"{out['faces']} faces of {len(photos)} photos; gaze angle against its mirror image's (degrees):")
    for key in ("x_mirror_error_deg", "y_mirror_error_deg"):
        print(f"  {key[0]}: median {out[key]['median']:.2f}, mean {out[key]['mean']:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gaze.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
