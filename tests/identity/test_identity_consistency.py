"""Identity-consistency report on a real video against itself and against another person."""

from __future__ import annotations

import json

import cv2
import pytest
from shared_data import data_path
from typer.testing import CliRunner

from facelens.cli import app
from facelens.identity.consistency import consistency
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
