"""ASGI middleware of the server: the API key and body limit enforced before a route reads the
request, and unexpected errors answered without dropping the connection."""

from __future__ import annotations

import logging
import secrets

from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


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


def key_matches(expected: str | None, given: str | None) -> bool:
    """True when no key is set, or `given` is it (compared in constant time)."""
    return not expected or (given is not None and secrets.compare_digest(given.encode(), expected.encode()))


class ApiKey:
    """ASGI middleware: 401 for /api requests without the key in the X-API-Key header, before
    anything reads the body (when a key is set). The routes check it again (`routes.require_key`),
    whatever path prefix the app is served under."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app, self.key = app, key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key and scope["type"] == "http" and scope["path"].startswith("/api/"):
            if not key_matches(self.key, Headers(scope=scope).get("x-api-key")):
                refused = JSONResponse({"detail": "missing or wrong X-API-Key header"}, status_code=401)
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


class InternalErrors:
    """ASGI middleware: an unexpected exception becomes a JSON 500 naming only its class, and is
    not re-raised, so the server keeps the connection (Starlette's own handler re-raises, and
    uvicorn then closes the connection under the next request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            log.error("%s %s failed: %s", scope.get("method"), scope["path"], exc.__class__.__name__)
            if not started:
                detail = f"internal error ({exc.__class__.__name__}); the server is still up"
                await JSONResponse({"detail": detail}, status_code=500)(scope, receive, send)
