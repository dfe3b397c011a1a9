"""Tracker pieces: matching, mesh-derived boxes, the reader thread, lost tracks and re-finding."""

import threading

import numpy as np
import pytest

from facelens import Analyzer
from facelens.errors import FeatureError
from facelens.io import readers
from facelens.models import facemesh as fm
from facelens.track import (MeshTracker, TrackerOptions, aggregate_age_gender, box_from_mesh, greedy_match, iou_matrix,
                            video_frames)
from facelens.video import prefetch

from shared_data import data_path


@pytest.fixture(scope="module")
def single_frames():
    return [f.rgb for f in readers.read_video(data_path("video", "single_face.mp4"))]


def test_greedy_match_takes_best_pairs_once():
    iou = np.array([[0.9, 0.5], [0.8, 0.4], [0.1, 0.2]])
    assert greedy_match(iou, 0.3) == [(0, 0), (1, 1)]
    assert greedy_match(iou, 0.85) == [(0, 0)]
    assert greedy_match(np.zeros((0, 3)), 0.3) == []


def test_track_age_gender_weights_by_inverse_variance_and_averages_logits():
    """Ages 30 (sd 3) and 40 (sd 6): weights 4:1 give 32, not the plain mean 35; logits 2 and -1
    average to 0.5 (probability 0.622, where averaging the probabilities would give 0.575)."""
    age, sd, male = aggregate_age_gender(np.array([[30.0, 3.0, 2.0], [40.0, 6.0, -1.0]]))
    assert age == pytest.approx(32.0)
    assert sd == pytest.approx(np.sqrt(2 / (1 / 9 + 1 / 36)))  # 3.79: between the two, not shrunk by sqrt(2)
    assert male == pytest.approx(1 / (1 + np.exp(-0.5)))
    same = aggregate_age_gender(np.array([[25.0, 4.0, 1.0]] * 5))
    assert same == pytest.approx((25.0, 4.0, 1 / (1 + np.exp(-1.0))))  # repeated frames: no false certainty
    assert np.isnan(aggregate_age_gender(np.zeros((0, 3)))).all()


def test_iou_matrix_known_values():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_box_from_mesh_agrees_with_detector(fast_analyzer, single_frames):
    """The mesh-derived box of a followed frame lands on the detector's box (IoU > 0.8)."""
    ious = []
    for rgb in single_frames[::6]:
        det = fast_analyzer.detect_faces(rgb)
        mesh, _ = fast_analyzer.mesh_from_rois(rgb, [fm.roi_from_detection(det.boxes[0], det.keypoints[0])], False)
        ious.append(iou_matrix(det.boxes[:1], box_from_mesh(mesh))[0, 0])
    assert min(ious) > 0.8, ious


