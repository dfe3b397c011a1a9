"""Draw what was found on an image: boxes, 68 points (or the mesh), head-pose axes, gaze rays, labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facelens.faces import Faces

GREEN, RED, BLUE, YELLOW, WHITE = (0, 220, 0), (230, 40, 40), (40, 90, 255), (250, 220, 0), (255, 255, 255)


def _label(faces: Faces, i: int) -> str:
    parts = []
    if faces.track_id is not None:
        parts.append(f"#{int(faces.track_id[i])}")
    if faces.emotion is not None:
        parts.append(f"{faces.emotion_label[i]} {faces.emotion[i].max():.2f}")
    if faces.age is not None:
        parts.append(f"{faces.age[i]:.0f}{'M' if faces.male_prob[i] >= 0.5 else 'F'}")
    return " ".join(parts) or f"{faces.scores[i]:.2f}"


def draw(rgb: np.ndarray, faces: Faces, mesh: bool = False) -> np.ndarray:
    """A copy of `rgb` (RGB uint8) with each face's features drawn on it."""
    out = rgb.copy()
    scale = max(1, round(max(out.shape[:2]) / 640))
    for i in range(len(faces)):
        x1, y1, x2, y2 = faces.boxes[i].astype(int)
        cv2.rectangle(out, (x1, y1), (x2, y2), GREEN, scale)
        points = faces.mesh[i, :, :2] if mesh and faces.mesh is not None else faces.landmarks68[i] if faces.landmarks68 is not None else None
        if points is not None:
            for x, y in points.astype(int):
                cv2.circle(out, (int(x), int(y)), scale, YELLOW, -1)
        size = float(x2 - x1)
        if faces.pose_R is not None and faces.landmarks5 is not None:
            from facelens.geometry import rotation_matrix

            nose = faces.landmarks5[i, 2]
            rot = rotation_matrix(faces.pose_R[i : i + 1])[0]
            for axis, color in zip(rot.T, (RED, GREEN, BLUE)):
                tip = nose + axis[:2] * size * 0.4
                cv2.line(out, tuple(nose.astype(int)), tuple(tip.astype(int)), color, 2 * scale)
        if faces.gaze is not None and faces.landmarks5 is not None:
            eyes = sorted(faces.landmarks5[i, :2].tolist())  # image-left eye first, as gaze_0
            for eye, vec in zip(eyes, faces.gaze[i]):
                if np.all(np.isfinite(vec)):
                    start = np.array(eye)
                    cv2.arrowedLine(out, tuple(start.astype(int)), tuple((start + vec[:2] * size * 0.5).astype(int)), WHITE, scale)
        cv2.putText(out, _label(faces, i), (x1, max(12, y1 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, GREEN, scale)
    return out


def save_image(path: str | Path, rgb: np.ndarray) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"could not write {path}")


class VideoOverlay:
    """Writes overlay frames to an .mp4 (mp4v) at the source frame rate."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps or 25.0, size)
        if not self.writer.isOpened():
            raise OSError(f"could not open {path} for writing")

    def write(self, rgb: np.ndarray) -> None:
        self.writer.write(np.ascontiguousarray(rgb[..., ::-1]))

    def close(self) -> None:
        self.writer.release()
