"""A local S3-compatible server (moto's server mode on 127.0.0.1) for the object-storage tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from object_store import S3_ENV, free_port

# The endpoint is fixed at collection, before any test starts a worker pool: forkserver workers
# keep the environment their server started with.
PORT = free_port()
os.environ.update(S3_ENV, AWS_ENDPOINT_URL=f"http://127.0.0.1:{PORT}")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:PORT of a moto S3 server in its own process; the AWS_* variables of this
    process point at it (child processes, Ray's included, inherit them)."""
    pytest.importorskip("moto.server", reason="the object-storage tests need moto[s3], flask and flask-cors")
    pytest.importorskip("flask_cors", reason="moto's server mode needs flask-cors")
    port = PORT
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start (see {log.name})")
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
