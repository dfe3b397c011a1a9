"""Conditioning packs: per face, the files face-generation pipelines condition on.

`facelens pack INPUT -o DIR` writes, for face i of each input image, into `DIR/<stem>/face_<i>/`:

| file | content |
|---|---|
| `crop.png` | 112x112x3 RGB aligned crop (5-point similarity to the ArcFace template) |
| `landmarks.json` | `landmarks5` (5x2), `landmarks68` (68x2, iBUG layout), `box` (x1,y1,x2,y2), `image_size` (w,h), `pose` |
| `landmark_map.png` | HxWx3, the 68 points and their contours on black, image size |
| `pose_map.png` | HxWx3, head axes on black (x red, y green, z blue; orthographic projection at the nose tip) |
| `masks/<region>.png` | HxW uint8 0/255 for face_oval, right_brow, left_brow, right_eye, left_eye, nose, lips, inner_mouth |
| `embedding.npy` | (128,) float32 dlib descriptor |

The masks are mesh-derived (see `facelens.identity.regions`), not the output of a learned face
parser. H and W are the input image's height and width.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from facelens.api import Analyzer
from facelens.faces import Faces
from facelens.geometry.pose import rotation_matrix
from facelens.identity.regions import REGIONS
from facelens.io.overlay import save_image
from facelens.io.readers import is_video, list_inputs, read_image

FEATURES = "landmarks,pose,crops,identity,mesh"
# iBUG 68 contours (start, end, closed) for the landmark map.
_CONTOURS = [(0, 17, False), (17, 22, False), (22, 27, False), (27, 31, False), (31, 36, False),
             (36, 42, True), (42, 48, True), (48, 60, True), (60, 68, True)]
_COLOURS = [(255, 255, 255), (255, 128, 0), (255, 128, 0), (0, 200, 255), (0, 200, 255),
            (0, 255, 0), (0, 255, 0), (255, 0, 128), (255, 0, 255)]


def region_masks(mesh: np.ndarray, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """(478|468, 3) mesh of one face, image (w, h) -> region name -> (h, w) uint8 mask (0/255)."""
    w, h = size
    out = {}
    for name, (fill, cut) in REGIONS.items():
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(mesh[fill, :2]).astype(np.int32)), 255)
        if cut is not None:
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(mesh[cut, :2]).astype(np.int32)), 0)
        out[name] = mask
    return out


def landmark_map(lm68: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """68 points (68,2) drawn as coloured contours and dots on a black (h, w, 3) image."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    t = max(1, round(max(w, h) / 400))
    for (a, b, closed), colour in zip(_CONTOURS, _COLOURS):
        pts = np.round(lm68[a:b]).astype(np.int32)
        cv2.polylines(img, [pts], closed, colour, t, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, tuple(int(v) for v in p), t + 1, colour, -1, cv2.LINE_AA)
    return img


def pose_map(pose_R: np.ndarray, origin: np.ndarray, scale: float, size: tuple[int, int]) -> np.ndarray:
    """Head axes (pitch, yaw, roll in radians) drawn at `origin` on a black (h, w, 3) image."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    if not np.isfinite(pose_R).all():
        return img
    M = rotation_matrix(pose_R[None])[0]
    o = np.asarray(origin, np.float64)
    for k, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        end = o + scale * M[:2, k]
        cv2.arrowedLine(img, tuple(int(v) for v in np.round(o)), tuple(int(v) for v in np.round(end)), colour,
                        max(2, round(max(w, h) / 200)), cv2.LINE_AA, tipLength=0.15)
    return img


def write_face(folder: Path, faces: Faces, i: int, size: tuple[int, int]) -> None:
    """Write one face's pack files (see the module table) into `folder`."""
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    save_image(folder / "crop.png", faces.crops[i])
    box = faces.boxes[i]
    info = {"landmarks5": faces.landmarks5[i].round(2).tolist(), "landmarks68": faces.landmarks68[i].round(2).tolist(),
            "box": box.round(1).tolist(), "image_size": list(size),
            "pose": dict(zip(["pitch", "yaw", "roll"], [round(float(v), 4) for v in faces.pose_R[i]]))}
    (folder / "landmarks.json").write_text(json.dumps(info, indent=1) + "\n")
    save_image(folder / "landmark_map.png", landmark_map(faces.landmarks68[i], size))
    scale = 0.5 * float(box[2] - box[0])
    save_image(folder / "pose_map.png", pose_map(faces.pose_R[i], faces.mesh[i, 1, :2], scale, size))
    for name, mask in region_masks(faces.mesh[i], size).items():
        cv2.imwrite(str(folder / "masks" / f"{name}.png"), mask)
    np.save(folder / "embedding.npy", faces.embedding[i].astype(np.float32))


def pack(inputs: list[str | Path], out: Path, max_faces: int | None = None) -> tuple[list[Path], list[str]]:
    """Write conditioning packs of every face in the input images; returns face folders and problems."""
    analyzer = Analyzer(FEATURES, max_faces=max_faces)
    written: list[Path] = []
    problems: list[str] = []
    for path in list_inputs(inputs):
        if is_video(path):
            problems.append(f"{path}: packs are made from images; extract the frames you want first")
            continue
        result = next(iter(analyzer.iter(path)))
        if result.error:
            problems.append(result.error)
            continue
        if len(result.faces) == 0:
            problems.append(f"{path}: no face")
            continue
        rgb = read_image(path)
        size = (rgb.shape[1], rgb.shape[0])
        for i in range(len(result.faces)):
            folder = out / Path(path).stem / f"face_{i}"
            write_face(folder, result.faces, i, size)
            written.append(folder)
    return written, problems
