"""The Ray engine: the per-file function of `facelens.scale.local` mapped over a Ray Dataset.

The input files become a Dataset of paths; `map_batches` runs them on a fixed pool of actors,
each holding one `Analyzer` (it pickles as its options and loads its models once, in the actor).
Each output row is one finished input: its path and its rows as Arrow IPC bytes, so an input's
rows never straddle two blocks. The driver streams those back and writes them through the same
resumable output as the local engine (Parquet part files in OUT.parquet/, or one CSV/JSONL file),
which is what makes the two engines' outputs identical and both runs resumable.

Without an address a fresh local Ray is started with one CPU per worker (never a cluster that
happens to run on this machine); with one, the run joins that cluster. facelens must be installed
on its nodes, and the inputs readable from every node: shared paths, or URIs
(``s3://bucket/prefix/``) whose bytes each actor reads itself (`facelens.io.storage`).

A node lost mid-run (its actors die) costs only the inputs in flight there: Ray Data restarts
the actors where it can, and the inputs the driver has not received after a failed run are
submitted again (at most `MAX_PASSES` times), so no input is lost while one node is alive.
Every result names the node that analysed it (the Ray node id), which the manifest records.

Addresses (Ray 2.5x/2.60, token authentication): ``--address auto`` finds a cluster started by
``ray start`` on this machine and sends the token in ``~/.ray/auth_token`` when one exists. An
explicit ``HOST:PORT`` (the GCS port of ``ray start --head --port``) never enables token auth by
itself (so a token is never sent to an address by surprise): against a cluster with token auth
it fails with "InvalidAuthToken" unless ``RAY_AUTH_MODE=token`` is set, with the token in
``~/.ray/auth_token``, ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence

import pyarrow as pa

from facelens.api import Analyzer
from facelens.errors import FacelensError
from facelens.scale.local import Extra, default_workers, file_table

log = logging.getLogger(__name__)

FILES_PER_BATCH = 4  # inputs per actor call: small, so that results stream back steadily
FILES_PER_BLOCK = 64  # at most this many paths per input block (and at least 4 blocks per actor): results stream
# back a block at a time, and the last blocks leave actors idle for at most one block each
MAX_PASSES = 3  # runs of the dataset over the inputs not yet received, when a run fails (a node lost)
AUTH_HINT = ("the cluster uses token authentication (the log says InvalidAuthToken), set RAY_AUTH_MODE=token "
             "(the token comes from ~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH), or use --address auto "
             "on one of its nodes")


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

    `address` joins a running cluster ("auto", "HOST:PORT" or "ray://host:10001"; see the module
    docstring for token authentication); without it a fresh local Ray with `workers` CPUs
    (default: all cores) is started quietly, without its dashboard.
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
            ray.init(address="local", num_cpus=workers or default_workers(), **quiet)
    except Exception as exc:  # Ray raises bare Exceptions too (e.g. a node that timed out starting)
        raise RayError(f"could not start or join Ray{f' at {address}' if address else ''}: {exc}"
                       f"{_auth_hint(address)}") from exc
    _quiet_data()
    try:
        yield
    finally:
        ray.shutdown()


def _auth_hint(address: str | None) -> str:
    """Why joining an explicit address may have failed: Ray sends its token only when asked to."""
    explicit = address not in (None, "auto") and not address.startswith("ray://")
    if explicit and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return f"; if {AUTH_HINT}"
    return ""


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

    def __init__(self, analyzer: Analyzer, vectors: bool, schema: str, extra: Extra | None = None) -> None:
        import cv2

        cv2.setNumThreads(1)  # one CPU per actor
        self.analyzer, self.vectors, self.schema, self.extra = analyzer, vectors, schema, extra
        self.node = _ray().get_runtime_context().get_node_id()

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = batch.column("path").to_pylist()
        blobs = [to_ipc(file_table(self.analyzer, p, self.vectors, self.schema, self.extra)) for p in paths]
        return pa.table({"path": pa.array(paths, pa.string()), "rows": pa.array(blobs, pa.large_binary()),
                         "node": pa.array([self.node] * len(paths), pa.string())})


def cluster_cpus() -> int:
    """CPUs Ray can schedule on (the cluster's, or the local Ray's)."""
    return max(1, int(_ray().cluster_resources().get("CPU", 1)))


def run_ray(analyzer: Analyzer, paths: Sequence[str], workers: int | None = None, vectors: bool = True,
            schema: str = "openface", address: str | None = None,
            extra: Extra | None = None) -> Iterator[tuple[str, pa.Table, str]]:
    """Yield `(path, rows, node id)` for every path as Ray finishes them (any order).

    `workers` actors (default: every CPU Ray has), each holding one `Analyzer`; `extra` adds
    columns from each decoded image (`facelens.scale.local.Extra`). A failed run
    (e.g. a node lost) is followed by a run over the paths not yet yielded, `MAX_PASSES` runs in all.
    """
    todo = list(paths)
    if not todo:
        return
    ray = _ray()
    with ray_runtime(address, workers):
        _quiet_data()
        for attempt in range(1, MAX_PASSES + 1):
            done: set[str] = set()
            try:
                for item in _one_pass(ray, analyzer, todo, workers, vectors, schema, extra):
                    done.add(item[0])
                    yield item
                return
            except ray.exceptions.RayError as exc:
                todo = [p for p in todo if p not in done]
                if attempt == MAX_PASSES:
                    raise RayError(f"Ray failed {MAX_PASSES} times with {len(todo)} input(s) left: {exc}") from exc
                log.warning("Ray run failed with %d input(s) left (%s); running them again", len(todo),
                            exc.__class__.__name__)


def _one_pass(ray, analyzer: Analyzer, paths: list[str], workers: int | None, vectors: bool,  # noqa: ANN001
              schema: str, extra: Extra | None) -> Iterator[tuple[str, pa.Table, str]]:
    """One Ray Data run of the actor pool over `paths`."""
    actors = max(1, min(workers or cluster_cpus(), len(paths)))
    blocks = min(len(paths), max(actors * 4, -(-len(paths) // FILES_PER_BLOCK)))
    ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
    kwargs = {"analyzer": analyzer, "vectors": vectors, "schema": schema, "extra": extra}
    ds = ds.map_batches(FileAnalyzer, fn_constructor_kwargs=kwargs,
                        batch_size=FILES_PER_BATCH, batch_format="pyarrow", num_cpus=1,
                        compute=ray.data.ActorPoolStrategy(size=actors))
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for path, blob, node in zip(batch.column("path").to_pylist(), batch.column("rows").to_pylist(),
                                    batch.column("node").to_pylist()):
            yield path, from_ipc(blob), node
