"""Helpers for the object-storage and cluster tests: free ports, a bucket, uploads."""

from __future__ import annotations

import socket
from pathlib import Path

S3_ENV = {"AWS_ACCESS_KEY_ID": "facelens-test", "AWS_SECRET_ACCESS_KEY": "facelens-test-secret",  # any keys do
          "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_bucket(name: str) -> None:
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(f"s3://{name}?allow_bucket_creation=true")
    fs.create_dir(path)


def upload(folder: Path, uri_prefix: str) -> list[str]:
    """Copy every file under `folder` to `uri_prefix` (keeping relative paths); returns the URIs."""
    from facelens.io import storage

    uris = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        uri = storage.join(uri_prefix, path.relative_to(folder).as_posix())
        storage.write_bytes(uri, path.read_bytes())
        uris.append(uri)
    return uris
