"""Video analysis with stable track ids; the face mesh follows each face between detections.

Each live track's mesh is re-fitted on the ROI of its previous-frame mesh (`roi_from_mesh`, as
MediaPipe's video graph does). Full detection runs only

- every `detect_every` (K) analysed frames, to find faces that entered the view,
- on a scene cut (`facelens.cuts`: a 64x36 thumbnail differs from the previous one like a hard
  cut), where every live track is set lost instead of being followed into the new shot,
- on the frame after a track's mesh presence score drops below `min_presence` (once per loss,
  not on every frame while it stays lost: it waits for the schedule or a cut after that),
- on every frame while no track is live (detection alone is cheap: ~2.7 ms at 640 px).

Only the scheduled detections and the cuts run the detector's FaceBoxes search (the others are
BlazeFace alone; none runs the standard mode's second, small-face search of photos), and in a
quiet scene only part of them: after `quiet_after` (3) scheduled
detections in a row found no new face, FaceBoxes joins every `quiet_faceboxes_every`-th (4th)
one and every cut, until any detection finds a face again. On WolfgangLanger_Pexels (one face)
it then runs on 15 of 48 detection frames instead of all, with the same rows; on walking_people
and the multi-face clips of benchmarks/video.py, where people keep arriving, the rows and
tracks are the same too. The price: a face that only FaceBoxes finds (small, turned, grey),
arriving in a quiet scene, waits up to 4 detection intervals (40 frames) instead of one.

A track whose face region changes like a cut between two frames (someone else now stands where
it was) is set lost the same way. New detections are matched to the followed tracks by box IoU;
unmatched ones to lost tracks by IoU with the box predicted from the track's landmark motion
(mesh-centre velocity). The identity check (`reid`, default: when "identity" is among the
features; dlib descriptors closer than 0.6, dlib's same-person threshold) runs only when those
cheap cues are ambiguous: several lost tracks overlap the detection, or the track was lost at a
cut. Without an identity check a track lost at a cut is never re-found: a new track starts.
A lost track is retired after `max_missed` frames. A new track is tentative until it has been
seen on `confirm` consecutive frames; its rows are held back (at most `confirm` - 1 frames) and
dropped if it dies first, which removes one- and two-frame false detections.

Identity: the 128-D embedding of a track (58 ms per face with dlib) is computed when the track
is confirmed and refreshed every `embed_every` (120, ~5 s at 24 fps) video frames; the rows
in between carry a copy of the track's latest embedding, so a track's rows share few distinct
embeddings. `embed_every=1` instead embeds every live face on every analysed frame, tentative
tracks included, and each row carries the descriptor of its own frame (what an identity-drift
report needs). `reid=True` without the "identity" feature computes them for the re-find check only.

Age and gender are per track: the head runs on a track's face when it is confirmed and every
`age_gender_every` (24) video frames while it is live; a row carries the track's samples so far
combined by `aggregate_age_gender`. Emotion and the mesh-derived features stay per frame.
The tracker follows 468-point meshes; `video_frames` runs the Face Mesh V2 pass (irises and
blendshape points) and the per-frame features (`describe`) in a worker thread, overlapping the
tracking of the next frame (LiteRT and onnxruntime release the GIL).

Boxes: a detected frame keeps the detector's box; a followed frame gets a box from its mesh with
the fixed mapping `MESH_TO_BOX` (centre offset and scale relative to the 468-point extent),
measured as medians over about 700 detected frames of the four face videos in ../shared/data/video
(per-frame spread: 3-4% of the face size for the centre, 4-8% for the size).

Defaults, from measurements on ../shared/data/video (see benchmarks/video.py):
- min_presence 0.5: followed meshes on real faces scored >= 0.989 on every frame of
  WolfgangLanger_Pexels and single_face; at the scene cuts of face_noface / noface_face a
  followed mesh scores < 0.01 on the first face-less frame.
- confirm 3, confirm_presence 0.9: a tentative track dies on its first followed frame with a
  mesh presence under 0.9. The detector's false positives on the face-less clips (detector score
  0.52-0.61, mesh presence up to 0.98 on the detection ROI) all fell under 0.9 within two
  followed frames, while real faces scored >= 0.99 on their first followed frames.
- detect_every 10 (~0.4 s at 24 fps): the K sweep in benchmarks/video.py ("landmarks" on
  WolfgangLanger_Pexels, 2 shared cores) gave, in its quietest run, 184 FPS at K=1, 307 at K=5,
  323 at K=10, 312 at K=20 and 355 at K=40 (across four runs K=1 stayed at 92-184 and K=10 at
  169-323), with the same presence accuracy on the cut clips for every K; beyond 10 the gain is
  within run-to-run noise while a face entering the view waits longer to be found.
- max_missed 12 (~0.5 s): bridges blinks of the detector and short occlusions, and is shorter
  than the gap between a scene cut and any false positive in the face-less test clips.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facelens.calibrate import TrackFilter
from facelens.cuts import CutDetector
from facelens.errors import FeatureError, InputError
from facelens.faces import Faces, FrameResult
from facelens.io import readers
from facelens.models import facemesh as fm
from facelens.models.blazeface import iou_matrix
from facelens.models.runtime import sigmoid
from facelens.pipeline import Pipeline
from facelens.video import prefetch

log = logging.getLogger(__name__)

# Detector box from the mesh's 468-point extent (w, h): centre offset (x, y) in units of (w, h),
# then width and height scale. Measured on detected frames (module docstring).
MESH_TO_BOX = np.array([-0.008, 0.024, 1.191, 0.969], np.float32)


def greedy_match(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """(row, col) pairs, highest IoU first, each row and column used once, IoU >= min_iou."""
    pairs: list[tuple[int, int]] = []
    rows: set[int] = set()
    cols: set[int] = set()
    for flat in np.argsort(-iou, axis=None):
        r, c = (int(v) for v in np.unravel_index(flat, iou.shape))
        if iou[r, c] < min_iou:
            break
        if r not in rows and c not in cols:
            pairs.append((r, c))
            rows.add(r)
            cols.add(c)
    return pairs


def box_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """(N,468 or 478,3) meshes -> (N,4) boxes consistent with the detector's (see `MESH_TO_BOX`)."""
    pts = mesh[:, :468, :2]
    lo, hi = pts.min(1), pts.max(1)
    size = hi - lo
    centre = (lo + hi) / 2 + MESH_TO_BOX[:2] * size
    half = size * MESH_TO_BOX[2:] / 2
    return np.concatenate([centre - half, centre + half], 1).astype(np.float32)


