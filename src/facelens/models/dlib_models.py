"""dlib's networks from the face-recognition-models package, run with dlib itself.

- `DlibEmbedder`: the 128-D ResNet face descriptor (LFW 99.38%, CC0), on dlib's own 150×150
  face chips aligned by its 5-point predictor (CC0).
- `DlibLandmarks68`: the iBUG 68-point shape predictor. Its weights were trained on iBUG 300-W
  and are licensed for non-commercial research only; facelens derives 68 points from the mesh by
  default and uses this only when asked (`landmarks68="dlib"`).
"""

from __future__ import annotations

import threading

import numpy as np

from facelens.models.runtime import asset_path

# Same-person threshold on Euclidean distance between descriptors, as dlib documents for this net.
DLIB_THRESHOLD = 0.6


def _rects(boxes: np.ndarray):  # noqa: ANN202 - dlib types
    import dlib

    return [dlib.rectangle(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in boxes]


class _Dlib:
    """Lazy loading, pickling by name, one call at a time (dlib objects are not shared across threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def _ensure(self) -> None:
        if not self._loaded:
            self._load()
            self._loaded = True

    def _load(self) -> None:
        raise NotImplementedError


class DlibEmbedder(_Dlib):
    """`DlibEmbedder()(rgb, boxes (N,4)) -> (N,128)` float32 descriptors."""

    def _load(self) -> None:
        import dlib

        self.sp5 = dlib.shape_predictor(str(asset_path("dlib_shape_predictor_5")))
        self.net = dlib.face_recognition_model_v1(str(asset_path("dlib_face_recognition_resnet")))

    def __call__(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) == 0:
            return np.zeros((0, 128), np.float32)
        import dlib

        with self._lock:
            self._ensure()
            shapes = dlib.full_object_detections()
            for r in _rects(boxes):
                shapes.append(self.sp5(rgb, r))
            desc = self.net.compute_face_descriptor(rgb, shapes)
        return np.asarray([np.asarray(d) for d in desc], np.float32)


class DlibLandmarks68(_Dlib):
    """`DlibLandmarks68()(rgb, boxes (N,4)) -> (N,68,2)` iBUG points (non-commercial weights)."""

    def _load(self) -> None:
        import dlib

        self.sp68 = dlib.shape_predictor(str(asset_path("dlib_shape_predictor_68")))

    def __call__(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        with self._lock:
            self._ensure()
            out = [[(p.x, p.y) for p in self.sp68(rgb, r).parts()] for r in _rects(boxes)]
        return np.asarray(out, np.float32).reshape(len(boxes), 68, 2)
