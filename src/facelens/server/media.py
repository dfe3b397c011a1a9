"""Bytes in and out of the REST API: uploads decoded to RGB, rows as JSON, overlays as data URLs,
finished tables as files."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from facelens.errors import FacelensError, InputError
from facelens.faces import Faces, FrameResult
from facelens.io import readers
from facelens.io.writers import TableWriter
from facelens.server.errors import ApiError
from facelens.server.jobs import Job

OVERLAY_MAX_SIDE = 1600
# The only decoders an upload reaches (Pillow format names; JPEG includes multi-picture JPEG).
# Multi-page TIFF and animated GIF give their first frame.
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
UPLOAD_FORMAT_NAMES = "JPEG, PNG, WebP, BMP, TIFF or GIF"


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: float32 values at float32 precision, NaN and inf as null."""

    def clean(v: Any) -> Any:
        if isinstance(v, float):
            return float(f"{v:.8g}") if math.isfinite(v) else None
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return [{k: clean(v) for k, v in row.items()} for row in table.to_pylist()]


def decode_image(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """An upload to RGB with only the `UPLOAD_FORMATS` decoders: 400 empty, 415 not one of them,
    413 too many pixels, 422 corrupt."""
    if not data:
        raise ApiError(f"{name}: empty upload (0 bytes)", 400)
    try:
        with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as img:
            w, h = img.size
    except Image.DecompressionBombError:
        raise ApiError(f"{name}: image is over the {max_pixels:,}-pixel limit", 413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ApiError(f"{name}: not an image in a format the server accepts ({UPLOAD_FORMAT_NAMES})", 415) from None
    if w * h > max_pixels:
        raise ApiError(f"{name}: {w}x{h} image is over the {max_pixels:,}-pixel limit", 413)
    try:
        return readers.read_image(data, formats=UPLOAD_FORMATS)
    except InputError as exc:
        raise ApiError(str(exc).replace("<bytes>", name), 422) from None


def overlay_data_url(rgb: np.ndarray, faces: Faces, mesh: bool) -> str:
    """`io.overlay.draw` of the faces, shrunk to at most OVERLAY_MAX_SIDE px, as a JPEG data URL."""
    from facelens.io.overlay import draw

    drawn = draw(rgb, faces, mesh=mesh)
    h, w = drawn.shape[:2]
    scale = OVERLAY_MAX_SIDE / max(h, w)
    if scale < 1:  # each side at least 1 px, so a 39999x1 strip still shrinks
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        drawn = cv2.resize(drawn, size, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(drawn[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise FacelensError("could not encode the overlay image")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()


def box_list(box: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in box]


def upload_name(file: UploadFile, default: str) -> str:
    """An upload's display name: the last part of its file name after any / or \\, without control
    characters, at most 255 characters. Never looked up as a path."""
    name = re.split(r"[/\\]", file.filename or "")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if len(name) > 255:
        suffix = Path(name).suffix[:16]
        name = name[:255 - len(suffix)] + suffix
    return default if name in ("", ".", "..") else name


def table_bytes(job: Job, fmt: str) -> bytes:
    """A finished job's table in `fmt`, written by `TableWriter` to a temp file read back at once."""
    if fmt == "json":
        table = job.table(vectors=True)
        return json.dumps({"columns": table.column_names, "rows": json_rows(table)}).encode()
    with tempfile.TemporaryDirectory(prefix="facelens-result-") as folder:
        path = Path(folder) / f"result.{fmt}"
        with TableWriter(path, job.features) as writer:
            writer.write(job.results)
            if not job.results:
                writer.write([FrameResult(job.file, Faces.empty())])
        return path.read_bytes()