def aggregate_age_gender(samples: np.ndarray) -> tuple[float, float, float]:
    """One track's age, age_sd and male probability from its samples (K,3) of (age, age_sd, male_logit).

    Age: the inverse-variance mean (weights `1 / age_sd**2`); its sd is the root of the
    samples' harmonic-mean variance, not shrunk by `sqrt(K)`, because a person's error repeats
    from frame to frame. Gender: the mean of the calibrated logits (the scale the calibration
    is fitted on), then the sigmoid. NaNs without samples.
    """
    if len(samples) == 0:
        return np.nan, np.nan, np.nan
    w = 1.0 / samples[:, 1] ** 2
    return (float(w @ samples[:, 0] / w.sum()), float(np.sqrt(len(w) / w.sum())),
            float(sigmoid(samples[:, 2].mean())))


@dataclass
class TrackerOptions:
    """Tracking parameters; the defaults and how they were chosen are in the module docstring."""

    detect_every: int = 10
    min_presence: float = 0.5
    max_missed: int = 12
    confirm: int = 3
    confirm_presence: float = 0.9
    min_iou: float = 0.3
    reid: bool | None = None  # None: check identity on re-find when "identity" is a feature
    reid_threshold: float | None = None  # None: the embedder's same-person distance (dlib: 0.6)
    embed_every: int = 120  # video frames between a track's descriptors; 1: a fresh one per frame
    age_gender_every: int = 24  # video frames between a track's age/gender samples
    duplicate_iou: float = 0.6
    cuts: bool = True  # detect scene cuts (see `facelens.cuts`)
    quiet_after: int = 3  # scheduled detections without a new face before the scene counts as quiet
    quiet_faceboxes_every: int = 4  # in a quiet scene FaceBoxes joins every this-many scheduled detections (1: all)

    def __post_init__(self) -> None:
        for name in ("embed_every", "age_gender_every", "quiet_faceboxes_every"):
            if getattr(self, name) < 1:
                raise FeatureError(f"{name} must be at least 1, not {getattr(self, name)}")


