"""Batch runs over many files on two engines, one result: a local process pool (default) or Ray
Data (`engine="ray"`, a local Ray or a cluster by address). Both map the same per-file function
(`facelens.scale.local.file_table`); the output is resumable through a manifest of finished
inputs (`facelens.scale.manifest`), so a killed run loses only what it had not yet written (see `facelens.scale.manifest`).

>>> from facelens import Analyzer
>>> from facelens.scale import run_batch
>>> stats = run_batch(Analyzer("pose,identity"), ["photos/"], "out.parquet", engine="local")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from facelens.api import Analyzer
from facelens.errors import EngineError
from facelens.io import storage
from facelens.run import RunStats
from facelens.scale.local import Extra, file_table, rows_table, run_local
from facelens.scale.manifest import Finished, input_key, manifest_path, open_output

ENGINES = ("local", "ray")

__all__ = ["ENGINES", "Finished", "RunStats", "file_table", "manifest_path", "run_batch"]


def _table_counts(table: pa.Table) -> tuple[int, int]:
    """(frames, error rows) of one input's rows: a frame gives one row per face, or one row; an
    error row (an unreadable input, a video cut short) is not a frame."""
    frames = table.filter(pc.is_null(table.column("error"))).column("frame")
    return pc.count_distinct(frames).as_py(), table.num_rows - table.column("error").null_count


def engine_results(engine: str, analyzer: Analyzer, paths: Sequence[str], workers: int | None, vectors: bool,
                   schema: str, address: str | None,
                   extra: Extra | None = None) -> Iterator[tuple[str, pa.Table, str | None]]:
    """`(path, rows, node)` of every path from the chosen engine ("local" or "ray"), as they
    finish; `node` is the Ray node id that analysed it (None on the local engine)."""
    if engine == "ray":
        from facelens.scale.ray_engine import run_ray

        return run_ray(analyzer, paths, workers, vectors, schema, address, extra)
    return ((path, table, None) for path, table in run_local(analyzer, paths, workers, vectors, schema, extra))


def run_batch(
    analyzer: Analyzer,
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    schema: str = "openface",
    resume: bool = True,
    on_start: Callable[[RunStats], None] | None = None,
    on_file: Callable[[Finished, RunStats], None] | None = None,
    part_rows: int = 5000,
    part_seconds: float = 30.0,
    extra: Extra | None = None,
) -> RunStats:
    """Analyse every input (folders expanded) into `out`, skipping inputs a previous run finished.

    Parameters
    ----------
    analyzer : the analyzer (pickled as its options to the workers).
    inputs : files, folders and URIs (``s3://bucket/prefix/``: every image and video under it; see
        `facelens.io.storage`); workers read the bytes of a URI themselves.
    out : .csv, .jsonl or .parquet (a directory of part files), or a .parquet URI (a prefix of
        part objects); its manifest lies beside it.
    engine : "local" (process pool) or "ray" (Ray Data; `address` joins a cluster).
    workers : processes or actors (default: one per core / per Ray CPU).
    resume : skip inputs named in the manifest; False starts over.
    on_start, on_file : progress callbacks, before the first input and after each one.
    part_rows, part_seconds : Parquet part size and age limits (see `BatchOutput`).
    extra : columns added on the workers from each decoded image (`facelens.scale.local.Extra`);
        its name is recorded in the manifest, so a resumed run must use the same.
    """
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if address and engine != "ray":
        raise EngineError("an address joins a Ray cluster; use it with the ray engine")
    paths = list(dict.fromkeys(storage.expand_inputs(inputs)))
    embedder = analyzer.embedder.version if analyzer.embedder_spec is not None else None
    extra_name = f"{extra.__module__}.{extra.__qualname__}" if extra else None
    with open_output(out, analyzer.features, schema, resume, part_rows, part_seconds, embedder=embedder,
                     extra=extra_name) as sink:
        seen: set[str] = set()
        todo = []
        for p in paths:
            key = input_key(p)
            if key not in seen and not sink.done(p):
                todo.append(p)
            seen.add(key)
        stats = RunStats(inputs=len(seen), skipped=len(seen) - len(todo))
        if on_start:
            on_start(stats)
        start = time.perf_counter()
        for path, table, node in engine_results(engine, analyzer, todo, workers, sink.vectors, schema, address, extra):
            item = sink.add(path, table, node)
            frames, errors = _table_counts(table)
            stats.add_input(path, frames, item.rows, item.faces, errors)
            stats.seconds = time.perf_counter() - start
            if on_file:
                on_file(item, stats)
        empty = rows_table(analyzer, [], sink.vectors, schema)
        sink.ensure_schema(extra(None, empty) if extra else empty)
    stats.seconds = time.perf_counter() - start
    return stats
