"""The tracker on multi-person clips made from the shared videos (benchmarks/clips.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from shared_data import ROOT, data_path

from facelens import Analyzer
from facelens.io import readers
from facelens.track import MeshTracker, TrackerOptions, video_frames

sys.path.insert(0, str(ROOT / "benchmarks"))
import clips  # noqa: E402


class Made(dict):
    """The clips of benchmarks/clips.py, each written on first use."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def __missing__(self, name: str) -> Path:
        self[name] = getattr(clips, name)(self.folder)
        return self[name]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Made:
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "no_face.mp4", "walking_people.mp4"):
        data_path("video", name)
    return Made(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def per_track() -> Analyzer:
    return Analyzer("landmarks,identity,age_gender")


def _rows(analyzer: Analyzer, path: Path, options: TrackerOptions | None = None) -> list[tuple[int, int, float]]:
    """(frame, track id, box centre x) of every face row."""
    out = []
    for r, _ in video_frames(analyzer, path, options=options):
        for tid, box in zip(r.faces.track_id.tolist(), r.faces.boxes):
            out.append((r.frame, tid, float(box[0] + box[2]) / 2))
    return out


def test_swapping_halves_do_not_swap_identities(made, per_track) -> None:
    """Each track follows one person across the frame where the halves trade places."""
    rows = _rows(per_track, made["swap"])
    person: dict[int, set[str]] = {}
    for frame, tid, x in rows:
        left = x < clips.HALF
        person.setdefault(tid, set()).add("wolfgang" if left == (frame < clips.SWAP_AT) else "single")
    assert all(len(p) == 1 for p in person.values()), person
    assert {p for ps in person.values() for p in ps} == {"wolfgang", "single"}
    per_frame = np.bincount([f for f, _, _ in rows], minlength=clips.SIDE_FRAMES)
    assert (per_frame == 2).mean() > 0.9  # both faces found again within a few frames of the swap


def test_same_people_keep_one_track_each(made, per_track) -> None:
    rows = _rows(per_track, made["side_by_side"])
    assert len({tid for _, tid, _ in rows}) == 2
    assert len(rows) >= 2 * clips.SIDE_FRAMES - 4


@pytest.mark.slow
def test_cut_clip(made, fast_analyzer) -> None:
    """Cuts are found where the shots change and nowhere else; no rows on the face-less shot;
    no track lives in two shots."""
    tracker = MeshTracker(fast_analyzer)
    cut_frames = []
    for f in readers.read_video(made["cuts"]):
        before = tracker.cuts
        tracker.track(f.rgb, f.index)
        if tracker.cuts > before:
            cut_frames.append(f.index)
    assert cut_frames == [int(c) for c in clips.cut_starts()[1:]]
    starts = clips.cut_starts() + [10**9]
    shot_of = {}
    for frame, tid, _ in _rows(fast_analyzer, made["cuts"]):
        shot = int(np.searchsorted(starts, frame, side="right")) - 1
        assert clips.SHOTS[shot][3] != 0, f"a face row on the face-less shot (frame {frame})"
        assert shot_of.setdefault(tid, shot) == shot, f"track {tid} in two shots"


@pytest.mark.slow
def test_age_gender_per_track(made, per_track) -> None:
    """Age/gender run once per track and then every `age_gender_every` frames; rows carry the
    track's running mean, and the mean says woman for one person and man for the other."""
    calls = []
    model = per_track.age_gender_model

    def counting(rgb, mesh):
        calls.append(len(mesh))
        return model(rgb, mesh)

    per_track.__dict__["age_gender_model"] = counting
    try:
        by_track: dict[int, list[tuple[float, float]]] = {}
        for r, _ in video_frames(per_track, made["side_by_side"]):
            for tid, age, male in zip(r.faces.track_id.tolist(), r.faces.age, r.faces.male_prob):
                by_track.setdefault(tid, []).append((float(age), float(male)))
    finally:
        per_track.__dict__["age_gender_model"] = model
    every = TrackerOptions().age_gender_every
    assert sum(calls) <= 2 * (clips.SIDE_FRAMES // every + 1)
    assert len(by_track) == 2
    for values in by_track.values():
        assert np.isfinite(values).all()
        assert len(set(values)) <= clips.SIDE_FRAMES // every + 1
    male = sorted(np.mean([m for _, m in v]) for v in by_track.values())
    assert male[0] < 0.5 < male[1], male  # WolfgangLanger's subject is a woman, single_face's a man


def test_region_change_without_a_cut(made) -> None:
    """One face replaced by another in a fifth of the frame: that region changed, the frame is no
    cut, and a region elsewhere did not change."""
    from facelens.cuts import CutDetector

    frames = [f.rgb for f in readers.read_video(made["side_by_side"])][:2]
    other = next(iter(readers.read_video(data_path("video", "single_face.mp4")))).rgb
    swapped = frames[1].copy()
    swapped[:, 60:210] = other[:, 100:250]  # the door and half a face where her face and hair were
    boxes = np.array([[70, 60, 200, 300], [460, 60, 640, 300]], np.float32)
    cuts = CutDetector()
    assert not cuts(frames[0])
    assert not cuts(frames[1]) and not cuts.changed(boxes, boxes).any()
    assert not cuts(swapped)
    assert cuts.changed(boxes, boxes).tolist() == [True, False]
    assert not cuts.changed(boxes[:1] + [400, 0, 400, 0], boxes[:1] + [400, 0, 400, 0]).any()  # unchanged side
