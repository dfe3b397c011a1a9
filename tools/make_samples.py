"""Rebuild the bundled demo samples in src/facelens/samples/ from a pinned registry package.

- astronaut.jpg: NASA portrait of Eileen Collins (public domain), as shipped in scikit-image 0.26.0
  (skimage/data/astronaut.png), re-encoded as JPEG.
- astronaut_pan.mp4: a 3-second 640x360 clip made from that photo by a slow pan and zoom, so the
  demo has a video with one moving face.

Usage: python tools/make_samples.py [--work /tmp/facelens-samples]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "facelens" / "samples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/facelens-samples")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "scikit-image==0.26.0", "-d", str(work)], check=True)
    wheel = next(work.glob("scikit_image-0.26.0-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        data = np.frombuffer(z.read("skimage/data/astronaut.png"), np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    OUT.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT / "astronaut.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])

    h, w = bgr.shape[:2]
    fps, frames, size = 24, 72, (640, 360)
    writer = cv2.VideoWriter(str(OUT / "astronaut_pan.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    canvas = np.full((h, int(h * 16 / 9), 3), 40, np.uint8)
    x0 = (canvas.shape[1] - w) // 2
    canvas[:, x0 : x0 + w] = bgr
    for i in range(frames):
        t = i / (frames - 1)
        zoom = 1.0 + 0.25 * t
        shift = 60 * np.sin(2 * np.pi * t)
        m = np.array([[zoom, 0, -(zoom - 1) * canvas.shape[1] / 2 + shift],
                      [0, zoom, -(zoom - 1) * h / 2]], np.float32)
        frame = cv2.warpAffine(canvas, m, (canvas.shape[1], h))
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    writer.release()
    print(f"wrote {OUT / 'astronaut.jpg'} and {OUT / 'astronaut_pan.mp4'}")


if __name__ == "__main__":
    main()
