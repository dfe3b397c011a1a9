"""Face verification on the analyzer's embedder: dlib's 128-D ResNet descriptor by default, or a
user-supplied ONNX model (`facelens.models.embedder`).

`verify(a, b)` embeds every face of two images and compares the closest pair. The decision
threshold is the embedder's; for dlib it is dlib's documented 0.6 Euclidean distance (`DLIB_THRESHOLD`):
on the shared identity set (8 people x 5 crops + 4 photos, 946 pairs) it separates same from
different pairs with accuracy 0.993, and the accuracy-maximising threshold found by
`benchmarks/identity.py` lies close to it (see `benchmarks/results/identity.json`), so the
documented value is kept rather than one fitted to 44 images.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facelens.api import Analyzer, Source
from facelens.errors import FeatureError, InputError, NoFaceError
from facelens.faces import Faces, FrameResult
from facelens.io import readers
from facelens.io.readers import is_video
from facelens.models.dlib_models import DlibEmbedder
from facelens.models.embedder import EmbedderSpec

log = logging.getLogger(__name__)

THRESHOLD = DlibEmbedder.threshold
COSINE_THRESHOLD = DlibEmbedder.cosine_threshold
EMBEDDING_MODEL = DlibEmbedder.name


@dataclass
class Embedded:
    """Faces of one image with embeddings; `whole_image` is True when no face was detected and the
    whole image was embedded as one pre-cropped face."""

    result: FrameResult
    whole_image: bool

    @property
    def faces(self) -> Faces:
        return self.result.faces


def embed(source: Source, max_faces: int | None = None, features: str = "identity", *,
          analyzer: Analyzer | None = None, whole_if_none: bool = False) -> Embedded:
    """Detect and embed the faces of one image (path, RGB array or encoded bytes).

    When detection finds no face the result has no faces; with `whole_if_none` (for tight crops
    the detector misses even padded) the whole image is embedded as one face instead and
    `whole_image` says so. `analyzer` (with the identity
    feature) reuses loaded models; otherwise one is built from `features` and `max_faces`.
    Raises `InputError` when the image cannot be read.
    """
    analyzer = identity_analyzer(analyzer, features, max_faces)
    name, rgb = read_one(source)
    faces, whole = analyzer.faces_or_whole(rgb) if whole_if_none else (analyzer.faces(rgb), False)
    if whole:
        log.info("%s: no face detected; embedding the whole image as one face", name)
    h, w = rgb.shape[:2]
    return Embedded(FrameResult(name, faces, width=w, height=h), whole)


def identity_analyzer(analyzer: Analyzer | None, features: str = "identity", max_faces: int | None = None) -> Analyzer:
    """`analyzer`, checked to compute embeddings, or a new one for `features`."""
    analyzer = analyzer if analyzer is not None else Analyzer(features, max_faces=max_faces)
    if "identity" not in analyzer.features:
        raise FeatureError("the analyzer does not compute embeddings; create it with the identity feature")
    return analyzer


def read_one(source: Source) -> tuple[str, np.ndarray]:
    """(name, RGB) of one image: a path, an RGB array or encoded bytes (a video: its first frame)."""
    if isinstance(source, np.ndarray):
        return "<array>", readers.as_rgb(source)
    if isinstance(source, (bytes, bytearray)):
        return "<bytes>", readers.read_image(bytes(source))
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{source}: expected one image, got a folder")
    if is_video(path):
        frame = next(readers.read_video(path), None)
        if frame is None:
            raise InputError(f"{source}: no frame could be read")
        return str(path), frame.rgb
    return str(path), readers.read_image(path)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,D), (M,D) -> (N,M) Euclidean distances."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,D), (M,D) -> (N,M) cosine similarities."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


@dataclass
class Verification:
    """Result of `verify`: the closest pair of faces and the decision."""

    distance: float
    same: bool
    threshold: float
    similarity: float
    model: str
    face_a: int
    face_b: int
    box_a: list[float]
    box_b: list[float]
    faces_a: int
    faces_b: int
    whole_image_a: bool
    whole_image_b: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def closest_pair(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """(i, j, distance) of the closest pair between (N,D) and (M,D) embeddings."""
    if len(a) == 0 or len(b) == 0:
        raise InputError("no face to compare: one side has no embedding")
    d = distances(a, b)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return int(i), int(j), float(d[i, j])


def as_embedded(side: Source | Faces | Embedded, analyzer: Analyzer | None, whole_if_none: bool = False) -> Embedded:
    """An `Embedded` from a source (embedded with `analyzer`), or precomputed `Faces`/`Embedded`."""
    if isinstance(side, Embedded):
        return side
    if isinstance(side, Faces):
        if side.embedding is None:
            raise FeatureError("these Faces carry no embedding; analyse them with the identity feature")
        return Embedded(FrameResult("<faces>", side), False)
    return embed(side, analyzer=analyzer, whole_if_none=whole_if_none)


def verify(a: Source | Faces | Embedded, b: Source | Faces | Embedded, threshold: float | None = None, *,
           analyzer: Analyzer | None = None, whole_if_none: bool = False) -> Verification:
    """Are the faces in `a` and `b` the same person?

    Each side is an image (path, RGB array, encoded bytes) or what an earlier stage gave:
    `Faces` with embeddings (e.g. `analyzer.faces(rgb)` with the identity feature) or an
    `Embedded` from `embed`. Images are embedded with `analyzer` (with the identity feature;
    default: one `Analyzer("identity")` for both). With several faces per image the closest pair
    is compared and returned (`face_a`, `face_b` index the faces in the detector's order, as
    `Analyzer.faces` returns them). Same person when the Euclidean distance between the
    embeddings is below `threshold` (default: the analyzer's embedder's, 0.6 for dlib, dlib's
    documented value; precomputed sides without an analyzer use dlib's). `similarity` is their
    cosine similarity. Raises `InputError` for unreadable images and `NoFaceError` (naming the
    sides) when a side has no face detected, unless `whole_if_none` embeds such an image whole
    (`whole_image_a`/`whole_image_b` say so).
    """
    if analyzer is None and not all(isinstance(s, (Faces, Embedded)) for s in (a, b)):
        analyzer = Analyzer("identity")
    ea, eb = as_embedded(a, analyzer, whole_if_none), as_embedded(b, analyzer, whole_if_none)
    empty = [e.result.source for e in (ea, eb) if len(e.faces) == 0]
    if empty:
        raise NoFaceError(f"no face detected in {' and '.join(empty)}", empty)
    i, j, dist = closest_pair(ea.faces.embedding, eb.faces.embedding)
    embedder = analyzer.embedder if analyzer is not None else DlibEmbedder
    threshold = embedder.threshold if threshold is None else threshold
    sim = float(cosine(ea.faces.embedding[i:i + 1], eb.faces.embedding[j:j + 1])[0, 0])
    return Verification(dist, dist < threshold, threshold, round(sim, 4), embedder.name, i, j,
                        [round(float(v), 1) for v in ea.faces.boxes[i]], [round(float(v), 1) for v in eb.faces.boxes[j]],
                        len(ea.faces), len(eb.faces), ea.whole_image, eb.whole_image)


@dataclass
class FaceRows:
    """Embedded faces of many inputs, one row per face per frame (parallel arrays)."""

    files: list[str]
    frames: np.ndarray  # (N,) int
    boxes: np.ndarray  # (N,4) float32 x1,y1,x2,y2
    embeddings: np.ndarray  # (N,128) float32
    track_ids: np.ndarray  # (N,) int, -1 for still images
    whole_image: np.ndarray  # (N,) bool: embedded as a whole image (no face detected)
    model: str = DlibEmbedder.name  # the embedder that made the rows
    model_version: str = field(default_factory=lambda: DlibEmbedder().version)  # weights' source, sha256 prefix
    threshold: float = THRESHOLD  # its same-person Euclidean distance

    def __len__(self) -> int:
        return len(self.files)


def collect(inputs: list[Source], *, max_faces: int | None = None, whole_if_none: bool = False,
            every: int = 1, embedder: EmbedderSpec | None = None) -> tuple[FaceRows, list[str]]:
    """Embed every face of images, folders and videos (video frames every `every`-th).

    `whole_if_none` embeds an image with no detected face as one whole-image face (for tight
    crops); `embedder` a user-supplied ONNX model instead of dlib's descriptor. Returns the rows
    and one message per input that failed or gave no face.
    """
    analyzer = Analyzer("identity", max_faces=max_faces, embedder=embedder)
    tag = {"model": analyzer.embedder.name, "model_version": analyzer.embedder.version,
           "threshold": analyzer.embedder.threshold}
    files: list[str] = []
    frames, boxes, embs, tracks, whole = [], [], [], [], []
    problems: list[str] = []
    for result in analyzer.iter(inputs, every=every):
        faces, is_whole = result.faces, False
        if result.error:
            problems.append(result.error)
            continue
        if len(faces) == 0 and whole_if_none and result.source not in ("<array>", "<bytes>") \
                and not is_video(result.source):
            faces, is_whole = analyzer.run(read_one(result.source)[1], whole=True), True
        if faces.embedding is None or len(faces) == 0:
            if result.frame == 0:
                problems.append(f"{result.source}: no face")
            continue
        keep = np.isfinite(faces.embedding).all(1)
        n = int(keep.sum())
        files += [result.source] * n
        frames.append(np.full(n, result.frame))
        boxes.append(faces.boxes[keep])
        embs.append(faces.embedding[keep])
        tid = faces.track_id[keep] if faces.track_id is not None else np.full(n, -1)
        tracks.append(tid)
        whole.append(np.full(n, is_whole))
    if not files:
        return FaceRows([], np.zeros(0, int), np.zeros((0, 4), np.float32), np.zeros((0, 128), np.float32),
                        np.zeros(0, int), np.zeros(0, bool), **tag), problems
    return FaceRows(files, np.concatenate(frames), np.concatenate(boxes).astype(np.float32),
                    np.concatenate(embs).astype(np.float32), np.concatenate(tracks).astype(int),
                    np.concatenate(whole), **tag), problems
