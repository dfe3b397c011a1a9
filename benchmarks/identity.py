"""Verification accuracy on ../shared/data/identity, facelens vs the face_recognition package.

Usage: python benchmarks/identity.py [--data ../shared/data]
Images: 8 people x 5 face crops (face-api.js examples, MIT) + obama.jpg, obama2.jpg, obama3.jpg
(one person) and biden.jpg (face_recognition test images, MIT): 44 faces, 946 pairs. Each image
contributes its largest face; a crop where detection finds none is embedded whole (counted).
face_recognition gets the same face boxes (`face_encodings(image, known_face_locations=...)`), so
the comparison isolates the embedding step. Accuracy over all pairs at the 0.6 threshold, the best
threshold for each method, ROC AUC, and the obama/biden checks; writes
benchmarks/results/identity.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from facelens.identity.verify import COSINE_THRESHOLD, THRESHOLD, cosine, distances, embed
from facelens.io.readers import read_image

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = ("amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart")
PHOTOS = {"obama.jpg": "obama", "obama2.jpg": "obama", "obama3.jpg": "obama", "biden.jpg": "biden"}


def dataset(data: Path) -> tuple[list[Path], list[str]]:
    """Image paths and identity labels."""
    ident = data / "identity"
    files = [f for p in PEOPLE for f in sorted((ident / p).glob("*.png"))]
    labels = [f.parent.name for f in files]
    files += [ident / f for f in PHOTOS]
    labels += list(PHOTOS.values())
    return files, labels


def pair_accuracy(d: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(((d < threshold) == same).mean())


def best_threshold(d: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Threshold (midpoint between sorted distances) with the highest pair accuracy."""
    cands = np.sort(d)
    mids = (cands[1:] + cands[:-1]) / 2
    accs = np.array([pair_accuracy(d, same, t) for t in mids])
    i = int(np.argmax(accs))
    return float(mids[i]), float(accs[i])


def evaluate(emb: np.ndarray, labels: list[str]) -> dict:
    lab = np.array(labels)
    iu = np.triu_indices(len(lab), 1)
    same = (lab[:, None] == lab[None])[iu]
    d = distances(emb, emb)[iu]
    t, acc = best_threshold(d, same)
    return {"pairs": int(len(d)), "same_pairs": int(same.sum()), "accuracy_at_0.6": pair_accuracy(d, same, THRESHOLD),
            "best_threshold": round(t, 4), "accuracy_at_best": acc, "roc_auc": float(roc_auc_score(same, -d)),
            "max_same_distance": float(d[same].max()), "min_different_distance": float(d[~same].min())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    import face_recognition

    files, labels = dataset(args.data)
    ours, theirs, whole = [], [], []
    t0 = time.perf_counter()
    boxes = []
    for f in files:
        e = embed(f, max_faces=1)
        ours.append(e.faces.embedding[0])
        boxes.append(e.faces.boxes[0])
        whole.append(str(f.relative_to(args.data)) if e.whole_image else None)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for f, b in zip(files, boxes):
        x1, y1, x2, y2 = (int(round(float(v))) for v in b)
        theirs.append(face_recognition.face_encodings(read_image(f), known_face_locations=[(y1, x2, y2, x1)])[0])
    t_theirs = time.perf_counter() - t0
    ours_a, theirs_a = np.array(ours), np.array(theirs)
    idx = {f.name: i for i, f in enumerate(files)}
    d = distances(ours_a, ours_a)
    c = cosine(ours_a, ours_a)
    lab = np.array(labels)
    iu = np.triu_indices(len(lab), 1)
    same = (lab[:, None] == lab[None])[iu]
    cos_t, cos_acc = best_threshold(-c[iu], same)
    report = {
        "data": "shared/data/identity: 8 people x 5 crops (face-api.js, MIT) + obama x3, biden (face_recognition, MIT)",
        "images": len(files), "whole_image_fallbacks": [w for w in whole if w],
        "facelens": {**evaluate(ours_a, labels), "embed_s": round(t_ours, 2),
                     "cosine": {"threshold": COSINE_THRESHOLD, "accuracy": pair_accuracy(-c[iu], same, -COSINE_THRESHOLD),
                                "best_threshold": round(-cos_t, 4), "accuracy_at_best": cos_acc}},
        "face_recognition": {**evaluate(theirs_a, labels), "embed_s": round(t_theirs, 2),
                             "note": "same boxes as facelens (known_face_locations), num_jitters=1, 5-point model"},
        "checks": {f"{a}-{b}": round(float(d[idx[a], idx[b]]), 4) for a, b in
                   [("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"), ("obama2.jpg", "obama3.jpg"),
                    ("obama.jpg", "biden.jpg"), ("obama2.jpg", "biden.jpg"), ("obama3.jpg", "biden.jpg")]},
    }
    print(json.dumps(report, indent=2))
    out = ROOT / "benchmarks" / "results" / "identity.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
