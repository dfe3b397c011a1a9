"""`facelens serve`: the REST API and web page on uvicorn, bound to loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from facelens.console import console, fail
from facelens.errors import FacelensError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from facelens.server.settings import Settings


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")  # Host header values of loopback requests


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(settings: Settings, host: str) -> FastAPI:
    """The app for `host`: bound to loopback, it answers only requests addressed to a loopback
    name, so a web page elsewhere cannot reach it through DNS rebinding."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from facelens.server.app import create_app

    served = create_app(settings)
    if is_loopback(host):
        served.add_middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_NAMES))
    return served


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback by default."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Pooled analyzers [FACELENS_WORKERS; default: CPU cores]."),
    max_upload_mb: Optional[float] = typer.Option(None, "--max-upload-mb", help="Largest request body in MB [FACELENS_MAX_UPLOAD_MB; 50]."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Largest image / frame in pixels [FACELENS_MAX_PIXELS; 40,000,000]."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Image request timeout in seconds [FACELENS_TIMEOUT_S; 60]."),
    job_ttl: Optional[float] = typer.Option(None, "--job-ttl", help="Seconds a finished video job is kept [FACELENS_JOB_TTL_S; 3600]."),
    max_video_frames: Optional[int] = typer.Option(None, "--max-video-frames", help="Most frames per video job [FACELENS_MAX_VIDEO_FRAMES; 3000]."),
    gallery: Optional[Path] = typer.Option(None, "--gallery", help="Face gallery folder; enables /api/v1/gallery [FACELENS_GALLERY; off]."),
    embedder: Optional[Path] = typer.Option(None, "--embedder", help="ONNX face-recognition model for identity "
                                            "instead of dlib's [FACELENS_EMBEDDER; off]."),
    embedder_preset: Optional[str] = typer.Option(None, "--embedder-preset", help="arcface or curricularface "
                                                  "[FACELENS_EMBEDDER_PRESET]."),
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /docs) and the web page (/). Set FACELENS_API_KEY to
    require an X-API-Key header on every API call."""
    import uvicorn

    from facelens.server.settings import Settings

    try:
        settings = Settings.from_env(workers=workers, max_upload_mb=max_upload_mb, max_pixels=max_pixels,
                                     timeout_s=timeout, job_ttl_s=job_ttl, max_video_frames=max_video_frames,
                                     gallery=None if gallery is None else str(gallery),
                                     embedder=None if embedder is None else str(embedder), embedder_preset=embedder_preset)
        if settings.embedder is not None:  # open and check the model now, not on the first request
            from facelens.models.embedder import EmbedderSpec, OnnxFaceEmbedder

            OnnxFaceEmbedder(EmbedderSpec.from_options(settings.embedder, settings.embedder_preset))
    except FacelensError as exc:
        fail(str(exc), 2)
    if not is_loopback(host) and not settings.api_key:
        console.print(f"[yellow]warning:[/yellow] serving on {host} without FACELENS_API_KEY: anyone who can reach "
                      "this address can upload faces")
    console.print(f"facelens serving on http://{host}:{port}/ ({settings.workers} analyzer(s); "
                  f"API key {'required' if settings.api_key else 'not set'}; gallery {settings.gallery or 'off'})")
    uvicorn.run(build_app(settings, host), host=host, port=port, log_level="warning", timeout_keep_alive=5)
