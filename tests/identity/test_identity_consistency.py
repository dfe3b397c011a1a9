"""Identity-consistency report on a real video against itself and against another person."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from shared_data import data_path
from typer.testing import CliRunner

from facelens import Analyzer
from facelens.cli import app
from facelens.io import readers
from facelens.identity.consistency import consistency, reference_embedding
from facelens.identity.verify import cosine, distances
from facelens.identity.verify import COSINE_THRESHOLD, THRESHOLD


@pytest.fixture(scope="module")
def video_and_frame(tmp_path_factory):
    video = data_path("video", "single_face.mp4")
    cap = cv2.VideoCapture(str(video))
    for _ in range(30):
        ok, frame = cap.read()
    cap.release()
    assert ok
    ref = tmp_path_factory.mktemp("ref") / "frame30.png"
    cv2.imwrite(str(ref), frame)
    return video, ref


def test_against_own_frame_is_same(video_and_frame) -> None:
    video, ref = video_and_frame
    s = consistency(video, [ref], every=8).summary()
    assert s["face_frames"] >= 8
    assert s["mean_similarity"] > COSINE_THRESHOLD
    assert s["mean_distance"] < THRESHOLD
    assert s["share_not_same_by_distance"] == 0.0
    assert "dlib" in s["embedding"]
    assert 0 < s["mean_drift"] < THRESHOLD  # descriptors are fresh per frame, and stable


def test_against_biden_is_different(video_and_frame) -> None:
    video, _ = video_and_frame
    s = consistency(video, [data_path("identity", "biden.jpg")], every=8).summary()
    assert s["mean_similarity"] < COSINE_THRESHOLD
    assert s["mean_distance"] > THRESHOLD
    assert s["share_not_same_by_distance"] == 1.0


def test_cli_report(video_and_frame, tmp_path) -> None:
    video, ref = video_and_frame
    res = CliRunner().invoke(app, ["consistency", str(video), "--ref", str(ref), "-o", str(tmp_path), "--every", "8"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["mean_similarity"] > COSINE_THRESHOLD and summary["tracks"]
    assert (tmp_path / "similarity.png").stat().st_size > 1000
    lines = (tmp_path / "frames.csv").read_text().splitlines()
    assert lines[0].startswith("frame,timestamp,track_id,similarity") and len(lines) == summary["face_frames"] + 1


def test_one_decode_and_a_fresh_descriptor_per_face_frame(video_and_frame, monkeypatch) -> None:
    """The video is decoded once; each face-frame's descriptor is the one of its own frame and box."""
    video, ref = video_and_frame
    opened = []
    read_video = readers.read_video
    monkeypatch.setattr(readers, "read_video", lambda path, **kw: opened.append(path) or read_video(path, **kw))
    report = consistency(video, [ref], every=8)
    assert opened == [video]
    # The same figures the slow way: tracked boxes, then each frame decoded again and embedded.
    analyzer = Analyzer("identity")
    decoded = {f.index: f.rgb for f in read_video(video, every=8)}
    results = [r for r in analyzer.video(video, every=8) if len(r.faces)]
    emb = np.concatenate([analyzer.embedder(decoded[r.frame], r.faces.boxes) for r in results])
    mean_ref = reference_embedding([ref])[None]
    np.testing.assert_array_equal(report.frames, [r.frame for r in results for _ in range(len(r.faces))])
    np.testing.assert_allclose(report.similarity, cosine(emb, mean_ref)[:, 0], atol=1e-6)
    np.testing.assert_allclose(report.distance, distances(emb, mean_ref)[:, 0], atol=1e-6)
