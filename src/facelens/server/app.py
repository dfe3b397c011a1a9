"""The FastAPI app behind `facelens serve`: REST under /api/v1 (`routes`), the web page at /, and
the error handlers and middleware around them. `create_app` is the factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from facelens import __version__
from facelens.errors import FacelensError
from facelens.features import DEFAULT_FEATURES
from facelens.server.errors import ApiError
from facelens.server.middleware import ApiKey, BodyLimit, InternalErrors
from facelens.server.routes import build_router
from facelens.server.service import Service
from facelens.server.settings import Settings

log = logging.getLogger(__name__)
STATIC = Path(str(files("facelens") / "server" / "static"))
WARM_IMAGE = Path(str(files("facelens") / "samples" / "astronaut.jpg"))


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
    app.add_middleware(InternalErrors)  # each one added wraps those before it
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes, message=too_large)
    app.add_middleware(ApiKey, key=settings.api_key)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(FacelensError)
    async def facelens_error(request: Request, exc: FacelensError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

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