@dataclass
class Track:
    id: int
    mesh: np.ndarray  # (468,3) latest mesh (irises are added per frame in `MeshTracker.describe`)
    box: np.ndarray  # (4,) latest box
    score: float  # confidence on the latest frame: detector score, or mesh presence when followed
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # px/frame
    hits: int = 1  # consecutive frames seen
    missed: int = 0  # consecutive frames not seen (0: live)
    confirmed: bool = False
    embedding: np.ndarray | None = None
    embedded_at: int = -1
    cut: bool = False  # lost at a scene cut or a region change: re-found only by identity
    age_samples: list[tuple[float, float, float]] = field(default_factory=list)  # (age, age_sd, male_logit)
    aged_at: int = -1

    def predicted_box(self) -> np.ndarray:
        shift = self.velocity * self.missed
        return self.box + np.concatenate([shift, shift])

    def lose(self, cut: bool = False) -> None:
        self.missed, self.hits, self.cut = 1, 0, cut

    def move(self, mesh: np.ndarray, box: np.ndarray, score: float) -> None:
        """Follow the face to `mesh`; velocity is a running mean of the mesh-centre motion."""
        step = mesh[:468, :2].mean(0) - self.mesh[:468, :2].mean(0)
        self.velocity = (0.5 * self.velocity + 0.5 * step).astype(np.float32)
        self.mesh, self.box, self.score = mesh, box, score
        self.hits += 1


@dataclass
class Tracked:
    """One frame's live tracks, before the per-frame features: what `MeshTracker.track` returns."""

    ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N,4)
    scores: np.ndarray  # (N,)
    mesh: np.ndarray  # (N,468,3), without irises
    embedding: np.ndarray | None = None  # (N,128) this frame's descriptors (embed_every=1 only)


