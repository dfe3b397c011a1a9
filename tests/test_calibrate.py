"""Per-track neutral calibration and smoothing (facelens.calibrate) and their Analyzer options."""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import data_path

from facelens.calibrate import PRIOR, TrackFilter
from facelens.errors import FeatureError
from facelens.faces import Faces
from facelens.geometry.au import AU_NAMES


def faces(aus: list[list[float]], ids: list[int], emotion: np.ndarray | None = None) -> Faces:
    n = len(ids)
    return Faces(np.tile([0, 0, 10, 10], (n, 1)).astype(np.float32), np.ones(n, np.float32),
                 aus=np.array(aus, np.float32), track_id=np.array(ids), emotion=emotion)


def test_calibration_removes_a_resting_offset_and_keeps_movements():
    f = TrackFilter(calibrate=True)
    for i in range(200):
        out = f(faces([[2.0, 0.0]], [7]), i / 25)
    assert out.aus[0, 0] == pytest.approx(2.0 * PRIOR / (200 + PRIOR), rel=1e-4)  # resting 2.0 reads ~0.2
    spike = f(faces([[4.5, 3.0]], [7]), 200 / 25)
    # a movement above rest stays (the baseline is the median: one frame does not move it)
    assert spike.aus[0, 0] == pytest.approx(4.5 - 2.0 * 201 / (201 + PRIOR), rel=1e-4)
    assert spike.aus[0, 1] == pytest.approx(3.0, rel=1e-6)
    first = f(faces([[2.0, 0.0]], [8]), 0.0)  # another track has its own baseline
    assert first.aus[0, 0] == pytest.approx(2.0 - 2.0 / (1 + PRIOR), rel=1e-4)


def test_calibration_never_goes_negative_and_leaves_emotion():
    f = TrackFilter(calibrate=True)
    emo = np.full((1, 7), 1 / 7, np.float32)
    for i in range(50):
        f(faces([[3.0, 1.0]], [1], emo), i)
    out = f(faces([[0.5, 0.0]], [1], emo), 50)
    assert (out.aus >= 0).all() and out.aus[0, 0] == 0.0
    assert np.array_equal(out.emotion, emo)


def test_smoothing_is_an_exponential_moving_average_in_time():
    f = TrackFilter(smooth=0.5)
    f(faces([[0.0]], [1]), 0.0)
    out = f(faces([[1.0]], [1]), 0.5)  # one time constant later: 1 - 1/e of the step
    assert out.aus[0, 0] == pytest.approx(1 - np.exp(-1), rel=1e-5)
    late = f(faces([[1.0]], [1]), 10.0)  # a long gap: the new value wins
    assert late.aus[0, 0] == pytest.approx(1.0, abs=1e-6)


def test_off_filter_and_untracked_faces_pass_through():
    plain = faces([[1.0]], [1])
    assert TrackFilter()(plain, 0.0) is plain
    untracked = Faces(plain.boxes, plain.scores, aus=plain.aus)
    assert TrackFilter(calibrate=True)(untracked, 0.0) is untracked
    with pytest.raises(ValueError):
        TrackFilter(smooth=-1)


def test_analyzer_rejects_negative_smoothing():
    from facelens import Analyzer

    with pytest.raises(FeatureError):
        Analyzer("aus", smooth=-0.1)


def test_calibrated_video_rows_sit_lower_at_rest():
    from facelens import Analyzer

    video = data_path("video", "single_face.mp4")
    raw = np.concatenate([r.faces.aus for r in Analyzer("aus").iter(video) if len(r.faces)])
    cal = np.concatenate([r.faces.aus for r in Analyzer("aus", calibrate=True).iter(video) if len(r.faces)])
    assert raw.shape == cal.shape and raw.shape[1] == len(AU_NAMES)
    assert (cal <= raw + 1e-6).all()  # calibration only subtracts
    assert np.median(cal) < 0.5 * np.median(raw)