def test_prefetch_keeps_order_and_raises_reader_errors():
    assert list(prefetch(range(50), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise ValueError("decoder failed")

    with pytest.raises(ValueError, match="decoder failed"):
        list(prefetch(broken()))


def test_prefetch_thread_stops_when_consumer_stops():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    gen = prefetch(endless(), depth=2)
    assert [next(gen) for _ in range(5)] == [0, 1, 2, 3, 4]
    gen.close()
    assert closed.wait(2.0)
    assert not any(t.name == "facelens-reader" for t in threading.enumerate())


def _run(tracker, frames):
    out = []
    for i, rgb in enumerate(frames):
        faces = tracker.step(rgb, i)
        out.append(faces.track_id.tolist() if faces.track_id is not None else [])
    return out


def test_detector_runs_every_k_frames_only(fast_analyzer, single_frames):
    """One face followed without a loss: the detector runs on the first frame, then on every 10th."""
    tracker = MeshTracker(fast_analyzer, TrackerOptions(detect_every=10))
    detected = []
    for i, rgb in enumerate(single_frames):
        before = tracker.detections
        assert tracker.step(rgb, i).track_id.tolist() == [0]
        if tracker.detections > before:
            detected.append(i)
    assert detected == list(range(0, len(single_frames), 10))


def _faceboxes_frames(analyzer, frames, monkeypatch, cuts=True):
    """Indices of the frames on which the tracker ran the FaceBoxes search."""
    tracker = MeshTracker(analyzer, TrackerOptions(detect_every=10, cuts=cuts))
    searched: list[int] = []
    search = analyzer.detector.faceboxes_search
    index = 0

    def recorded(rgb, scales, **kw):
        searched.append(index)
        return search(rgb, scales, **kw)

    monkeypatch.setattr(analyzer.detector, "faceboxes_search", recorded)
    for index, rgb in enumerate(frames):
        tracker.step(rgb, index)
    assert tracker.faceboxes_runs == len(searched)
    return searched


def test_faceboxes_backs_off_in_a_quiet_scene(fast_analyzer, single_frames, monkeypatch):
    """One face and nobody new: FaceBoxes joins the scheduled detections until 3 in a row found
    no new face (frames 10, 20, 30), then every 4th of them (BlazeFace still runs on each)."""
    assert _faceboxes_frames(fast_analyzer, single_frames, monkeypatch) == [0, 10, 20, 30, 70]


def test_a_new_face_ends_the_quiet(fast_analyzer, single_frames, monkeypatch):
    """45 empty frames (quiet from frame 20 on, FaceBoxes skipped at 30 and 40), then a face,
    found by BlazeFace off the schedule at 45 (scene cuts off; a cut would force FaceBoxes):
    FaceBoxes is back on the next three scheduled detections."""
    frames = [np.zeros_like(single_frames[0])] * 45 + single_frames
    assert _faceboxes_frames(fast_analyzer, frames, monkeypatch, cuts=False) == [0, 10, 20, 50, 60, 70, 110]
    # With cut detection the face's arrival is a cut: FaceBoxes runs there and the schedule restarts.
    assert _faceboxes_frames(fast_analyzer, frames, monkeypatch) == [0, 10, 20, 45, 55, 65, 75, 115]


def _occluded(frames, gap):
    """The first 30 frames, `gap` black frames, then the rest: the face vanishes and comes back."""
    black = np.zeros_like(frames[0])
    return frames[:30] + [black] * gap + frames[30:]


def test_short_occlusion_keeps_the_id_with_identity_check(single_frames):
    a = Analyzer("landmarks,identity")
    tracker = MeshTracker(a)
    ids = _run(tracker, _occluded(single_frames, 4))
    assert ids[31:34] == [[], [], []]
    assert {i for f in ids for i in f} == {0}
    assert ids[-1] == [0]


def test_identity_check_can_refuse_a_refound_track(single_frames):
    a = Analyzer("landmarks,identity")
    tracker = MeshTracker(a, TrackerOptions(reid_threshold=0.0))  # no distance passes
    ids = _run(tracker, _occluded(single_frames, 4))
    assert ids[10] == [0] and ids[-1] == [1]


def test_long_gap_retires_the_track(fast_analyzer, single_frames):
    tracker = MeshTracker(fast_analyzer, TrackerOptions(max_missed=5))
    ids = _run(tracker, _occluded(single_frames, 8))
    assert ids[0] == [0] and ids[-1] == [1]


def test_two_faces_keep_two_tracks(fast_analyzer, single_frames):
    """Two copies of the clip side by side (one mirrored): two tracks, each on its own side."""
    frames = [np.ascontiguousarray(np.concatenate([f, f[:, ::-1]], 1)) for f in single_frames]
    tracker = MeshTracker(fast_analyzer)
    sides: dict[int, set[bool]] = {}
    for i, rgb in enumerate(frames):
        faces = tracker.step(rgb, i)
        assert len(faces) == 2
        for tid, box in zip(faces.track_id.tolist(), faces.boxes):
            sides.setdefault(tid, set()).add(bool(box[0] > rgb.shape[1] / 2))
    assert len(sides) == 2 and all(len(s) == 1 for s in sides.values())


def test_max_faces_caps_live_tracks(single_frames):
    frames = [np.ascontiguousarray(np.concatenate([f, f[:, ::-1]], 1)) for f in single_frames[:12]]
    tracker = MeshTracker(Analyzer("landmarks", max_faces=1))
    assert all(len(tracker.step(rgb, i)) == 1 for i, rgb in enumerate(frames))


def test_embed_every_frame_gives_each_row_its_own_frames_descriptor(single_frames):
    """A second face enters while the first is followed: every row, held ones included, carries
    the descriptor of its own frame and box, and `resolve` keeps it."""
    a = Analyzer("landmarks,identity")
    clip = single_frames[::2][:20]
    black = np.zeros_like(clip[0])
    frames = [np.ascontiguousarray(np.concatenate([f, f[:, ::-1] if i >= 4 else black], 1)) for i, f in enumerate(clip)]
    tracker = MeshTracker(a, TrackerOptions(embed_every=1))
    stepped = [tracker.step(rgb, i) for i, rgb in enumerate(frames)]
    first = [len(f) for f in stepped].index(2)  # found at the next detection after it entered
    assert 4 <= first <= 16 and [len(f) for f in stepped] == [1] * first + [2] * (20 - first)
    for rgb, faces in zip(frames, stepped):
        np.testing.assert_allclose(faces.embedding, a.embedder(rgb, faces.boxes), atol=1e-6)
        resolved = tracker.resolve(faces)
        np.testing.assert_array_equal(resolved.embedding, faces.embedding)
    held = [f.embedding for f in stepped[first:first + 3]]  # frames held while the new track was tentative
    for x, y in zip(held, held[1:]):
        # Each face's own frame: the same person on the next frame (well under dlib's 0.6), yet not a copy.
        step = np.linalg.norm(x - y, axis=1)
        assert (step > 1e-3).all() and (step < 0.3).all(), step
    with pytest.raises(FeatureError, match="embed_every"):
        TrackerOptions(embed_every=0)


def test_embed_every_through_the_video_iterator():
    """`Analyzer.video(embed_every=1)`: a fresh descriptor per row; the default still copies one per track."""
    path = data_path("video", "single_face.mp4")
    a = Analyzer("identity")
    fresh = list(video_frames(a, path, every=9, options=TrackerOptions(embed_every=1)))
    for result, rgb in fresh:
        np.testing.assert_allclose(result.faces.embedding, a.embedder(rgb, result.faces.boxes), atol=1e-6)
    api = [r.faces.embedding[0] for r in a.video(path, every=9, embed_every=1)]
    np.testing.assert_array_equal(np.stack(api), np.stack([r.faces.embedding[0] for r, _ in fresh]))
    assert len({e.tobytes() for e in api}) == len(api) == 8
    copied = [r.faces.embedding[0] for r in a.iter(path, every=9)]
    assert len({e.tobytes() for e in copied}) == 1


def test_identity_rows_keep_embeddings_without_the_refind_check(single_frames):
    tracker = MeshTracker(Analyzer("identity"), TrackerOptions(reid=False))
    rows = [tracker.resolve(tracker.step(rgb, i)) for i, rgb in enumerate(single_frames[:20])]
    resolved = [f for f in rows if f is not None and len(f)]
    assert resolved and all(f.embedding is not None and f.embedding.shape == (1, 128) for f in resolved)
