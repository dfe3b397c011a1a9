"""Object storage and other remote filesystems: listing, reading and atomic writes by URI.

A URI ``scheme://bucket/key`` (``s3://bucket/prefix/``, ``gs://bucket/photos/``, or any protocol fsspec
knows, e.g. ``memory://`` or ``az://`` with adlfs installed) is opened with pyarrow's own
filesystems where pyarrow has one, else through fsspec (`pyarrow.fs.FSSpecHandler`). Credentials
and endpoints come only from the filesystem's standard environment: for S3 ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL`` (an S3-compatible server),
``AWS_DEFAULT_REGION``/``AWS_REGION`` and ``~/.aws``; for GCS ``GOOGLE_APPLICATION_CREDENTIALS``.
Nothing here reads, stores or logs a credential; messages name the URI alone, without its query.

Every process resolves its filesystem itself (one per scheme and bucket, cached), so a Ray
worker reads the bytes it analyses straight from the store, never through the driver.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

from facelens.errors import InputError
from facelens.io import readers

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")


def is_uri(path: str | Path) -> bool:
    """Whether `path` names a remote object (``scheme://...``; ``file://`` and local paths are not)."""
    m = _SCHEME.match(str(path)) if isinstance(path, str) else None
    return m is not None and m.group(1).lower() != "file"


def _split(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket, key) of ``scheme://bucket/key`` (the query string dropped)."""
    scheme, rest = uri.split("://", 1)
    rest = rest.split("?", 1)[0]
    bucket, _, key = rest.partition("/")
    return scheme.lower(), bucket, key


def public(uri: str) -> str:
    """The URI as it may be shown or logged: without a query string (which may hold keys)."""
    return uri.split("?", 1)[0]


@functools.lru_cache(maxsize=32)
def _filesystem(scheme: str, bucket: str) -> pafs.FileSystem:
    root = f"{scheme}://{bucket}"
    try:
        return pafs.FileSystem.from_uri(root)[0]
    except OSError as exc:
        raise InputError(f"{root}: could not open ({exc})") from exc
    except ValueError as arrow_exc:  # a scheme pyarrow has no filesystem for
        try:
            import fsspec

            return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem(scheme)))
        except (ImportError, ValueError) as exc:
            raise InputError(f"{root}: no filesystem for {scheme}:// in pyarrow ({arrow_exc}) "
                             f"or fsspec ({exc})") from exc


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding `uri` and the path of `uri` in it (``bucket/key``)."""
    scheme, bucket, key = _split(uri)
    return _filesystem(scheme, bucket), f"{bucket}/{key}".rstrip("/")


def join(uri: str, *names: str) -> str:
    """`uri` with path parts appended: ``join("s3://b/out.parquet", "part-0.parquet")``."""
    return "/".join([public(uri).rstrip("/"), *names])


def name(uri: str) -> str:
    """Last path part of a URI."""
    return PurePosixPath(_split(uri)[2]).name


def _is_dir(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type == pafs.FileType.Directory


def list_files(uri: str, suffixes: Iterable[str] | None = None) -> list[str]:
    """Every object under the prefix `uri` (recursively, sorted) whose name ends in one of
    `suffixes` (case-insensitive; None: all); a URI naming one object lists just it."""
    fs, path = filesystem(uri)
    scheme, bucket, _ = _split(uri)
    try:
        if not _is_dir(fs, path):
            return [public(uri)]
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except OSError as exc:
        raise InputError(f"{public(uri)}: could not list ({exc})") from exc
    wanted = tuple(s.lower() for s in suffixes) if suffixes is not None else None
    found = [i.path for i in infos if i.type == pafs.FileType.File
             and (wanted is None or i.path.lower().endswith(wanted))]
    return [f"{scheme}://{p.lstrip('/')}" for p in sorted(found)]


def expand_inputs(inputs: Iterable[str | Path]) -> list[str]:
    """Inputs as strings with folders and URI prefixes expanded into their image and video files
    (see `facelens.io.readers.list_inputs`; the listing of a prefix is sorted)."""
    out: list[str] = []
    for item in inputs:
        if is_uri(item):
            out.extend(list_files(str(item), readers.IMAGE_EXTS | readers.VIDEO_EXTS))
        else:
            out.extend(str(p) for p in readers.list_inputs([item]))
    return out


def read_bytes(uri: str) -> bytes:
    """The whole object; `InputError` (naming the URI) if it is missing, empty or unreadable."""
    fs, path = filesystem(uri)
    try:
        with fs.open_input_stream(path) as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise InputError(f"{public(uri)}: no such object") from exc
    except OSError as exc:
        raise InputError(f"{public(uri)}: could not read ({exc})") from exc
    if not data:
        raise InputError(f"{public(uri)}: empty file")
    return data


def write_bytes(uri: str, data: bytes) -> None:
    """Write one object whole. Object stores make it visible only once complete (one PUT, or a
    committed multipart upload), so a reader never sees part of it."""
    fs, path = filesystem(uri)
    with fs.open_output_stream(path) as fh:
        fh.write(data)


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def delete(uri: str) -> None:
    """Remove one object (no error if it is already gone)."""
    fs, path = filesystem(uri)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(path)


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A temporary local file holding the object (for decoders that need a path, e.g. video)."""
    fs, path = filesystem(uri)
    fd, tmp = tempfile.mkstemp(suffix=PurePosixPath(path).suffix)
    try:
        try:
            with fs.open_input_stream(path) as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except FileNotFoundError as exc:
            raise InputError(f"{public(uri)}: no such object") from exc
        except OSError as exc:
            raise InputError(f"{public(uri)}: could not read ({exc})") from exc
        yield Path(tmp)
    finally:
        os.unlink(tmp)
