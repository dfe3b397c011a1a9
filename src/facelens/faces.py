"""Result types: `Faces` (parallel numpy arrays, face axis first) and `FrameResult` (one frame).

A field that was not computed is `None`, never zeros. Coordinates are pixels of the original
image, x right, y down, float32. `faces[mask]`, `faces[0]` and `faces[1:3]` return `Faces`; an int index past the end raises
`IndexError`, and `for face in faces` yields one single-face `Faces` each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")

# Expected trailing shapes; None = any size on that axis.
_SHAPES: dict[str, tuple[int | None, ...]] = {
    "boxes": (4,),
    "scores": (),
    "keypoints": (6, 2),
    "mesh": (478, 3),
    "landmarks5": (5, 2),
    "landmarks68": (68, 2),
    "pose_R": (3,),
    "pose_T": (3,),
    "gaze": (2, 3),
    "gaze_angle": (2,),
    "aus": (None,),
    "blendshapes": (52,),
    "emotion": (len(EMOTIONS),),
    "embedding": (None,),
    "age": (),
    "age_sd": (),
    "male_prob": (),
    "quality": (),
    "track_id": (),
    "crops": (None, None, 3),
}


@dataclass
class Faces:
    """Features of N faces in one image.

    boxes (N,4) x1,y1,x2,y2; scores (N,) detector confidence; keypoints (N,6,2) detector points;
    mesh (N,478,3) with irises at 468-477 (z in pixels, relative); landmarks5 (N,5,2);
    landmarks68 (N,68,2) iBUG layout; pose_R (N,3) pitch, yaw, roll in radians and pose_T (N,3)
    in mm (OpenFace conventions); gaze (N,2,3) unit vectors of the image-left eye then the
    image-right eye; gaze_angle (N,2) radians; aus (N,K) intensity estimates 0-5 (see
    `facelens.geometry.au.AU_NAMES`); blendshapes (N,52) MediaPipe scores in [0,1] (see
    `facelens.models.blendshapes.BLENDSHAPE_NAMES`); emotion (N,7) probabilities over `EMOTIONS`; embedding (N,D);
    age (N,) years; age_sd (N,) years, the age's likely error (a standard deviation); male_prob (N,); quality (N,) in [0,1]; track_id (N,); crops (N,112,112,3) RGB.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None
    mesh: np.ndarray | None = None
    landmarks5: np.ndarray | None = None
    landmarks68: np.ndarray | None = None
    pose_R: np.ndarray | None = None
    pose_T: np.ndarray | None = None
    gaze: np.ndarray | None = None
    gaze_angle: np.ndarray | None = None
    aus: np.ndarray | None = None
    blendshapes: np.ndarray | None = None
    emotion: np.ndarray | None = None
    embedding: np.ndarray | None = None
    age: np.ndarray | None = None
    age_sd: np.ndarray | None = None
    male_prob: np.ndarray | None = None
    quality: np.ndarray | None = None
    track_id: np.ndarray | None = None
    crops: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.boxes)
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            value = np.asarray(value)
            expected = _SHAPES[f.name]
            ok = value.ndim == 1 + len(expected) and value.shape[0] == n and all(
                e is None or e == a for e, a in zip(expected, value.shape[1:])
            )
            if not ok:
                want = ", ".join(["N"] + ["*" if e is None else str(e) for e in expected])
                raise ValueError(f"Faces.{f.name}: expected shape ({want}) with N={n}, got {value.shape}")
            setattr(self, f.name, value)

    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: Any) -> Faces:
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"face index {index} out of range for {n} face(s)")
            index = slice(index % n, index % n + 1)
        kept = {f.name: getattr(self, f.name) for f in fields(self)}
        return Faces(**{k: (None if v is None else v[index]) for k, v in kept.items()})

    def __iter__(self) -> Iterator[Faces]:
        """One single-face `Faces` per face."""
        return (self[i] for i in range(len(self)))

    def with_(self, **arrays: Any) -> Faces:
        """A copy with some fields set (shapes are validated)."""
        return replace(self, **arrays)

    @property
    def xywh(self) -> np.ndarray:
        """Boxes as (x, y, width, height)."""
        b = self.boxes
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)

    def largest(self) -> int:
        """Index of the face with the largest box (raises ValueError when there is none)."""
        if len(self) == 0:
            raise ValueError("no face")
        xywh = self.xywh
        return int(np.argmax(xywh[:, 2] * xywh[:, 3]))

    @property
    def emotion_label(self) -> list[str] | None:
        if self.emotion is None:
            return None
        return [EMOTIONS[i] for i in self.emotion.argmax(1)]


@dataclass
class FrameResult:
    """One analysed image or video frame. `error` is set (and faces empty) when it failed."""

    source: str
    faces: Faces
    frame: int = 0
    timestamp: float = 0.0
    width: int = 0
    height: int = 0
    error: str | None = None
