"""Resumable batch output: rows in OUT, the inputs they came from in OUT.manifest.jsonl.

Layout
------
- ``OUT.csv`` / ``OUT.jsonl``: one file, appended. After an input's rows are written and
  fsynced, one line naming the input and the byte length of OUT at that point is appended to the
  manifest (and fsynced). A resumed run truncates OUT to the last recorded length, so rows of an
  input that was in flight when the run was killed are dropped and written again.
- ``OUT.parquet``: a directory dataset of part files ``part-00000.parquet`` ... (read it with
  ``pyarrow.parquet.read_table(OUT)`` or ``pandas.read_parquet(OUT)``). Rows are buffered and
  written as one part every `part_rows` rows or `part_seconds` seconds; a part is written to a
  ``.tmp`` file, fsynced and renamed before its inputs are added to the manifest. A resumed run
  removes part and ``.tmp`` files that the manifest does not name.

- ``s3://bucket/OUT.parquet`` (any URI of `facelens.io.storage`): Parquet only. Object stores
  cannot append or rename atomically, so each part is one object written whole (a single PUT, or a
  multipart upload that becomes visible only when it is completed) and the manifest is a prefix
  ``OUT.manifest/`` beside it: ``header.json``, then one ``part-00000.jsonl`` object per part,
  written after its part. A resumed run deletes parts the manifest does not name.

The manifest's first line (remote: ``header.json``) records the format, column schema,
features, a user-supplied embedder's version (None: dlib's descriptor) and the function that added
columns (`extra`, if any); resuming with other options is refused (`SchemaError`), so one output
never mixes two embedders' vectors or two sets of columns. Inputs are keyed by absolute path
(symlinks not resolved), or by URI. Each entry names the node that analysed the input when the
engine knows it (the Ray node id).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from facelens import __version__
from facelens.errors import InputError, SchemaError
from facelens.io import storage
from facelens.io.writers import format_of, row_bytes

log = logging.getLogger(__name__)

PART_GLOB = "part-*.parquet"


def manifest_path(out: str | Path) -> Path | str:
    """Where the manifest of `out` lives: beside it, named OUT.manifest.jsonl (a URI: the
    prefix OUT.manifest/)."""
    if storage.is_uri(out):
        return storage.public(str(out)).rstrip("/") + ".manifest"
    out = Path(out)
    return out.with_name(out.name + ".manifest.jsonl")


def input_key(path: str | Path) -> str:
    """The manifest key of an input: its absolute path (symlinks are not resolved), or its URI."""
    return storage.public(str(path)) if storage.is_uri(path) else os.path.abspath(path)


@dataclass
class Finished:
    """One finished input as recorded in the manifest."""

    input: str
    rows: int
    faces: int
    error: bool
    node: str | None = None
    reason: str | None = None  # the first error message, when error


def _fsync_append(fh: BinaryIO, data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


class BatchOutput:
    """Rows of finished inputs, written so that a killed run can resume where it stopped.

    Parameters
    ----------
    path : OUT, ending in .csv, .jsonl/.ndjson or .parquet/.pq.
    features, schema : the analyzer's features and the column schema, recorded in the manifest.
    embedder : the version of the analyzer's user-supplied embedder (None: the default), recorded too.
    resume : continue after the inputs the manifest names; False starts over (OUT and its
        manifest are replaced).
    part_rows, part_seconds : Parquet only: write a part when this many rows are buffered, or
        when the oldest buffered row is this old.
    extra : the name of the function that added columns to the rows (`facelens.scale.local.Extra`),
        or None; recorded in the manifest (a manifest without it has None).
    """

    def __init__(self, path: str | Path, features: Iterable[str], schema: str = "openface", resume: bool = True,
                 part_rows: int = 5000, part_seconds: float = 30.0, *, embedder: str | None = None,
                 extra: str | None = None) -> None:
        if schema not in ("openface", "pyfeat"):
            raise SchemaError(f"unknown schema {schema!r}; choose openface or pyfeat")
        self.path: Any = storage.public(str(path)).rstrip("/") if storage.is_uri(path) else Path(path)
        self.format = format_of(path)
        self.manifest = manifest_path(path)
        self.header = {"format": self.format, "schema": schema, "features": sorted(features), "embedder": embedder,
                       "extra": extra}
        self.part_rows = part_rows
        self.part_seconds = part_seconds
        self.finished: dict[str, Finished] = {}
        self._buffer: list[tuple[Finished, pa.Table]] = []
        self._buffer_since = 0.0
        self._next_part = 0
        self._end = 0
        self._out: BinaryIO | None = None
        self._log: BinaryIO | None = None
        self._open(resume)

    def _open(self, resume: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fresh = not (resume and self.manifest.exists())  # True: this run created OUT and its manifest
        if self.fresh:
            self._start_over()
        else:
            self._resume()
        self._log = self.manifest.open("ab")

    @property
    def vectors(self) -> bool:
        """Whether rows carry the embedding/mesh list columns (not in CSV)."""
        return self.format != "csv"

    def done(self, path: str | Path) -> bool:
        return input_key(path) in self.finished

    # Opening.
    def _start_over(self) -> None:
        if self.path.is_dir():
            unknown = [p.name for p in self.path.iterdir() if not p.match(PART_GLOB) and not p.name.endswith(".tmp")]
            if unknown:
                raise InputError(f"{self.path} is a folder holding other files ({', '.join(unknown[:3])}); "
                                 "choose another output")
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()
        if self.format == "parquet":
            self.path.mkdir(parents=True)
        else:
            self.path.write_bytes(b"")
        self.manifest.write_text(json.dumps({"facelens": __version__, **self.header}) + "\n")

    def _read_manifest(self) -> list[dict[str, Any]]:
        """Entries of the manifest; a torn last line (a kill mid-write) is cut off the file."""
        raw = self.manifest.read_bytes()
        good = raw.rfind(b"\n") + 1
        if good < len(raw):
            log.warning("%s: dropping a partly written last line", self.manifest)
            with self.manifest.open("r+b") as fh:
                fh.truncate(good)
        lines = [json.loads(line) for line in raw[:good].splitlines() if line.strip()]
        if not lines or "format" not in lines[0]:
            raise InputError(f"{self.manifest}: not a facelens manifest")
        self._check_header(lines[0])
        return lines[1:]

    def _check_header(self, found: dict[str, Any]) -> None:
        header = {k: found.get(k) for k in self.header}
        if header != self.header:
            raise SchemaError(f"{self.path} was written with {header}, not {self.header}; "
                               "start over (--no-resume) or choose another output")

    def _add_finished(self, entries: list[dict[str, Any]]) -> None:
        for e in entries:
            self.finished[e["input"]] = Finished(e["input"], e["rows"], e["faces"], e["error"], e.get("node"), e.get("reason"))

    def _resume(self) -> None:
        entries = self._read_manifest()
        self._add_finished(entries)
        if self.format == "parquet":
            kept = {e["part"] for e in entries}
            self.path.mkdir(parents=True, exist_ok=True)
            for p in sorted(self.path.iterdir()):
                if p.name not in kept and (p.match(PART_GLOB) or p.name.endswith(".tmp")):
                    log.info("removing %s: its inputs are not in the manifest", p)
                    p.unlink()
            numbers = [int(name[5:10]) for name in kept]
            self._next_part = max(numbers) + 1 if numbers else 0
        else:
            self._end = entries[-1]["end"] if entries else 0
            size = self.path.stat().st_size if self.path.exists() else 0
            if size < self._end:
                raise InputError(f"{self.path} is shorter ({size} bytes) than its manifest records ({self._end}); "
                                 "start over (--no-resume)")
            with self.path.open("ab") as fh:
                fh.truncate(self._end)
        log.info("%s: resuming after %d finished input(s)", self.path, len(self.finished))

    # Writing.
    def add(self, path: str | Path, table: pa.Table, node: str | None = None) -> Finished:
        """Record the rows of one finished input (written now, or with the next Parquet part);
        `node` names the machine that analysed it, where the engine knows."""
        success = table.column("success").to_pylist()
        errors = table.column("error").to_pylist()
        reason = next((e for e in errors if e is not None), None)
        item = Finished(input_key(path), table.num_rows, sum(1 for s in success if s == 1), reason is not None,
                        node, reason)
        if self.format == "parquet":
            if not self._buffer:
                self._buffer_since = time.monotonic()
            self._buffer.append((item, table))
            if (sum(t.num_rows for _, t in self._buffer) >= self.part_rows
                    or time.monotonic() - self._buffer_since >= self.part_seconds):
                self.flush()
        else:
            self._append_rows(table)
            self._commit([item], end=self._end)
        self.finished[item.input] = item
        return item

    def _append_rows(self, table: pa.Table) -> None:
        if self._out is None:
            self._out = self.path.open("ab")
        self._out.write(row_bytes(table, self.format, header=self._end == 0))
        self._out.flush()
        os.fsync(self._out.fileno())
        self._end = self._out.tell()

    def _commit(self, items: list[Finished], **extra: Any) -> None:
        lines = "".join(json.dumps({**item.__dict__, **extra}) + "\n" for item in items)
        _fsync_append(self._log, lines.encode())

    def flush(self) -> None:
        """Write buffered Parquet rows as one part file, then name their inputs in the manifest."""
        if not self._buffer:
            return
        name = f"part-{self._next_part:05d}.parquet"
        self._write_part(name, pa.concat_tables([t for _, t in self._buffer]))
        self._commit([item for item, _ in self._buffer], part=name)
        self._buffer = []
        self._next_part += 1

    def _write_part(self, name: str, table: pa.Table) -> None:
        """Write a part as NAME.tmp, fsync it, rename it to NAME."""
        tmp = self.path / (name + ".tmp")
        pq.write_table(table, tmp, compression="zstd")
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / name)

    def close(self) -> None:
        """Write what is buffered and close the files."""
        self.flush()
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _has_parts(self) -> bool:
        return any(self.path.glob(PART_GLOB))

    def ensure_schema(self, empty: pa.Table) -> None:
        """Give an output with no rows at all its columns (a header-only CSV, an empty Parquet part)."""
        self.flush()
        if self.format == "parquet" and not self._has_parts():
            self._write_part(f"part-{self._next_part:05d}.parquet", empty)
        elif self.format == "csv" and self._end == 0:
            self._append_rows(empty)

    def __enter__(self) -> BatchOutput:
        return self

    def discard(self) -> None:
        """Remove OUT and its manifest (a run that failed before finishing any input)."""
        if self.path.is_dir():
            shutil.rmtree(self.path)
        else:
            self.path.unlink(missing_ok=True)
        self.manifest.unlink(missing_ok=True)

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close()
        if exc_type is not None and self.fresh and not self.finished:
            self.discard()


class RemoteBatchOutput(BatchOutput):
    """`BatchOutput` under an object-store URI: Parquet part objects in OUT/, the manifest as the
    objects of the prefix OUT.manifest/ (see the module docstring)."""

    def _open(self, resume: bool) -> None:
        if self.format != "parquet":
            raise SchemaError(f"{self.path}: object storage outputs are Parquet (.parquet, a prefix of part files); "
                              "write CSV or JSONL to a local file")
        self.fresh = not (resume and storage.exists(storage.join(self.manifest, "header.json")))
        if self.fresh:
            self._start_over()
        else:
            self._resume()

    def _listing(self, uri: str) -> list[str]:
        return storage.list_files(uri) if storage.exists(uri) else []

    def _start_over(self) -> None:
        parts = self._listing(self.path)
        unknown = [storage.name(p) for p in parts if not PurePosixPath(storage.name(p)).match(PART_GLOB)]
        if unknown:
            raise InputError(f"{self.path} holds other objects ({', '.join(unknown[:3])}); choose another output")
        for uri in parts + self._listing(self.manifest):
            storage.delete(uri)
        header = {"facelens": __version__, **self.header}
        storage.write_bytes(storage.join(self.manifest, "header.json"), json.dumps(header).encode() + b"\n")

    def _resume(self) -> None:
        self._check_header(json.loads(storage.read_bytes(storage.join(self.manifest, "header.json"))))
        logs = [u for u in self._listing(self.manifest) if storage.name(u).endswith(".jsonl")]
        kept: set[str] = set()
        for uri in logs:
            entries = [json.loads(line) for line in storage.read_bytes(uri).splitlines() if line.strip()]
            self._add_finished(entries)
            kept |= {e["part"] for e in entries}
        for uri in self._listing(self.path):
            if storage.name(uri) not in kept and PurePosixPath(storage.name(uri)).match(PART_GLOB):
                log.info("removing %s: its inputs are not in the manifest", uri)
                storage.delete(uri)
        numbers = [int(name[5:10]) for name in kept]
        self._next_part = max(numbers) + 1 if numbers else 0
        log.info("%s: resuming after %d finished input(s)", self.path, len(self.finished))

    def _write_part(self, name: str, table: pa.Table) -> None:
        """Encode the part in memory, then write it as one object (never seen half-written)."""
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        storage.write_bytes(storage.join(self.path, name), sink.getvalue().to_pybytes())

    def _commit(self, items: list[Finished], **extra: Any) -> None:
        lines = "".join(json.dumps({**item.__dict__, **extra}) + "\n" for item in items)
        storage.write_bytes(storage.join(self.manifest, extra["part"].replace(".parquet", ".jsonl")), lines.encode())

    def _has_parts(self) -> bool:
        return bool(self._listing(self.path))

    def discard(self) -> None:
        """Remove OUT's part objects and its manifest objects."""
        for uri in self._listing(self.path) + self._listing(self.manifest):
            storage.delete(uri)


def open_output(path: str | Path, features: Iterable[str], schema: str = "openface", resume: bool = True,
                part_rows: int = 5000, part_seconds: float = 30.0, *, embedder: str | None = None,
                extra: str | None = None) -> BatchOutput:
    """The resumable output for `path`: a local file or folder, or a URI (`RemoteBatchOutput`)."""
    cls = RemoteBatchOutput if storage.is_uri(path) else BatchOutput
    return cls(path, features, schema, resume, part_rows, part_seconds, embedder=embedder, extra=extra)
