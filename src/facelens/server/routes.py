"""The REST routes under /api/v1: thin async handlers over `Service`, CPU work in its threads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, File, Query, Request, Security, UploadFile
from fastapi.exceptions import HTTPException
from fastapi.responses import Response
from fastapi.security import APIKeyHeader

from facelens import __version__
from facelens.features import DEFAULT_FEATURES
from facelens.models.runtime import manifest
from facelens.server.errors import ApiError
from facelens.server.jobs import request_features
from facelens.server.media import UPLOAD_FORMAT_NAMES, table_bytes, upload_name
from facelens.server.middleware import key_matches
from facelens.server.schemas import (ERRORS, AnalyzeResult, GalleryChange, GalleryHits, GalleryNames, Health, JobInfo,
                                     ModelInfo, VerifyResult)
from facelens.server.service import Service

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed when FACELENS_API_KEY is set.")


def service(request: Request) -> Service:
    return request.app.state.service


def require_key(request: Request, key: str | None = Security(api_key_header)) -> None:
    """The API key check of every route (`middleware.ApiKey` makes it before the body is read)."""
    if not key_matches(service(request).settings.api_key, key):
        raise HTTPException(401, "missing or wrong X-API-Key header")


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_key)], responses=ERRORS)

    @router.post("/analyze", response_model=AnalyzeResult, summary="Analyse one image")
    async def analyze(
        request: Request,
        file: UploadFile = File(..., description=f"An image: {UPLOAD_FORMAT_NAMES}."),
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
            raise ApiError(f"job {job_id} failed, so it has no result: {job.error}", 422)
        if job.status != "done":
            raise ApiError(f"job {job_id} is {job.status}; its result is not ready", 409)
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
        a: UploadFile = File(..., description=f"First image ({UPLOAD_FORMAT_NAMES})."),
        b: UploadFile = File(..., description=f"Second image ({UPLOAD_FORMAT_NAMES})."),
    ) -> dict[str, Any]:
        """As `facelens verify`: Euclidean distance between dlib ResNet embeddings of the closest pair
        of faces, `same` under 0.6 (the threshold dlib documents for this network), or under the
        threshold of the server's `--embedder` (`threshold` says which). An image with no
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
        request: Request, name: str,
        file: UploadFile = File(..., description=f"An image ({UPLOAD_FORMAT_NAMES}); its largest face is added."),
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
        request: Request, file: UploadFile = File(..., description=f"An image ({UPLOAD_FORMAT_NAMES})."),
        k: int = Query(5, ge=1, le=100, description="Matches per face."),
        whole_if_none: bool = Query(False, description="With no face detected, search with the whole image."),
    ) -> list[dict[str, Any]]:
        """Top-k gallery matches of each face, nearest first; `same` under the embedder's threshold
        (dlib's 0.6 by default). A gallery holds one embedder's vectors: another's is a 422."""
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
