"""Blendshapes against MediaPipe's FaceLandmarker (a stored reference), and expressions that move them.

The reference, tests/data/mediapipe_blendshapes.json, is MediaPipe's own output on the shared
photos (tools/mediapipe_reference.py, run in a throwaway venv), so this test needs no MediaPipe.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shared_data import DATA, data_path, load_rgb

from facelens.geometry.au import AU_NAMES
from facelens.models.blendshapes import BLENDSHAPE_NAMES, LANDMARK_SUBSET, Blendshapes, blendshape_index

REFERENCE = Path(__file__).parent / "data" / "mediapipe_blendshapes.json"
N_TOP = 12


def agreement(ours: np.ndarray, mp: np.ndarray) -> dict[str, object]:
    """Pearson r on the N_TOP scores that vary most in MediaPipe's output, MAE over all 52."""
    top = np.argsort(-mp.std(0))[:N_TOP]
    r = {BLENDSHAPE_NAMES[k]: float(np.corrcoef(ours[:, k], mp[:, k])[0, 1]) for k in top}
    return {"faces": len(mp), "min_r_top12": min(r.values()), "mean_r_top12": float(np.mean(list(r.values()))),
            "mae_52": float(np.abs(ours - mp).mean()), "r_top12": r}


def pair(boxes: np.ndarray, mp_faces: list[dict]) -> list[tuple[int, int]]:
    """(ours, MediaPipe) index pairs whose box centres lie within a quarter of MediaPipe's box width."""
    pairs = []
    for j, f in enumerate(mp_faces):
        b = np.array(f["box"])
        if len(boxes) == 0:
            continue
        d = np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - (b[:2] + b[2:]) / 2, axis=1)
        i = int(np.argmin(d))
        if d[i] < 0.25 * (b[2] - b[0]):
            pairs.append((i, j))
    return pairs


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def shapes_analyzer():
    from facelens import Analyzer

    return Analyzer("blendshapes,aus")


def test_subset_and_names():
    assert len(LANDMARK_SUBSET) == 146 and len(set(LANDMARK_SUBSET)) == 146 and max(LANDMARK_SUBSET) == 477
    assert len(BLENDSHAPE_NAMES) == 52 and BLENDSHAPE_NAMES[0] == "_neutral" and BLENDSHAPE_NAMES[-1] == "noseSneerRight"


def test_mediapipe_landmarks_reproduce_mediapipe_scores(reference):
    """Fed MediaPipe's own 478 points, the model gives MediaPipe's scores: the feeding is right."""
    faces = [(img, f) for img in reference["images"].values() for f in img["faces"] if "landmarks" in f]
    assert faces
    model = Blendshapes()
    for img, f in faces:
        pts = np.array(f["landmarks"], np.float32) * [img["width"], img["height"], img["width"]]
        ours = model(pts[None])[0]
        want = np.array([f["blendshapes"][n] for n in BLENDSHAPE_NAMES])
        assert np.abs(ours - want).max() < 1e-3
        # Normalised coordinates instead of pixels would not: the check can fail.
        assert np.abs(model((pts / [img["width"], img["height"], 1])[None])[0] - want).max() > 0.05


def test_agreement_with_mediapipe_on_shared_photos(reference, shapes_analyzer):
    if not DATA.is_dir():
        pytest.skip(f"real data not available: {DATA}")
    ours, theirs = [], []
    for rel, img in reference["images"].items():
        if not img["faces"]:
            continue
        faces = shapes_analyzer.faces(load_rgb(data_path(*rel.split("/"))))
        for i, j in pair(faces.boxes, img["faces"]):
            ours.append(faces.blendshapes[i])
            theirs.append([img["faces"][j]["blendshapes"][n] for n in BLENDSHAPE_NAMES])
    assert len(ours) >= 20
    fig = agreement(np.array(ours), np.array(theirs))
    assert fig["min_r_top12"] >= 0.85, fig
    assert fig["mean_r_top12"] >= 0.93, fig
    assert fig["mae_52"] <= 0.05, fig


def _face(analyzer, rgb) -> tuple[dict[str, float], dict[str, float]]:
    faces = analyzer.faces(rgb)
    k = int(np.argmax(faces.scores))
    b = faces.blendshapes[k]
    assert ((b >= 0) & (b <= 1)).all()
    return {n: float(b[blendshape_index(n)]) for n in BLENDSHAPE_NAMES}, dict(zip(AU_NAMES, faces.aus[k].tolist()))


def _photo(analyzer, name: str):
    return _face(analyzer, load_rgb(data_path("expression", name)))


def test_smile_moves_smile_blendshapes_and_au12(shapes_analyzer):
    (hb, ha), (nb, na) = _photo(shapes_analyzer, "happy.jpg"), _photo(shapes_analyzer, "neutral.jpg")
    for side in ("Left", "Right"):
        assert hb[f"mouthSmile{side}"] > 0.7 and nb[f"mouthSmile{side}"] < 0.1, (hb, nb)
    assert ha["AU12"] > 3.5 and na["AU12"] < 0.5, (ha["AU12"], na["AU12"])


def test_jaw_drop_and_brow_raise(shapes_analyzer):
    (sb, sa), (nb, na) = _photo(shapes_analyzer, "surprise_white.jpg"), _photo(shapes_analyzer, "neutral.jpg")
    assert sb["jawOpen"] > 0.3 and nb["jawOpen"] < 0.1, (sb["jawOpen"], nb["jawOpen"])
    assert sa["AU26"] > 1.5 and na["AU26"] < 0.5
    assert sb["browInnerUp"] > 0.5 and sb["browInnerUp"] > nb["browInnerUp"] + 0.3
    assert sa["AU01"] > na["AU01"] + 1.5 and sa["AU05"] > na["AU05"] + 0.5, (sa, na)
    (ub, ua) = _photo(shapes_analyzer, "surprised.jpg")
    assert ub["jawOpen"] > 0.6 and ua["AU26"] > 3.0 and ua["AU25"] > 2.0  # lips apart (geometric)
    assert min(ub["browOuterUpLeft"], ub["browOuterUpRight"]) > 0.4 and ua["AU02"] > na["AU02"] + 1.0, (ua, na)


def test_closed_eyes_move_blink(shapes_analyzer):
    """No shared photo shows closed eyes; in single_face.mp4 the eyes are almost shut at frame 27
    (a blink) and open at frame 22."""
    from facelens.io import readers

    video = data_path("video", "single_face.mp4")
    frames = {f.index: f.rgb for f in readers.read_video(video, end=1.0) if f.index in (22, 27)}
    (cb, ca), (ob, oa) = _face(shapes_analyzer, frames[27]), _face(shapes_analyzer, frames[22])
    for side in ("Left", "Right"):
        assert cb[f"eyeBlink{side}"] > 0.45 and cb[f"eyeBlink{side}"] > ob[f"eyeBlink{side}"] + 0.3, (cb, ob)
    assert ca["AU45"] > 2.5 and oa["AU45"] < 1.0, (ca["AU45"], oa["AU45"])
