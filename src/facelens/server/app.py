"""The FastAPI app behind `facelens serve`: REST under /api/v1 and the web page at /.

CPU work runs in worker threads on analyzers lent by an `AnalyzerPool`; the event loop only
moves bytes. Uploads stay in memory (videos: in a private temp folder until their job ends),
and neither images nor embeddings are ever logged.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import cv2
import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Depends, FastAPI, File, Query, Request, Security, UploadFile
from fastapi.exceptions import HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facelens import __version__
from facelens.api import Analyzer
from facelens.errors import FacelensError, InputError, SettingError
from facelens.faces import Faces, FrameResult
from facelens.features import DEFAULT_FEATURES
from facelens.io import readers
from facelens.io.writers import TableWriter
from facelens.models.runtime import manifest
from facelens.schema import to_arrow
from facelens.server.jobs import AnalyzerPool, Busy, Job, JobStore, UploadError, request_features

log = logging.getLogger(__name__)
STATIC = Path(str(files("facelens") / "server" / "static"))
WARM_IMAGE = Path(str(files("facelens") / "samples" / "astronaut.jpg"))
OVERLAY_MAX_SIDE = 1600
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Server limits; each can be set by an environment variable (`FACELENS_<NAME>`) or `serve` option."""

    max_upload_mb: float = 50.0  # largest request body, form framing included
    max_pixels: int = 40_000_000  # largest image (or video frame) in pixels
    timeout_s: float = 60.0  # longest an image request may wait and run
    api_key: str | None = None  # when set, every /api call needs it in the X-API-Key header
    job_ttl_s: float = 3600.0  # how long a finished video job keeps its results
    workers: int = os.cpu_count() or 1  # pooled analyzers (parallel analyses)
    max_video_frames: int = 3000  # most frames one video job may analyse
    preload: bool = True  # load the default models at start-up rather than on the first request
    gallery: str | None = None  # folder of the face gallery (LanceDB); the gallery endpoints are off without it

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
        """Defaults, then `FACELENS_*` variables, then `overrides` that are not None."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"FACELENS_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls, f.name)) if getattr(cls, f.name) is not None else str
            try:
                values[f.name] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
            except ValueError:
                raise SettingError(f"FACELENS_{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        for name in ("max_upload_mb", "max_pixels", "timeout_s", "job_ttl_s", "workers", "max_video_frames"):
            if getattr(settings, name) <= 0:
                raise SettingError(f"{name} must be positive, got {getattr(settings, name)}")
        return settings

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


# Response bodies, for the OpenAPI document.
class Table(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]


class AnalyzeResult(Table):
    file: str
    width: int
    height: int
    features: list[str]
    faces: int
    seconds: float
    overlay: str | None = None


class JobInfo(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    file: str
    features: list[str]
    frames_done: int
    frames_total: int
    progress: float
    error: str | None
    created: float
    finished: float | None
    expires_at: float | None
    result: Table | None = None


class VerifyResult(BaseModel):
    same: bool
    distance: float
    threshold: float
    face_a: int
    face_b: int
    boxes: list[list[float]]
    faces_found: list[int]
    whole_image: list[bool]
    seconds: float


class GalleryNames(BaseModel):
    names: dict[str, int]
    faces: int


class GalleryChange(BaseModel):
    name: str
    faces: int
    total: int


class GalleryMatch(BaseModel):
    name: str
    distance: float
    same: bool
    file: str


class GalleryHits(BaseModel):
    face: int
    box: list[float]
    whole_image: bool
    matches: list[GalleryMatch]


class ModelInfo(BaseModel):
    name: str
    runtime: str
    licence: str
    source: str
    version: str | None
    sha256: str
    bytes: int | None


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    workers: int
    free_workers: int
    default_features: list[str]


class Error(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": text} for code, text in {
        400: "empty upload", 401: "missing or wrong X-API-Key", 404: "unknown or expired job; gallery off",
        409: "job not finished", 413: "upload or image over the limits", 415: "not an image / not a video",
        422: "corrupt file, unknown feature or no face", 429: "too many video jobs waiting", 504: "timed out",
    }.items()
}


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
    """An upload to RGB: 400 empty, 415 not an image, 413 too many pixels, 422 corrupt."""
    if not data:
        raise UploadError(f"{name}: empty upload (0 bytes)", 400)
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
    except Image.DecompressionBombError:
        raise UploadError(f"{name}: image is over the {max_pixels:,}-pixel limit", 413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UploadError(f"{name}: not an image in a format facelens reads (JPEG, PNG, WebP, TIFF, BMP, GIF...)", 415) from None
    if w * h > max_pixels:
        raise UploadError(f"{name}: {w}x{h} image is over the {max_pixels:,}-pixel limit", 413)
    try:
        return readers.read_image(data)
    except InputError as exc:
        raise UploadError(str(exc).replace("<bytes>", name), 422) from None


def overlay_data_url(rgb: np.ndarray, faces: Faces, mesh: bool) -> str:
    """`io.overlay.draw` of the faces, shrunk to at most OVERLAY_MAX_SIDE px, as a JPEG data URL."""
    from facelens.io.overlay import draw

    drawn = draw(rgb, faces, mesh=mesh)
    scale = OVERLAY_MAX_SIDE / max(drawn.shape[:2])
    if scale < 1:
        drawn = cv2.resize(drawn, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(drawn[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise FacelensError("could not encode the overlay image")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()


def identity_faces(analyzer: Analyzer, rgb: np.ndarray, name: str, whole_if_none: bool) -> tuple[Faces, bool]:
    """Faces with embeddings, and whether the whole image stood in for a face when none was
    detected (as `facelens verify` does for tight crops); 422 with no face and no stand-in."""
    if whole_if_none:
        return analyzer.faces_or_whole(rgb)
    faces = analyzer.faces(rgb)
    if not len(faces):
        raise UploadError(f"{name}: no face found", 422)
    return faces, False


def box_list(box: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in box]


def upload_name(file: UploadFile, default: str) -> str:
    return Path(file.filename or "").name or default


class Service:
    """What the routes call: the pool, the jobs and the limits, with CPU work in threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = AnalyzerPool(settings.workers)
        self.jobs = JobStore(self.pool, settings.job_ttl_s)
        self._gallery: Any = None
        self._gallery_lock = threading.Lock()

    async def in_thread(self, work: Callable[[float], T]) -> T:
        """Run `work(deadline)` in a worker thread, giving up after the request timeout (504).

        A timed-out thread is left to finish on its own; it returns its analyzer to the pool.
        """
        timeout = self.settings.timeout_s
        deadline = time.monotonic() + timeout
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(work, deadline, abandon_on_cancel=True)
        except (TimeoutError, Busy):
            raise UploadError(f"the request did not finish within {timeout:g} s; try again or raise FACELENS_TIMEOUT_S",
                              504) from None

    def analyze(self, data: bytes, name: str, features: frozenset[str], overlay: bool, vectors: bool,
                deadline: float) -> dict[str, Any]:
        start = time.perf_counter()
        rgb = decode_image(data, name, self.settings.max_pixels)
        with self.pool.borrow(features, deadline) as analyzer:
            faces = analyzer.faces(rgb)
        h, w = rgb.shape[:2]
        table = to_arrow([FrameResult(name, faces, width=w, height=h)], features, vectors)
        return {
            "file": name, "width": w, "height": h, "features": sorted(features), "faces": len(faces),
            "columns": table.column_names, "rows": json_rows(table),
            "overlay": overlay_data_url(rgb, faces, "mesh" in features) if overlay else None,
            "seconds": round(time.perf_counter() - start, 4),
        }

    def verify(self, images: list[tuple[bytes, str]], deadline: float) -> dict[str, Any]:
        """As `facelens verify`: the closest pair of faces of two images under dlib's 0.6 threshold."""
        from facelens.identity.verify import THRESHOLD, closest_pair

        start = time.perf_counter()
        rgbs = [decode_image(data, name, self.settings.max_pixels) for data, name in images]
        with self.pool.borrow(frozenset({"identity"}), deadline) as analyzer:
            found = [identity_faces(analyzer, rgb, name, True) for rgb, (_, name) in zip(rgbs, images)]
        (fa, whole_a), (fb, whole_b) = found
        i, j, distance = closest_pair(fa.embedding, fb.embedding)
        return {
            "same": distance < THRESHOLD, "distance": round(distance, 4), "threshold": THRESHOLD,
            "face_a": i, "face_b": j, "boxes": [box_list(fa.boxes[i]), box_list(fb.boxes[j])],
            "faces_found": [0 if whole_a else len(fa), 0 if whole_b else len(fb)], "whole_image": [whole_a, whole_b],
            "seconds": round(time.perf_counter() - start, 4),
        }

    def gallery(self) -> Any:
        """The face gallery, opened on first use; 404 when the server runs without one."""
        if self.settings.gallery is None:
            raise UploadError("the gallery is off: start the server with --gallery PATH (or FACELENS_GALLERY)", 404)
        if self._gallery is None:
            from facelens.identity.gallery import Gallery

            self._gallery = Gallery(self.settings.gallery)
        return self._gallery

    def gallery_names(self) -> dict[str, Any]:
        with self._gallery_lock:
            gallery = self.gallery()
            return {"names": gallery.names(), "faces": len(gallery)}

    def gallery_add(self, name: str, data: bytes, filename: str, whole_if_none: bool, deadline: float) -> dict[str, Any]:
        """Add the largest face of the image under `name`."""
        from facelens.identity.verify import FaceRows

        self.gallery()
        rgb = decode_image(data, filename, self.settings.max_pixels)
        with self.pool.borrow(frozenset({"identity"}), deadline) as analyzer:
            faces, whole = identity_faces(analyzer, rgb, filename, whole_if_none)
        largest = faces[int(np.argmax(faces.xywh[:, 2] * faces.xywh[:, 3]))]
        rows = FaceRows([filename], np.zeros(1, np.int64), largest.boxes, largest.embedding, np.full(1, -1),
                        np.array([whole]))
        with self._gallery_lock:
            gallery = self.gallery()
            added = gallery.add(name, rows)
            return {"name": name, "faces": added, "total": len(gallery)}

    def gallery_remove(self, name: str) -> dict[str, Any]:
        with self._gallery_lock:
            gallery = self.gallery()
            removed = gallery.remove(name)
            if removed == 0:
                raise UploadError(f"no face named {name!r} in the gallery", 404)
            return {"name": name, "faces": removed, "total": len(gallery)}

    def gallery_search(self, data: bytes, filename: str, k: int, whole_if_none: bool, deadline: float) -> list[dict[str, Any]]:
        """Top-`k` gallery matches of every face in the image."""
        self.gallery()
        rgb = decode_image(data, filename, self.settings.max_pixels)
        with self.pool.borrow(frozenset({"identity"}), deadline) as analyzer:
            faces, whole = identity_faces(analyzer, rgb, filename, whole_if_none)
        with self._gallery_lock:
            hits = self.gallery().search(faces.embedding, k=k)
        return [{"face": i, "box": box_list(faces.boxes[i]), "whole_image": whole,
                 "matches": [{"name": m.name, "distance": round(m.distance, 4), "same": m.same, "file": m.file}
                             for m in matches]}
                for i, matches in enumerate(hits)]

    def job_info(self, job: Job, vectors: bool = False) -> dict[str, Any]:
        info = {
            "id": job.id, "status": job.status, "file": job.file, "features": sorted(job.features),
            "frames_done": job.frames_done, "frames_total": job.frames_total, "progress": round(job.progress, 4),
            "error": job.error, "created": job.created, "finished": job.finished,
            "expires_at": self.jobs.expires_at(job), "result": None,
        }
        if job.status == "done":
            table = job.table(vectors)
            info["result"] = {"columns": table.column_names, "rows": json_rows(table)}
        return info

    def close(self) -> None:
        self.jobs.close()