class MeshTracker:
    """Frame-by-frame tracker: `step(rgb, index)` returns the faces of one frame with track ids.

    Runs the stages of `pipeline` (an `Analyzer` is one). `step` is `track` (tracking and the
    per-track heads) followed by `describe` (the per-frame features). Rows of tentative tracks are
    held back (`HoldBack`): `resolve(faces)` returns a held frame's faces once each of its tracks
    is confirmed or dead (at most `confirm` - 1 frames later), filling the per-track columns.
    """

    def __init__(self, pipeline: Pipeline, options: TrackerOptions | None = None) -> None:
        self.pipeline = pipeline
        self.opt = options or TrackerOptions()
        self.identity = "identity" in pipeline.features
        self.reid = self.identity if self.opt.reid is None else self.opt.reid
        # Same person below this descriptor distance on re-find: the option, else the embedder's.
        self.reid_threshold = self.opt.reid_threshold
        if self.reid and self.reid_threshold is None:
            self.reid_threshold = pipeline.embedder.threshold
        self.per_frame = self.opt.embed_every == 1 and self.identity
        self.tracks: list[Track] = []
        self.next_id = 0
        self.since_detect = 0  # frames since the last scheduled (full-search) detection
        self.detections = 0  # frames on which the detector ran
        self.faceboxes_runs = 0  # detections that included the FaceBoxes search
        self.quiet = 0  # consecutive scheduled detections that found no new face
        self._skipped_faceboxes = 0  # scheduled detections without FaceBoxes since its last run
        self.cuts = 0  # scene cuts seen
        self._cut_detector = CutDetector() if self.opt.cuts else None
        self._dead: set[int] = set()  # tentative tracks that died: their held rows are dropped
        self._retired: dict[int, Track] = {}  # confirmed tracks no longer followed, for held rows

    # Stages of one step.
    def _scene(self, rgb: np.ndarray) -> bool:
        """On a scene cut, lose every live track (not followed into the new shot); True on a cut."""
        if self._cut_detector is None or not self._cut_detector(rgb):
            return False
        self.cuts += 1
        for t in self.tracks:
            if t.missed == 0:
                t.lose(cut=True)
        return True

    def _jumped(self, before: dict[int, np.ndarray]) -> bool:
        """Lose the followed tracks whose face region changed like a cut (someone else is there
        now); `before`: their boxes on the previous frame. True if one was lost."""
        moved = [t for t in self.tracks if t.missed == 0 and t.id in before]
        if self._cut_detector is None or not moved:
            return False
        changed = self._cut_detector.changed(np.stack([before[t.id] for t in moved]), np.stack([t.box for t in moved]))
        for t, c in zip(moved, changed):
            if c:
                t.lose(cut=True)
        return bool(changed.any())

    def _follow(self, rgb: np.ndarray) -> bool:
        """Re-fit the mesh of each live track on its previous mesh's ROI; True if one was lost."""
        live = [t for t in self.tracks if t.missed == 0]
        if not live:
            return False
        rois = [fm.roi_from_mesh(t.mesh) for t in live]
        mesh, presence = self.pipeline.mesh_from_rois(rgb, rois, refine=False, irises=False)
        boxes = box_from_mesh(mesh)
        lost = False
        for t, m, p, b in zip(live, mesh, presence, boxes):
            if p >= (self.opt.min_presence if t.confirmed else self.opt.confirm_presence):
                t.move(m, b, float(p))
            else:
                t.lose()
                lost = True
        return lost

    def _faceboxes_due(self, cut: bool) -> bool:
        """Whether a scheduled detection includes the FaceBoxes search: always, except in a quiet
        scene (`TrackerOptions.quiet_after`), where it joins every `quiet_faceboxes_every`-th one
        and every scene cut."""
        if cut or self.quiet < self.opt.quiet_after or self._skipped_faceboxes + 1 >= self.opt.quiet_faceboxes_every:
            self._skipped_faceboxes = 0
            return True
        self._skipped_faceboxes += 1
        return False

    def _detect(self, rgb: np.ndarray, scheduled: bool = True, faceboxes: bool = True) -> int:
        """Detect and match; the number of faces found that no live track explains.

        `faceboxes=False` (between scheduled detection frames, and on some scheduled ones in a quiet
        scene) is BlazeFace alone; `scheduled` resets the detection schedule.
        """
        det = self.pipeline.detect_faces(rgb, faceboxes, small_faces=False)  # every tracked frame waits on it
        self.detections += 1
        self.faceboxes_runs += faceboxes
        if scheduled:
            self.since_detect = 0
        live = [t for t in self.tracks if t.missed == 0]
        used: set[int] = set()
        if live and len(det.scores):
            for r, c in greedy_match(iou_matrix(np.stack([t.box for t in live]), det.boxes), self.opt.min_iou):
                live[r].box, live[r].score = det.boxes[c], float(det.scores[c])
                used.add(c)
        new = [i for i in range(len(det.scores)) if i not in used]
        if not new:
            return 0
        rois = [fm.roi_from_detection(det.boxes[i], det.keypoints[i]) for i in new]
        mesh, presence = self.pipeline.mesh_from_rois(rgb, rois, refine=True, irises=False)
        cap = self.pipeline.max_faces
        found = 0
        for i, m, p in zip(new, mesh, presence):
            if cap is not None and sum(t.missed == 0 for t in self.tracks) >= cap:
                break
            if p >= self.opt.min_presence:
                self._found(rgb, m, det.boxes[i], float(det.scores[i]))
                found += 1
        return found

    def _found(self, rgb: np.ndarray, mesh: np.ndarray, box: np.ndarray, score: float) -> None:
        """A detection no live track explains: a lost track re-found, or a new tentative track.

        Candidates are the lost confirmed tracks whose predicted box overlaps it; the descriptor
        decides only when the position is ambiguous (several candidates) or the candidate was
        lost at a cut, and is computed at most once per detection.
        """
        lost = [t for t in self.tracks if t.missed > 0 and t.confirmed]  # tentative ones die when lost
        cands: list[Track] = []
        if lost:
            iou = iou_matrix(np.stack([t.predicted_box() for t in lost]), box[None])[:, 0]
            cands = [lost[int(k)] for k in np.argsort(-iou) if iou[k] >= self.opt.min_iou]
        emb: np.ndarray | None = None
        for t in cands:
            if len(cands) > 1 or t.cut:
                if not self.reid or t.embedding is None:
                    continue
                if emb is None:
                    emb = self.pipeline.embed(rgb, box[None], mesh[None])[0]
                dist = float(np.linalg.norm(emb - t.embedding))
                if dist >= self.reid_threshold:
                    log.debug("track %d not re-found: descriptor distance %.2f", t.id, dist)
                    continue
            t.mesh, t.box, t.score = mesh, box, score
            t.missed, t.hits, t.cut, t.velocity = 0, 1, False, np.zeros(2, np.float32)
            return
        self.tracks.append(Track(self.next_id, mesh, box, score))
        self.next_id += 1

    def _prune(self) -> None:
        """Merge live tracks that converged on one face; retire lost tracks; confirm new ones."""
        live = sorted((t for t in self.tracks if t.missed == 0), key=lambda t: (not t.confirmed, t.id))
        if len(live) > 1:
            iou = iou_matrix(np.stack([t.box for t in live]), np.stack([t.box for t in live]))
            for j in range(len(live)):
                if any(iou[i, j] > self.opt.duplicate_iou and live[i].missed == 0 for i in range(j)):
                    live[j].missed = self.opt.max_missed + 1
        keep = []
        for t in self.tracks:
            if t.missed > self.opt.max_missed or (t.missed > 0 and not t.confirmed):
                if t.confirmed:
                    self._retired[t.id] = t
                else:
                    self._dead.add(t.id)
                continue
            if t.hits >= self.opt.confirm:
                t.confirmed = True
            keep.append(t)
        self.tracks = keep

    def _embed(self, rgb: np.ndarray, index: int) -> None:
        """Embed the live tracks that are due (see `TrackerOptions.embed_every`)."""
        every = self.opt.embed_every
        due = [t for t in self.tracks if t.missed == 0 and (t.confirmed or every == 1)
               and (t.embedding is None or index - t.embedded_at >= every)]
        if due:
            for t, e in zip(due, self.pipeline.embed(rgb, np.stack([t.box for t in due]), np.stack([t.mesh for t in due]))):
                t.embedding, t.embedded_at = e, index

    def _age_gender(self, rgb: np.ndarray, index: int) -> None:
        """Sample age and gender of the confirmed live tracks that are due (`age_gender_every`)."""
        due = [t for t in self.tracks if t.missed == 0 and t.confirmed
               and (t.aged_at < 0 or index - t.aged_at >= self.opt.age_gender_every)]
        if due:
            est = self.pipeline.age_gender_model(rgb, np.stack([t.mesh for t in due]))
            for t, a, s, m in zip(due, est.age, est.age_sd, est.male_logit):
                t.age_samples.append((float(a), float(s), float(m)))
                t.aged_at = index

    def track(self, rgb: np.ndarray, index: int) -> Tracked:
        """Track one frame: follow, detect when due, update the per-track heads."""
        for t in self.tracks:
            if t.missed > 0:
                t.missed += 1
        cut = self._scene(rgb)
        before = {t.id: t.box for t in self.tracks if t.missed == 0}
        lost = self._follow(rgb)
        lost = self._jumped(before) or lost
        self.since_detect += 1
        scheduled = cut or self.since_detect >= self.opt.detect_every or self.detections == 0
        if scheduled or lost or not any(t.missed == 0 for t in self.tracks):
            # FaceBoxes only on the schedule, and in a quiet scene on part of it (`_faceboxes_due`)
            if self._detect(rgb, scheduled, faceboxes=scheduled and self._faceboxes_due(cut)):
                self.quiet = 0
            elif scheduled:
                self.quiet += 1
        self._prune()
        if self.reid or self.identity:
            self._embed(rgb, index)
        if "age_gender" in self.pipeline.features:
            self._age_gender(rgb, index)
        live = [t for t in self.tracks if t.missed == 0]
        if not live:
            return Tracked(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                           np.zeros((0, 468, 3), np.float32))
        return Tracked(np.array([t.id for t in live], np.int64), np.stack([t.box for t in live]),
                       np.array([t.score for t in live], np.float32), np.stack([t.mesh for t in live]),
                       np.stack([t.embedding for t in live]) if self.per_frame else None)

    def describe(self, rgb: np.ndarray, tracked: Tracked) -> Faces:
        """The Face Mesh V2 pass and the per-frame features of a tracked frame, track ids set (no
        tracker state is touched, so `video_frames` runs it in a worker thread)."""
        if len(tracked.ids) == 0:
            return Faces.empty().with_(track_id=tracked.ids)
        mesh, v2 = self.pipeline.complete(rgb, tracked.mesh)
        faces = self.pipeline.describe(rgb, tracked.boxes, tracked.scores, mesh, v2=v2, identity=False,
                                       age_gender=False)
        faces = faces.with_(track_id=tracked.ids)
        return faces if tracked.embedding is None else faces.with_(embedding=tracked.embedding)

    def step(self, rgb: np.ndarray, index: int) -> Faces:
        """Track one frame and describe its live faces: track ids set; identity only with
        `embed_every=1` (this frame's descriptors), otherwise left to `resolve`."""
        return self.describe(rgb, self.track(rgb, index))

    def ready(self, ids: np.ndarray) -> bool:
        """Whether every track among `ids` is confirmed or dead (its rows can be resolved)."""
        by_id = {t.id: t for t in self.tracks}
        return all(i in self._dead or i in self._retired or by_id[i].confirmed for i in ids.tolist())

    def resolve(self, faces: Faces) -> Faces | None:
        """Faces of a held frame once every track in it is confirmed or dead; None while pending.

        Rows of dead tentative tracks are dropped; with identity, each row without its own
        frame's descriptor gets a copy of its track's latest embedding; with age_gender, each row
        gets its track's samples so far combined (`aggregate_age_gender`).
        """
        if faces.track_id is None or len(faces) == 0:
            return faces
        if not self.ready(faces.track_id):
            return None
        by_id = {**self._retired, **{t.id: t for t in self.tracks}}
        faces = faces[np.array([i not in self._dead for i in faces.track_id.tolist()], bool)]
        tracks = [by_id[i] for i in faces.track_id.tolist()]
        if self.identity and len(faces) and faces.embedding is None:
            emb = [t.embedding for t in tracks]
            if all(e is not None for e in emb):
                faces = faces.with_(embedding=np.stack(emb))
        if "age_gender" in self.pipeline.features and len(faces):
            age, sd, male = np.array([aggregate_age_gender(np.array(t.age_samples).reshape(-1, 3)) for t in tracks]).T
            faces = faces.with_(age=age.astype(np.float32), age_sd=sd.astype(np.float32), male_prob=male.astype(np.float32))
        return faces

    def finish(self, faces: Faces) -> Faces:
        """Faces of a frame held at the end of the video: unconfirmed tracks are dropped."""
        if faces.track_id is None or len(faces) == 0:
            return faces
        for t in self.tracks:
            if not t.confirmed:
                self._dead.add(t.id)
        resolved = self.resolve(faces)
        assert resolved is not None  # every track is now confirmed or dead
        return resolved


