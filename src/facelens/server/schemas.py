"""Response bodies of the REST API, for validation and the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


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

