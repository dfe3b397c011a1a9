"""Server limits, read from `FACELENS_*` environment variables and `facelens serve` options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from facelens.errors import SettingError


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
    embedder: str | None = None  # ONNX face-recognition model for identity instead of dlib's (facelens.models.embedder)
    embedder_preset: str | None = None  # its conventions: arcface or curricularface (default: arcface's)

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

