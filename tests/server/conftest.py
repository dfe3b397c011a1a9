"""Fixtures for the server tests: an in-process client, a live uvicorn on loopback, and uploads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient

from facelens.server.app import create_app
from facelens.server.settings import Settings
from facelens.server.commands import build_app


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    """Default limits, two pooled analyzers with the default models loaded."""
    with TestClient(create_app(Settings(workers=2))) as c:
        yield c


@pytest.fixture
def make_client() -> Callable[..., TestClient]:
    """`make_client(**settings)`: a client for limit tests, one analyzer, models loaded on first use.

    Use it in a `with` block (that runs the app's start-up and shut-down)."""

    def make(**settings: object) -> TestClient:
        app = create_app(Settings(**{"workers": 1, "preload": False, **settings}))
        return TestClient(app, raise_server_exceptions=False)

    return make


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """`facelens serve`'s app on uvicorn, 127.0.0.1 and a free port, in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(Settings(workers=2), "127.0.0.1"), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture
def poll_job() -> Callable[..., dict]:
    """`poll_job(client, job_id)`: GET /jobs/{id} until the job has ended; returns its last state."""
    return wait_for_job


def wait_for_job(client: TestClient, job_id: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end within {timeout} s")
