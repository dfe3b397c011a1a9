"""A face-recognition network that the user supplies as an ONNX file (ArcFace, CurricularFace, ...).

`OnnxFaceEmbedder(spec)(rgb, boxes, landmarks5) -> (N, D)` cuts each face with the 5-point ArcFace
template (`geometry.align`, the alignment InsightFace's models were trained on), normalises it as
`spec.norm` says, runs the network with onnxruntime and L2-normalises the output.

Input size and layout (NCHW or NHWC) are read from the model's input shape; a dynamic side needs
`input_size`. Distances: embeddings are unit vectors, so the Euclidean distance between two is
`sqrt(2 - 2 cos)`, and a cosine-similarity threshold `s` is the distance threshold
`sqrt(2 - 2 s)`. Every identity tool (verify, cluster, gallery, clean) compares Euclidean
distances against `threshold`, so one code path serves dlib's descriptor (0.6) and these.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facelens.errors import ModelError
from facelens.models.dlib_models import MEAN_RGB as DLIB_MEAN
from facelens.models.runtime import file_sha256

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
NORMS = ("arcface", "0-1", "imagenet", "dlib", "raw")
# Conventions of the model families users bring. InsightFace's ArcFace models (antelopev2
# glintr100, buffalo_l w600k_r50) take RGB 112x112 as (x - 127.5) / 127.5; the CurricularFace
# backbone that ConsisID's evaluation uses takes the same crop and (x / 255 - 0.5) / 0.5, the
# same numbers. The cosine threshold 0.3 is a common operating point for such models, not one
# facelens fitted (it cannot run them): set your own with `threshold`.
PRESETS: dict[str, dict[str, Any]] = {
    "arcface": {"input_size": 112, "norm": "arcface", "threshold": 0.3},
    "curricularface": {"input_size": 112, "norm": "arcface", "threshold": 0.3},
}


class EmbedderError(ModelError):
    """A user-supplied embedder is missing, not ONNX, or does not take an aligned face crop."""


@dataclass(frozen=True)
class EmbedderSpec:
    """Which ONNX face embedder to run and how to feed it.

    path : the .onnx file.
    input_size : crop side in pixels; None reads it from the model (needed when the model's side is dynamic).
    norm : "arcface" ((x - 127.5) / 127.5), "0-1" (x / 255), "imagenet" (x / 255, ImageNet mean/std),
        "dlib" ((x - dlib's RGB means) / 256, as dlib-trained nets converted to ONNX take it) or "raw"
        (0-255), on RGB.
    threshold : same person when cosine similarity is at least this.
    """

    path: Path
    input_size: int | None = None
    norm: str = "arcface"
    threshold: float = 0.3

    @classmethod
    def from_options(cls, path: str | Path, preset: str | None = None, input_size: int | None = None,
                     norm: str | None = None, threshold: float | None = None) -> EmbedderSpec:
        """A spec from a preset ("arcface", "curricularface") with any option overriding it."""
        if preset is not None and preset not in PRESETS:
            raise EmbedderError(f"unknown embedder preset {preset!r}; choose one of {', '.join(PRESETS)}")
        base = dict(PRESETS[preset]) if preset else {}
        for key, value in (("input_size", input_size), ("norm", norm), ("threshold", threshold)):
            if value is not None:
                base[key] = value
        spec = cls(Path(path).expanduser().absolute(), **base)  # absolute: workers may run elsewhere
        if spec.norm not in NORMS:
            raise EmbedderError(f"unknown embedder norm {spec.norm!r}; choose one of {', '.join(NORMS)}")
        if not -1.0 <= spec.threshold <= 1.0:
            raise EmbedderError(f"embedder threshold is a cosine similarity in [-1, 1], not {spec.threshold}")
        return spec


def normalise(crops: np.ndarray, norm: str) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB crops -> float32 network input values (same layout)."""
    x = crops.astype(np.float32)
    if norm == "arcface":
        return (x - 127.5) / 127.5
    if norm == "0-1":
        return x / 255.0
    if norm == "imagenet":
        return (x / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    if norm == "dlib":
        return (x - DLIB_MEAN) / 256.0
    return x


def _side(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxFaceEmbedder:
    """`OnnxFaceEmbedder(spec)(rgb, boxes (N,4), landmarks5 (N,5,2)) -> (N,D)` unit-length float32
    embeddings; the crops are cut by `landmarks5` (the boxes are not needed).

    Picklable: it pickles as its spec and opens its session again on the other side. The model
    is opened and checked when the embedder is built, so a bad file fails before any analysis.
    """

    def __init__(self, spec: EmbedderSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._session = self._open()
        self.sha256 = file_sha256(spec.path)
        self.name = spec.path.name
        self.version = f"sha256:{self.sha256[:12]}"
        self.threshold = math.sqrt(max(0.0, 2.0 - 2.0 * spec.threshold))
        self.cosine_threshold = spec.threshold

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"])  # type: ignore[misc]

    def _open(self) -> Any:
        """The onnxruntime session, after checking the file and the model's input and output."""
        import onnxruntime as ort

        path = self.spec.path
        if not path.is_file():
            raise EmbedderError(f"embedder {path}: no such file")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for unreadable models
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EmbedderError(f"embedder {path}: not a loadable ONNX model ({first[:200]})") from None
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1:
            raise EmbedderError(f"embedder {path}: expected one input (a face crop), found {len(inputs)}")
        shape = list(inputs[0].shape)
        if len(shape) != 4:
            raise EmbedderError(f"embedder {path}: expected a 4-D image input (N,3,H,W or N,H,W,3), got shape {shape}")
        if shape[1] == 3:
            self.layout, sides = "NCHW", shape[2:]
        elif shape[3] == 3:
            self.layout, sides = "NHWC", shape[1:3]
        else:
            raise EmbedderError(f"embedder {path}: no 3-channel axis in input shape {shape}")
        h, w = (_side(s) for s in sides)
        if h is not None and w is not None and h != w:
            raise EmbedderError(f"embedder {path}: expected a square crop, input is {h}x{w}")
        size = h or w
        if self.spec.input_size is not None and size is not None and self.spec.input_size != size:
            raise EmbedderError(f"embedder {path}: input_size {self.spec.input_size} but the model takes {size}x{size}")
        self.input_size = size or self.spec.input_size
        if self.input_size is None:
            raise EmbedderError(f"embedder {path}: the model's input side is dynamic; give input_size (--embedder-input)")
        self.batch = _side(shape[0])  # None: any batch size
        self.input_name = inputs[0].name
        out = list(outputs[0].shape)
        if len(out) < 2 or any(_side(d) not in (None, 1) for d in out[2:]):
            raise EmbedderError(f"embedder {path}: expected an (N, D) embedding output, got shape {out}")
        return session

    def __call__(self, rgb: np.ndarray, boxes: np.ndarray, landmarks5: np.ndarray) -> np.ndarray:
        from facelens.geometry.align import align

        if len(landmarks5) == 0:
            return np.zeros((0, 0), np.float32)
        x = normalise(align(rgb, landmarks5, self.input_size), self.spec.norm)
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        x = np.ascontiguousarray(x, np.float32)
        step = self.batch or len(x)
        with self._lock:
            parts = [self._session.run(None, {self.input_name: x[i:i + step]})[0] for i in range(0, len(x), step)]
        emb = np.concatenate(parts).reshape(len(x), -1).astype(np.float32)
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
