"""The error the REST API answers with an HTTP status of its own."""

from __future__ import annotations

from facelens.errors import FacelensError


class ApiError(FacelensError):
    """An error answered with `status` and the message as JSON `detail`: a bad upload (400, 413, 415,
    422), an unknown or unfinished job (404, 409), a full queue (429) or a timeout (504)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status
