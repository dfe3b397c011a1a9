"""The Ray engine: the per-file function of `facelens.scale.local` mapped over a Ray Dataset.

The input files become a Dataset of paths; `map_batches` runs them on a fixed pool of actors,
each holding one `Analyzer` (it pickles as its options and loads its models once, in the actor).
Each output row is one finished input: its path and its rows as Arrow IPC bytes, so an input's
rows never straddle two blocks. The driver streams those back and writes them through the same
resumable output as the local engine (Parquet part files in OUT.parquet/, or one CSV/JSONL file),
which is what makes the two engines' outputs identical and both runs resumable.

Without an address a local Ray is started with one CPU per worker; with one, the run joins that
cluster (facelens must be installed on its nodes, and the inputs readable at the same paths).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

import pyarrow as pa

from facelens.api import Analyzer
from facelens.errors import FacelensError
from facelens.scale.local import default_workers, file_table

log = logging.getLogger(__name__)

FILES_PER_BATCH = 4  # inputs per actor call: small, so that results stream back steadily
FILES_PER_BLOCK = 256  # at most this many paths per input block (and at least 4 blocks per actor)


class RayError(FacelensError):
    """Ray is not installed, or the cluster could not be joined."""


def _ray():  # noqa: ANN202 - the ray module
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise RayError("the ray engine needs Ray Data: pip install 'facelens[ray]'") from exc
    return ray


@contextlib.contextmanager
def ray_runtime(address: str | None = None, workers: int | None = None) -> Iterator[None]:
    """Use the Ray already initialised in this process, or start one for the duration.

    `address` joins a running cluster ("auto" or "ray://host:10001"); without it a local Ray with
    `workers` CPUs (default: all cores) is started quietly, without its dashboard.
    """
    ray = _ray()
    if ray.is_initialized():
        yield
        return
    quiet = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers or default_workers(), **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayError(f"could not start or join Ray{f' at {address}' if address else ''}: {exc}") from exc
    _quiet_data()
    try:
        yield
    finally:
        ray.shutdown()


def _quiet_data() -> None:
    """No Ray Data progress bars or plan logs: the CLI draws its own progress."""
    ray = _ray()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


class FileAnalyzer:
    """Ray Data class UDF: a batch of paths -> one row per path with its rows as IPC bytes."""

    def __init__(self, analyzer: Analyzer, vectors: bool, schema: str) -> None:
        import cv2

        cv2.setNumThreads(1)  # one CPU per actor
        self.analyzer, self.vectors, self.schema = analyzer, vectors, schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = batch.column("path").to_pylist()
        blobs = [to_ipc(file_table(self.analyzer, p, self.vectors, self.schema)) for p in paths]
        return pa.table({"path": pa.array(paths, pa.string()), "rows": pa.array(blobs, pa.large_binary())})


def cluster_cpus() -> int:
    """CPUs Ray can schedule on (the cluster's, or the local Ray's)."""
    return max(1, int(_ray().cluster_resources().get("CPU", 1)))


def run_ray(analyzer: Analyzer, paths: Sequence[str], workers: int | None = None, vectors: bool = True,
            schema: str = "openface", address: str | None = None) -> Iterator[tuple[str, pa.Table]]:
    """Yield `(path, rows)` for every path as Ray finishes them (any order).

    `workers` actors (default: every CPU Ray has), each holding one `Analyzer`.
    """
    if not paths:
        return
    ray = _ray()
    with ray_runtime(address, workers):
        _quiet_data()
        actors = max(1, min(workers or cluster_cpus(), len(paths)))
        blocks = min(len(paths), max(actors * 4, -(-len(paths) // FILES_PER_BLOCK)))
        ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
        ds = ds.map_batches(FileAnalyzer, fn_constructor_kwargs={"analyzer": analyzer, "vectors": vectors, "schema": schema},
                            batch_size=FILES_PER_BATCH, batch_format="pyarrow", num_cpus=1,
                            compute=ray.data.ActorPoolStrategy(size=actors))
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            for path, blob in zip(batch.column("path").to_pylist(), batch.column("rows").to_pylist()):
                yield path, from_ipc(blob)
