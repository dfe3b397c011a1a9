"""Video end to end on the labelled clips: one track per person, presence per frame, timestamps,
overlay video, per-track summary and the timeline plot."""

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from facelens.cli import app
from facelens.io import readers
from facelens.video import summarize

from shared_data import data_path

runner = CliRunner()
# Frames with a face, from video_face_presence.csv.
PRESENCE = {"face_noface.mov": (0, 72), "noface_face.mov": (96, 169)}


def _tracks(results):
    return {int(i) for r in results if r.faces.track_id is not None for i in r.faces.track_id}


@pytest.mark.parametrize("name, frames", [pytest.param("WolfgangLanger_Pexels.mp4", 472, marks=pytest.mark.slow),
                                          ("single_face.mp4", 72)])
def test_one_person_one_track_every_frame(fast_analyzer, name, frames):
    results = [r for r in fast_analyzer.video(data_path("video", name)) if not r.error]
    assert len(results) == frames
    assert all(len(r.faces) == 1 for r in results)
    assert len(_tracks(results)) == 1


@pytest.mark.parametrize("name", sorted(PRESENCE))
def test_presence_per_frame_and_no_track_in_faceless_part(fast_analyzer, name):
    first, stop = PRESENCE[name]
    results = [r for r in fast_analyzer.video(data_path("video", name)) if not r.error]
    truth = np.array([first <= r.frame < stop for r in results])
    found = np.array([len(r.faces) > 0 for r in results])
    assert (truth == found).mean() >= 0.97, np.flatnonzero(truth != found)
    face_part = {int(i) for r in results if first <= r.frame < stop and len(r.faces) for i in r.faces.track_id}
    faceless = [r for r in results if not first <= r.frame < stop]
    assert not any(set(r.faces.track_id.tolist()) & face_part for r in faceless if len(r.faces))


def test_timestamps_monotonic_and_match_frame_rate(fast_analyzer):
    path = data_path("video", "WolfgangLanger_Pexels.mp4")
    fps = readers.video_info(path).fps
    results = list(fast_analyzer.video(path, every=3))
    frames = np.array([r.frame for r in results])
    ts = np.array([r.timestamp for r in results])
    assert np.all(np.diff(ts) > 0)
    assert np.all(frames % 3 == 0)
    assert np.max(np.abs(ts - frames / fps)) <= 1 / fps


def test_start_end_select_frames(fast_analyzer):
    results = list(fast_analyzer.video(data_path("video", "single_face.mp4"), start=1.0, end=1.5))
    ts = [r.timestamp for r in results]
    assert len(results) == 16 and min(ts) >= 1.0 - 1e-6 and max(ts) <= 1.5 + 1e-6
    assert all(len(r.faces) == 1 for r in results)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """single_face.mp4 with the default features, an overlay and a summary, via the CLI."""
    out = tmp_path_factory.mktemp("video")
    video = data_path("video", "single_face.mp4")
    result = runner.invoke(app, ["analyze", str(video), "-o", str(out / "t.parquet"), "--overlay", str(out / "ov"),
                                 "--summary", str(out / "summary.csv")])
    assert result.exit_code == 0, result.output
    return out, video


def test_overlay_video_has_every_frame(analysed):
    out, video = analysed
    cap = cv2.VideoCapture(str(out / "ov" / "single_face.mp4"))
    assert cap.isOpened()
    n = 0
    while cap.grab():
        n += 1
    assert n == readers.video_info(video).frames == 72


def test_summary_per_track(analysed):
    out, _ = analysed
    table = pd.read_parquet(out / "t.parquet")
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 1
    row = summary.iloc[0]
    assert (row.first_frame, row.last_frame, row.n_frames) == (0, 71, 72)
    assert row.duration_s == pytest.approx(table.timestamp.max() - table.timestamp.min())
    probs = [c for c in summary.columns if c.startswith("emotion_")]
    assert sum(row[c] for c in probs) == pytest.approx(1.0, abs=1e-3)
    assert row.dominant_emotion == max(probs, key=lambda c: row[c])[len("emotion_"):]
    assert row.pose_Ry == pytest.approx(table.pose_Ry.mean(), abs=1e-5)
    # identity once per track, copied to its rows; the Parquet summary keeps the mean embedding
    emb = np.stack(table.embedding.to_numpy())
    assert emb.shape == (72, 128) and np.allclose(emb, emb[0])
    full = summarize(table)
    assert np.allclose(full.embedding_mean.iloc[0], emb[0], atol=1e-5)