api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed when FACELENS_API_KEY is set.")


def service(request: Request) -> Service:
    return request.app.state.service


def require_key(request: Request, key: str | None = Security(api_key_header)) -> None:
    expected = service(request).settings.api_key
    if expected and not (key and secrets.compare_digest(key.encode(), expected.encode())):
        raise HTTPException(401, "missing or wrong X-API-Key header")


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_key)], responses=ERRORS)

    @router.post("/analyze", response_model=AnalyzeResult, summary="Analyse one image")
    async def analyze(
        request: Request,
        file: UploadFile = File(..., description="An image: JPEG, PNG, WebP, TIFF, BMP or GIF."),
        features: str = Query("default", description="Comma list as for `facelens analyze --features`, or all."),
        vectors: bool = Query(False, description="Also return the embedding / mesh vectors."),
        overlay: bool = Query(False, description="Also return the picture with the faces drawn, as a JPEG data URL."),
    ) -> dict[str, Any]:
        """One row per face with the same columns as `facelens analyze` writes (null where a value
        could not be computed); an image with no face gives one row with success 0."""
        svc = service(request)
        feats = request_features(features)
        data, name = await file.read(), upload_name(file, "upload")
        return await svc.in_thread(lambda deadline: svc.analyze(data, name, feats, overlay, vectors, deadline))

    @router.post("/analyze/video", response_model=JobInfo, status_code=202, summary="Start a video job")
    async def analyze_video(
        request: Request,
        file: UploadFile = File(..., description="A video: mp4, mov, avi, mkv, webm..."),
        features: str = Query("default", description="Comma list as for `facelens analyze --features`, or all."),
        every: int = Query(1, ge=1, le=1000, description="Analyse every N-th frame."),
    ) -> dict[str, Any]:
        """Queue the video for analysis; poll `GET /jobs/{id}` for progress and the result."""
        svc = service(request)
        feats = request_features(features)
        data, name = await file.read(), upload_name(file, "upload.mp4")
        s = svc.settings
        job = await anyio.to_thread.run_sync(
            lambda: svc.jobs.submit_video(data, name, feats, every, s.max_video_frames, s.max_pixels))
        return svc.job_info(job)

    @router.get("/jobs/{job_id}", response_model=JobInfo, summary="Progress and result of a job")
    async def get_job(request: Request, job_id: str,
                      vectors: bool = Query(False, description="Include embedding / mesh vectors in the result.")
                      ) -> dict[str, Any]:
        """Progress while the job runs; with `result` (columns and rows) once it is done."""
        svc = service(request)
        job = svc.jobs.get(job_id)
        return await anyio.to_thread.run_sync(lambda: svc.job_info(job, vectors))

    @router.get("/jobs/{job_id}/result", summary="Download a finished job's table",
                responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}, "application/json": {}}}})
    async def job_result(request: Request, job_id: str,
                         format: Literal["json", "csv", "parquet"] = Query("csv", description="Table format.")) -> Response:
        """The table `facelens analyze` would write for this video (vectors in JSON and Parquet only)."""
        job = service(request).jobs.get(job_id)
        if job.status == "failed":
            raise UploadError(f"job {job_id} failed, so it has no result: {job.error}", 422)
        if job.status != "done":
            raise UploadError(f"job {job_id} is {job.status}; its result is not ready", 409)
        data = await anyio.to_thread.run_sync(lambda: table_bytes(job, format))
        media = {"json": "application/json", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}[format]
        stem = re.sub(r"[^\w.-]+", "_", Path(job.file).stem, flags=re.ASCII) or "video"  # safe in a header
        return Response(data, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{stem}.{format}"'})

    @router.delete("/jobs/{job_id}", status_code=204, summary="Forget a finished job now")
    async def delete_job(request: Request, job_id: str) -> Response:
        service(request).jobs.delete(job_id)
        return Response(status_code=204)

    @router.post("/verify", response_model=VerifyResult, summary="Are two faces the same person?")
    async def verify(
        request: Request,
        a: UploadFile = File(..., description="First image."),
        b: UploadFile = File(..., description="Second image."),
    ) -> dict[str, Any]:
        """As `facelens verify`: Euclidean distance between dlib ResNet embeddings of the closest pair
        of faces, `same` under 0.6 (the threshold dlib documents for this network). An image with no
        detected face is embedded whole (`whole_image`), for tight face crops."""
        svc = service(request)
        images = [(await a.read(), upload_name(a, "a")), (await b.read(), upload_name(b, "b"))]
        return await svc.in_thread(lambda deadline: svc.verify(images, deadline))

    @router.get("/gallery", response_model=GalleryNames, summary="Names in the face gallery")
    async def gallery_names(request: Request) -> dict[str, Any]:
        """Face count per name (404 when the server runs without --gallery)."""
        svc = service(request)
        return await anyio.to_thread.run_sync(svc.gallery_names)

    @router.post("/gallery/people/{name}", response_model=GalleryChange, summary="Add a face to the gallery")
    async def gallery_add(
        request: Request, name: str, file: UploadFile = File(..., description="An image; its largest face is added."),
        whole_if_none: bool = Query(False, description="With no face detected, add the whole image as one face."),
    ) -> dict[str, Any]:
        svc = service(request)
        data, filename = await file.read(), upload_name(file, "upload")
        return await svc.in_thread(lambda deadline: svc.gallery_add(name, data, filename, whole_if_none, deadline))

    @router.delete("/gallery/people/{name}", response_model=GalleryChange, summary="Remove a name from the gallery")
    async def gallery_remove(request: Request, name: str) -> dict[str, Any]:
        """Delete every face of `name`; older versions of the table are deleted too."""
        svc = service(request)
        return await anyio.to_thread.run_sync(lambda: svc.gallery_remove(name))

    @router.post("/gallery/search", response_model=list[GalleryHits], summary="Who is in this image?")
    async def gallery_search(
        request: Request, file: UploadFile = File(..., description="An image."),
        k: int = Query(5, ge=1, le=100, description="Matches per face."),
        whole_if_none: bool = Query(False, description="With no face detected, search with the whole image."),
    ) -> list[dict[str, Any]]:
        """Top-k gallery matches of each face, nearest first; `same` under the 0.6 threshold."""
        svc = service(request)
        data, filename = await file.read(), upload_name(file, "upload")
        return await svc.in_thread(lambda deadline: svc.gallery_search(data, filename, k, whole_if_none, deadline))

    @router.get("/health", response_model=Health, summary="Liveness and pool state")
    async def health(request: Request) -> dict[str, Any]:
        svc = service(request)
        return {"status": "ok", "version": __version__, "workers": svc.pool.size, "free_workers": svc.pool.free,
                "default_features": list(DEFAULT_FEATURES)}

    @router.get("/models", response_model=list[ModelInfo], summary="Bundled models and their licences")
    async def models() -> list[dict[str, Any]]:
        out = []
        for entry in manifest().values():
            source = entry.get("source", "")
            version = source.split("==", 1)[1].split(":", 1)[0] if "==" in source else None
            out.append({"name": entry["name"], "runtime": entry.get("runtime", ""), "licence": entry.get("licence", ""),
                        "source": source, "version": version, "sha256": entry["sha256"], "bytes": entry.get("bytes")})
        return out

    return router


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


class BodyLimit:
    """ASGI middleware: 413 for request bodies over `limit` bytes, by Content-Length before reading,
    or while reading a body sent without one."""

    def __init__(self, app: ASGIApp, limit: int, message: str) -> None:
        self.app, self.limit, self.message = app, limit, message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": self.message}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, self.message)
            return message

        await self.app(scope, counted, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; `settings` default to `Settings.from_env()`."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = Service(settings)
        if settings.preload:
            await anyio.to_thread.run_sync(lambda: svc.pool.warm(WARM_IMAGE, frozenset(DEFAULT_FEATURES)))
        app.state.service = svc
        log.info("facelens server ready: %d analyzer(s)", svc.pool.size)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(svc.close)

    app = FastAPI(title="facelens", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Per-face features (boxes, landmarks, pose, gaze, AUs, emotion, identity, age/gender) "
                              "from images and videos. Columns follow `facelens analyze`.")
    app.include_router(build_router())
    too_large = f"request body over the {settings.max_upload_mb:g} MB upload limit (FACELENS_MAX_UPLOAD_MB)"
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes, message=too_large)

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(FacelensError)
    async def facelens_error(request: Request, exc: FacelensError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.__class__.__name__)
        return JSONResponse({"detail": f"internal error ({exc.__class__.__name__}); the server is still up"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        # Swagger UI from the swagger-ui-bundle package: no CDN, so the page works offline.
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="facelens API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
