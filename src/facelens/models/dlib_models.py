"""dlib's networks from the face-recognition-models package, run with dlib itself.

- `DlibEmbedder`: the 128-D ResNet face descriptor (LFW 99.38%, CC0), on dlib's own 150×150
  face chips aligned by its 5-point predictor (CC0).
- `OnnxEmbedder` (the default): the same network and chips, its weights rebuilt as ONNX from
  face-api's uint8 copy (`tools/build_dlib_resnet_onnx.py`, stored as float16, computed in
  float32) and run with onnxruntime, which batches the faces of a frame and releases the GIL.
  On the 40 shared identity faces its descriptors lie 0.038 from dlib's (mean Euclidean
  distance, descriptors of norm ~1.47; max 0.045), pair distances differ by 0.003 on average
  (max 0.013), pair accuracy at 0.6 is the same (0.996 on 780 pairs), at 8-12x dlib's speed on
  the same cores. The float16 storage moves descriptors by under 0.001 from float32 weights.
- `DlibLandmarks68`: the iBUG 68-point shape predictor. Its weights were trained on iBUG 300-W
  and are licensed for non-commercial research only; facelens derives 68 points from the mesh by
  default and uses this only when asked (`landmarks68="dlib"`).
"""

from __future__ import annotations

import threading

import numpy as np

from facelens.models.runtime import HEAD_BATCH, Model, asset_path

# Same-person threshold on Euclidean distance between descriptors, as dlib documents for this net.
DLIB_THRESHOLD = 0.6
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # dlib's compute_face_descriptor chip
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)  # dlib's input_rgb_image means; scale 1/256


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
    """`DlibEmbedder()(rgb, boxes (N,4), landmarks5=None) -> (N,128)` float32 descriptors.

    dlib aligns its own chips with its 5-point predictor on each box, so `landmarks5` is unused.
    """

    name = "dlib_face_recognition_resnet_model_v1"
    threshold = DLIB_THRESHOLD
    # Same person above this cosine similarity: the value that maximises same/different accuracy
    # over the 946 pairs of the shared identity set (0.990 there; 0.6 Euclidean gives 0.993).
    # Descriptor norms are 1.3-1.6, so it is not 1 - 0.6**2 / 2.
    cosine_threshold = 0.92

    @property
    def sha256(self) -> str:
        """The sha256 of dlib's weights file (from the model MANIFEST; its ONNX rebuild shares it)."""
        from facelens.models.runtime import manifest

        return manifest()["dlib_face_recognition_resnet"]["sha256"]

    @property
    def version(self) -> str:
        """Where the weights come from and their sha256 prefix (from the model MANIFEST)."""
        from facelens.models.runtime import manifest

        entry = manifest()["dlib_face_recognition_resnet"]
        return f"{entry['source'].split(':')[1]} sha256:{self.sha256[:12]}"

    def _load(self) -> None:
        import dlib

        self.sp5 = dlib.shape_predictor(str(asset_path("dlib_shape_predictor_5")))
        self.net = dlib.face_recognition_model_v1(str(asset_path("dlib_face_recognition_resnet")))

    def __call__(self, rgb: np.ndarray, boxes: np.ndarray, landmarks5: np.ndarray | None = None) -> np.ndarray:
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


class OnnxEmbedder(DlibEmbedder):
    """`OnnxEmbedder()(rgb, boxes (N,4), landmarks5=None) -> (N,128)`: dlib's descriptor net run with
    onnxruntime. The same network, chips and threshold as `DlibEmbedder`, so it shares its name and
    version: galleries made with either stay comparable."""

    def _load(self) -> None:
        import dlib

        self.sp5 = dlib.shape_predictor(str(asset_path("dlib_shape_predictor_5")))
        self.net = Model("dlib_resnet_onnx", max_batch=HEAD_BATCH)

    def chips(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N,150,150,3) uint8 chips, exactly as dlib's `compute_face_descriptor` cuts them."""
        import dlib

        with self._lock:
            self._ensure()
            return np.stack([np.asarray(dlib.get_face_chip(rgb, self.sp5(rgb, r), CHIP_SIZE, CHIP_PADDING))
                             for r in _rects(boxes)])

    def __call__(self, rgb: np.ndarray, boxes: np.ndarray, landmarks5: np.ndarray | None = None) -> np.ndarray:
        if len(boxes) == 0:
            return np.zeros((0, 128), np.float32)
        x = ((self.chips(rgb, boxes).astype(np.float32) - MEAN_RGB) / 256.0).transpose(0, 3, 1, 2)
        (desc,) = self.net(np.ascontiguousarray(x))
        return np.asarray(desc, np.float32)


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
