"""CPU and wall ms a photo of the default-feature analysis of the shared photos, for one detector mode.

Usage: python benchmarks/photo_cost.py [--mode standard] [--data ../shared/data]

Prints one JSON line. `benchmarks/detection.py` times each of its modes with `photo_cost`, and with
`--compare SRC` runs this script under another checkout's `src` (PYTHONPATH), so that an older
facelens, whose `Analyzer` may predate detector modes, is timed on the same photos in the same
run (`--mode default`: that tree's own defaults). Only cv2 and `facelens.Analyzer` are used, as
every tree has them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from facelens import Analyzer

PHOTO_DIRS = ("detection", "wild", "expression", "identity", "landmarks", "misc")


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def shared_photos(data: Path) -> list[Path]:
    """The photos of `PHOTO_DIRS` (drawn peer results left out)."""
    return sorted(p for d in PHOTO_DIRS for p in (data / d).iterdir()
                  if p.suffix.lower() in (".jpg", ".png", ".ppm") and "_boxes" not in p.name)


def photo_cost(mode: str, photos: list[Path]) -> dict:
    """CPU and wall ms per photo of the default-feature analysis, and faces found (`mode`
    "default": the Analyzer's own default detector)."""
    analyzer = Analyzer() if mode == "default" else Analyzer(detector=mode)
    images = [rgb(p) for p in photos]
    analyzer.faces(images[0])  # load the models
    faces = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for image in images:
        faces += len(analyzer.faces(image))
    return {"cpu_ms_per_photo": 1000 * (time.process_time() - cpu) / len(images),
            "wall_ms_per_photo": 1000 * (time.perf_counter() - wall) / len(images), "faces": faces}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--mode", default="default")
    args = ap.parse_args()
    print(json.dumps(photo_cost(args.mode, shared_photos(args.data))))


if __name__ == "__main__":
    main()
