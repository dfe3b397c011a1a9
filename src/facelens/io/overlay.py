"""Draw what was found on an image: boxes, 68 points (or the mesh), head-pose axes, gaze rays, labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facelens.faces import Faces

GREEN, RED, BLUE, YELLOW, WHITE = (0, 220, 0), (230, 40, 40), (40, 90, 255), (250, 220, 0), (255, 255, 255)
LABEL_BG = (20, 20, 20)  # dark box behind label text, readable on light and dark images
FONT = cv2.FONT_HERSHEY_SIMPLEX


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
    texts = [_label(faces, i) for i in range(len(faces))]
    for text, (x, y, w, h) in zip(texts, label_boxes(faces.boxes, texts, out.shape[:2], scale)):
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), LABEL_BG, -1)
        cv2.putText(out, text, (x + 2 * scale, y + h - 3 * scale), FONT, 0.45 * scale, WHITE, scale, cv2.LINE_AA)
    return out


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def label_boxes(boxes: np.ndarray, texts: list[str], shape: tuple[int, int], scale: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of each face's label: above its box, else below, else inside its top edge;
    always inside the image, and the first place that overlaps no label placed before it."""
    height, width = shape
    placed: list[tuple[int, int, int, int]] = []
    for (x1, y1, x2, y2), text in zip(np.asarray(boxes).astype(int).tolist(), texts):
        (tw, th), base = cv2.getTextSize(text, FONT, 0.45 * scale, scale)
        w, h = min(width, tw + 4 * scale), min(height, th + base + 4 * scale)
        x = int(np.clip(x1, 0, width - w))
        spots = [(x, int(np.clip(y, 0, height - h))) for y in (y1 - h, y2 + 1, y1 + 1)]
        spots += [(x, int(np.clip(y, 0, height - h))) for y in range(0, height - h + 1, h)]
        rects = [(sx, sy, w, h) for sx, sy in spots]
        placed.append(next((r for r in rects if not any(_overlaps(r, p) for p in placed)), rects[0]))
    return placed


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