# Frames whose per-frame features may still be computing while later ones are tracked. A scheduled
# detection holds the tracking thread for several frames' worth of the worker's time (FaceBoxes
# at ~1 MP: ~100 ms against ~20 ms of per-frame features for one face), so the worker needs that
# many frames queued not to sit idle meanwhile.
LAG = 8
# Threads computing the per-frame features, each on whole frames. One left the second core partly
# idle (the tracking thread needs less than the features do). Default features, median FPS of 4
# interleaved runs, one thread -> two: side_by_side 39.0 -> 48.8, walking_people 21.1 -> 23.6,
# WolfgangLanger (one face) 65.0 -> 64.0. Splitting a frame's faces over two threads instead
# gave 39.3, 23.6 and 62.4. The workers run at a lower priority (`WORKER_NICE`) than the tracking
# thread, which every later frame waits on: 3 interleaved runs each, default features,
# WolfgangLanger 53-60 -> 57-64 FPS, side_by_side 39-41 -> 42-45; landmarks alone about even.
# (Measured with a LiteRT interpreter per thread, as `runtime.Model`'s pool gives them; a single
# shared interpreter, which an earlier tree kept, was 4-9% slower with the default features.)
WORKERS = 2
WORKER_NICE = 5


def _yield_to_tracking() -> None:
    """Lower this worker thread's priority, so the tracking thread, which every later frame waits
    on, gets the cores first; the workers use the rest. Linux only, where a thread has its own nice
    value (elsewhere `setpriority` would take the thread id for a process id)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICE)


class HoldBack:
    """The hold-back queue: frames in order, each released once its per-frame features are done
    (computed in `pool`, at most `LAG` frames behind) and `tracker.resolve` settles it."""

    def __init__(self, tracker: MeshTracker, pool: ThreadPoolExecutor) -> None:
        self.tracker = tracker
        self.pool = pool
        self.queue: deque[tuple[FrameResult, np.ndarray, np.ndarray, Future[Faces]]] = deque()

    def push(self, result: FrameResult, rgb: np.ndarray, tracked: Tracked) -> Iterator[tuple[FrameResult, np.ndarray]]:
        """Queue one tracked frame; yield (result, rgb) of every frame at the head that is now settled."""
        self.queue.append((result, rgb, tracked.ids, self.pool.submit(self.tracker.describe, rgb, tracked)))
        while self.queue and self.tracker.ready(self.queue[0][2]) and (len(self.queue) > LAG or self.queue[0][3].done()):
            result, rgb, _, future = self.queue.popleft()
            resolved = self.tracker.resolve(future.result())
            assert resolved is not None  # ready() said so
            result.faces = resolved
            yield result, rgb

    def flush(self) -> Iterator[tuple[FrameResult, np.ndarray]]:
        """At the end of the video: the frames still held, without unconfirmed tracks."""
        while self.queue:
            result, rgb, _, future = self.queue.popleft()
            result.faces = self.tracker.finish(future.result())
            yield result, rgb


def video_frames(pipeline: Pipeline, path: str | Path, every: int = 1, start: float = 0.0, end: float | None = None,
                 options: TrackerOptions | None = None) -> Iterator[tuple[FrameResult, np.ndarray | None]]:
    """Yield (result, rgb) per selected frame, in order; faces carry `track_id`.

    Frames are decoded in a reader thread ahead of the analysis, and each frame's per-frame
    features are computed in a worker thread while the next frames are tracked. A video that
    stops before its declared frame count ends with an error result (rgb None).
    """
    info = readers.video_info(path)
    if info.fps > 0 and info.frames and start * info.fps >= info.frames:
        raise InputError(f"{path}: start {start:g} s is past the end of the video "
                         f"({info.frames / info.fps:.1f} s, {info.frames} frames)")
    tracker = MeshTracker(pipeline, options)
    expression = TrackFilter(pipeline.calibrate, pipeline.smooth)  # per-track calibration/smoothing

    def filtered(ready: Iterator[tuple[FrameResult, np.ndarray]]) -> Iterator[tuple[FrameResult, np.ndarray]]:
        for result, rgb in ready:  # in frame order, as the filter's running medians need
            result.faces = expression(result.faces, result.timestamp)
            yield result, rgb

    last = -1
    frames = 0
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="facelens-describe", initializer=_yield_to_tracking) as pool:
        held = HoldBack(tracker, pool)
        for frame in prefetch(readers.read_video(path, every=every, start=start, end=end)):
            last = frame.index
            frames += 1
            tracked = tracker.track(frame.rgb, frame.index)
            result = FrameResult(str(path), Faces.empty(), frame.index, frame.timestamp, info.width, info.height)
            yield from filtered(held.push(result, frame.rgb, tracked))
        yield from filtered(held.flush())
    log.debug("%s: %d frames, detector ran on %d, %d cuts, %d tracks", path, frames, tracker.detections,
              tracker.cuts, tracker.next_id)
    # `last` is the last frame kept; with every=N the video may go on for N-1 frames after it.
    if end is None and info.frames and last + every < info.frames - 1:
        msg = f"{path}: video ended at frame {last + 1} of {info.frames} declared"
        yield FrameResult(str(path), Faces.empty(), last + 1, error=msg), None


def track_video(pipeline: Pipeline, path: str | Path, every: int = 1, start: float = 0.0,
                end: float | None = None, options: TrackerOptions | None = None) -> Iterator[FrameResult]:
    """Yield one `FrameResult` per selected frame, faces carrying `track_id`."""
    for result, _ in video_frames(pipeline, path, every, start, end, options):
        yield result
