"""verify, embed and cluster on the shared identity data."""

from __future__ import annotations

import csv
import importlib

import numpy as np
import pytest
from shared_data import data_path, load_rgb
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

import facelens
from facelens.cli import app
from facelens.errors import InputError
from facelens.identity.cluster import cluster
from facelens.identity.verify import THRESHOLD, distances


def test_obama_same_biden_different() -> None:
    o1, o2, b = (data_path("identity", n) for n in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    same = facelens.verify(o1, o2)
    diff = facelens.verify(o1, b)
    assert same.same and same.distance < THRESHOLD
    assert not diff.same and diff.distance > THRESHOLD
    assert same.faces_a == same.faces_b == 1 and not same.whole_image_a


def test_arrays_and_bytes_match_paths() -> None:
    o1, o3 = data_path("identity", "obama.jpg"), data_path("identity", "obama3.jpg")
    from_paths = facelens.verify(o1, o3).distance
    from_inputs = facelens.verify(load_rgb(o1), o3.read_bytes()).distance
    assert from_inputs == pytest.approx(from_paths, abs=1e-4)


def test_best_face_among_several() -> None:
    image = load_rgb(data_path("detection", "multi_face.jpg"))
    faces = facelens.Analyzer("identity")(image)[0].faces
    assert len(faces) >= 3
    k = 2
    x1, y1, x2, y2 = faces.boxes[k].astype(int)
    pad = int(0.4 * (x2 - x1))
    crop = image[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad].copy()
    v = facelens.verify(image, crop)
    assert v.faces_a == len(faces) and v.face_a == k and v.same


def test_unreadable_input_raises(tmp_path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError):
        facelens.verify(bad, data_path("identity", "obama.jpg"))


def test_pair_accuracy_on_crops(crops) -> None:
    lab = np.array(crops.labels)
    iu = np.triu_indices(len(lab), 1)
    same = (lab[:, None] == lab[None])[iu]
    d = distances(crops.embeddings, crops.embeddings)[iu]
    accuracy = ((d < THRESHOLD) == same).mean()
    assert accuracy >= 0.99  # over the 780 crop pairs


def test_cluster_crops_ari(crops) -> None:
    result = cluster(crops.embeddings)
    ari = adjusted_rand_score(crops.labels, result.labels)
    assert ari >= 0.9  # issue target
    assert result.count == 8  # one per person
    assert np.all(result.distance >= 0) and np.all(result.distance < THRESHOLD)


def test_cluster_cli(tmp_path) -> None:
    folders = [data_path("identity", p) for p in ("amy", "raj")]
    out = tmp_path / "clusters.csv"
    res = CliRunner().invoke(app, ["cluster", *map(str, folders), "-o", str(out), "--max-faces", "1",
                                   "--copy-to", str(tmp_path / "by_cluster")])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 10
    assert {r["cluster"] for r in rows} == {"0", "1"}
    by_person = {}
    for r in rows:
        by_person.setdefault(r["file"].split("/")[-2], set()).add(r["cluster"])
    assert all(len(c) == 1 for c in by_person.values())
    assert len(list((tmp_path / "by_cluster").glob("cluster_*/*.png"))) == 10


def test_verify_cli_json() -> None:
    o1, b = data_path("identity", "obama.jpg"), data_path("identity", "biden.jpg")
    res = CliRunner().invoke(app, ["verify", str(o1), str(b), "--json"])
    assert res.exit_code == 0, res.output
    import json

    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["same"] is False and out["distance"] > THRESHOLD and out["model"]


def test_verify_reuses_an_analyzer_and_takes_precomputed_faces(monkeypatch) -> None:
    """face_recognition-style: pass the analyzer, or the `Faces` an earlier call gave; no new models."""
    o1, o2 = data_path("identity", "obama.jpg"), data_path("identity", "obama2.jpg")
    expected = facelens.verify(o1, o2)
    analyzer = facelens.Analyzer("identity")
    fa = analyzer.faces(load_rgb(o1))

    def no_new_analyzer(*args, **kwargs):
        raise AssertionError("verify built a new Analyzer")

    monkeypatch.setattr(importlib.import_module("facelens.identity.verify"), "Analyzer", no_new_analyzer)
    with_analyzer = facelens.verify(o1, o2, analyzer=analyzer)
    precomputed = facelens.verify(fa, o2, analyzer=analyzer)
    both = facelens.verify(fa, analyzer.faces(load_rgb(o2)))
    for v in (with_analyzer, precomputed, both):
        assert v.distance == pytest.approx(expected.distance, abs=1e-4) and v.same
    with pytest.raises(facelens.FeatureError, match="identity"):
        facelens.verify(o1, o2, analyzer=facelens.Analyzer("pose"))
    with pytest.raises(facelens.FeatureError, match="embedding"):
        facelens.verify(fa.with_(embedding=None), fa)


def test_whole_image_fallback_matches_a_no_detect_analyzer() -> None:
    """The one fallback (`faces_or_whole`, used by verify, collect and the server) gives what a
    separate `Analyzer(detect=False)` gives, on the same loaded models."""
    rgb = load_rgb(data_path("detection", "no-face.jpg"))
    analyzer = facelens.Analyzer("identity")
    faces, whole = analyzer.faces_or_whole(rgb)
    assert whole and len(faces) == 1
    reference = facelens.Analyzer("identity", detect=False).faces(rgb)
    np.testing.assert_allclose(faces.embedding, reference.embedding, atol=1e-5)
    np.testing.assert_array_equal(faces.boxes, reference.boxes)
    found, whole = analyzer.faces_or_whole(load_rgb(data_path("identity", "obama.jpg")))
    assert not whole and len(found) == 1
