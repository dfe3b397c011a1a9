"""What `facelens clean` needs from each image besides its face rows, computed on the worker that
decoded the image, so that no image passes through the driver (a dataset in object storage is read
by the workers alone): the image's perceptual hash, the sharpness of each face box and the
thumbnail the HTML report shows."""

from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa

from facelens.geometry.quality import sharpness
from facelens.scale.clean.hashing import phash

THUMB = 96  # thumbnail size in the HTML report: longest side, pixels
THUMB_QUALITY = 80  # its JPEG quality


def thumbnail(rgb: np.ndarray) -> bytes:
    """JPEG bytes of the image shrunk to at most `THUMB` px on its longest side (never enlarged)."""
    scale = min(1.0, THUMB / max(rgb.shape[:2]))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return buf.tobytes() if ok else b""


def _boxes(rows: pa.Table) -> np.ndarray:
    """(N, 2, 2) face boxes (x1, y1), (x2, y2) of the rows; NaN where a row has no face."""
    x, y, w, h = (np.asarray(rows.column(c).to_numpy(zero_copy_only=False), np.float64)
                  for c in ("face_x", "face_y", "face_w", "face_h"))
    return np.stack([x, y, x + w, y + h], 1).reshape(-1, 2, 2)


def image_signals(rgb: np.ndarray | None, rows: pa.Table) -> pa.Table:
    """One image's rows (openface column names) with three columns added (`facelens.scale.local.Extra`):

    - ``phash``: the image's 8-byte pHash (`hashing.phash`), on each of its rows;
    - ``sharpness``: `geometry.quality.sharpness` over the row's face box (NaN without a face);
    - ``thumb``: the report thumbnail (`thumbnail`), on each of its rows.

    Without an image (unreadable) all three are null.
    """
    n = rows.num_rows
    if rgb is None:
        return (rows.append_column("phash", pa.nulls(n, pa.binary()))
                .append_column("sharpness", pa.array(np.full(n, np.nan), pa.float64()))
                .append_column("thumb", pa.nulls(n, pa.binary())))
    sharp = sharpness(rgb, _boxes(rows)) if n else np.zeros(0)
    return (rows.append_column("phash", pa.array([phash(rgb).tobytes()] * n, pa.binary()))
            .append_column("sharpness", pa.array(sharp, pa.float64()))
            .append_column("thumb", pa.array([thumbnail(rgb)] * n, pa.binary())))