def test_plot_writes_a_timeline(analysed, monkeypatch):
    """One column per track, one panel each for emotion, pose and AUs, drawing the table's values."""
    import matplotlib.pyplot as plt

    out, _ = analysed
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), close(fig)))
    result = runner.invoke(app, ["plot", str(out / "t.parquet"), "-o", str(out / "timeline.png")])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "t.parquet").sort_values("timestamp")
    emotion, pose, aus = figures[0].axes
    assert emotion.get_title() == f"single_face.mp4  track 0  ({len(table)} frames)"
    assert len(emotion.collections) == 7  # one stacked band per emotion
    for line, column in zip(pose.get_lines(), ("pose_Rx", "pose_Ry", "pose_Rz")):
        np.testing.assert_allclose(line.get_ydata(), np.degrees(table[column]), rtol=1e-5)
        np.testing.assert_allclose(line.get_xdata(), table.timestamp, rtol=1e-5)
    drawn = [line.get_label() for line in aus.get_lines()]
    assert len(drawn) == 6 and all(f"{name}_r" in table.columns for name in drawn)
    img = cv2.imread(str(out / "timeline.png"))
    assert img is not None and img.shape[0] > 400 and img.shape[1] > 400
    assert (img.min(axis=2) < 200).mean() > 0.05  # ink, not a blank figure


def test_plot_refuses_a_table_without_tracks(tmp_path):
    image = data_path("detection", "single_face.jpg")
    runner.invoke(app, ["analyze", str(image), "-o", str(tmp_path / "i.csv"), "-f", "landmarks"])
    result = runner.invoke(app, ["plot", str(tmp_path / "i.csv"), "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "no tracked faces" in result.output


def test_every_n_does_not_report_an_early_end():
    from facelens import Analyzer

    results = list(Analyzer("landmarks").iter(data_path("video", "single_face.mp4"), every=6))
    assert [r.frame for r in results] == list(range(0, 72, 6))
    assert not [r.error for r in results if r.error]


def test_analyze_passes_embed_every_to_the_tracker():
    import facelens

    video = data_path("video", "single_face.mp4")
    results = facelens.analyze(video, features="identity", end=0.2, embed_every=1)
    emb = np.stack([r.faces.embedding[0] for r in results if len(r.faces)])
    assert len(emb) >= 5
    # A fresh descriptor per frame: consecutive rows differ (copies would be identical).
    assert (np.abs(np.diff(emb, axis=0)).max(axis=1) > 0).all()


def test_blendshapes_calibrated_and_plotted(tmp_path):
    from facelens.models.blendshapes import BLENDSHAPE_COLUMNS

    video = data_path("video", "single_face.mp4")
    out = tmp_path / "b.csv"
    result = runner.invoke(app, ["analyze", str(video), "-o", str(out), "-f", "aus,blendshapes", "--every", "3",
                                 "--calibrate", "--smooth", "0.2"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 24 and set(BLENDSHAPE_COLUMNS) <= set(table.columns) and "AU14_r" in table.columns
    shapes = table[list(BLENDSHAPE_COLUMNS)].to_numpy()
    assert ((shapes >= 0) & (shapes <= 1)).all()
    table.drop(columns=list(BLENDSHAPE_COLUMNS)).to_csv(tmp_path / "aus.csv", index=False)
    heights = {}
    for name in ("b.csv", "aus.csv"):
        result = runner.invoke(app, ["plot", str(tmp_path / name), "-o", str(tmp_path / f"{name}.png")])
        assert result.exit_code == 0, result.output
        heights[name] = cv2.imread(str(tmp_path / f"{name}.png")).shape[0]
    assert heights["b.csv"] > heights["aus.csv"]  # a blendshape row below the AU row


def test_describe_workers_yield_to_the_tracking_thread():
    """Worker threads lower only their own priority (Linux), never the calling thread's."""
    import os
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from facelens.track import WORKER_NICE, _yield_to_tracking

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread priorities are a Linux feature")
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with ThreadPoolExecutor(1, initializer=_yield_to_tracking) as pool:
        worker = pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    assert worker == min(19, mine + WORKER_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
