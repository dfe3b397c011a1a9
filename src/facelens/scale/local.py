"""The per-file function both engines run, and the local engine: a process pool on this machine.

`file_table(analyzer, path)` turns one input into its rows (an Arrow table in the output
schema). The local engine maps it over files with one `Analyzer` per worker process; the Ray
engine (`facelens.scale.ray_engine`) maps the very same function over a Ray Dataset.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
import select
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pyarrow as pa

from facelens.api import Analyzer
from facelens.errors import FacelensError
from facelens.faces import Faces, FrameResult
from facelens.io import readers, storage
from facelens.schema import to_arrow, to_pyfeat

log = logging.getLogger(__name__)


class WorkerError(FacelensError):
    """The worker processes of the local engine could not be started."""


MAX_ATTEMPTS = 3  # a file in flight when a worker process died this many times becomes an error row


def rows_table(analyzer: Analyzer, results: list[FrameResult], vectors: bool = True, schema: str = "openface") -> pa.Table:
    """Rows of some results in the output schema (`schema.to_arrow`, renamed for "pyfeat")."""
    table = to_arrow(results, analyzer.features, vectors)
    return to_pyfeat(table) if schema == "pyfeat" else table


Extra = Callable[[np.ndarray | None, pa.Table], pa.Table]
"""Columns added to one input's rows on the worker, from the RGB image they came from (None for a
video or an unreadable image), e.g. `facelens.scale.clean.signals.image_signals`. It must give the
same columns for every input, and rows without an image."""


def file_table(analyzer: Analyzer, path: str | Path, vectors: bool = True, schema: str = "openface",
               extra: Extra | None = None) -> pa.Table:
    """Rows of one input (image or video): one per face per frame, or one error/no-face row.

    Parameters
    ----------
    analyzer : the analyzer to run (its features choose the columns).
    path : the input file, or a URI (`facelens.io.storage`) whose bytes this process reads;
        its string form fills the `file` column.
    vectors : include the `embedding`/`mesh` list columns (False for CSV).
    schema : "openface" or "pyfeat" column names.
    extra : columns added from the decoded image, in this process (see `Extra`).

    Never raises for a bad input: failures become an error row.
    """
    name = str(path)
    try:
        results, rgb = file_results(analyzer, name)
        table = rows_table(analyzer, results, vectors, schema)
        return extra(rgb, table) if extra else table
    except Exception as exc:  # a failure outside the analyzer's own per-input guard
        log.exception("failed on %s", name)
        return _error_rows(analyzer, name, f"{name}: internal error: {exc!r}", vectors, schema, extra)


def file_results(analyzer: Analyzer, name: str) -> tuple[list[FrameResult], np.ndarray | None]:
    """Results of one input and the RGB image they came from (None for a video or an unreadable
    image). An object (URI) is read by this process: an image decoded from its bytes, a video from
    a local temporary copy."""
    if readers.is_video(name):
        return (_remote_video(analyzer, name) if storage.is_uri(name) else list(analyzer.iter(name))), None
    decoded: list[np.ndarray] = []

    def load() -> np.ndarray:
        rgb = readers.read_image(storage.read_bytes(name), name=name) if storage.is_uri(name) else readers.read_image(name)
        decoded.append(rgb)
        return rgb

    result = analyzer.image_result(name if storage.is_uri(name) else str(Path(name)), load)
    return [result], (decoded[0] if decoded else None)


def _remote_video(analyzer: Analyzer, uri: str) -> list[FrameResult]:
    try:
        with storage.local_copy(uri) as local:
            results = list(analyzer.video(local))
    except FacelensError as exc:
        return [FrameResult(uri, Faces.empty(), error=str(exc))]
    for r in results:
        r.source = uri
        r.error = r.error and r.error.replace(str(local), uri)
    return results


def _error_rows(analyzer: Analyzer, name: str, message: str, vectors: bool, schema: str,
                extra: Extra | None) -> pa.Table:
    table = rows_table(analyzer, [FrameResult(name, Faces.empty(), error=message)], vectors, schema)
    return extra(None, table) if extra else table


# One analyzer per worker process, set by `_init_worker`.
_WORKER: dict[str, object] = {}


def _init_worker(analyzer: Analyzer, vectors: bool, schema: str, extra: Extra | None, parent: int,
                 parent_tmp: str | None) -> None:
    import cv2

    cv2.setNumThreads(1)  # one core per worker: the pool is the parallelism
    threading.Thread(target=_exit_with, args=(parent, parent_tmp), name="facelens-parent-watch", daemon=True).start()
    _WORKER.update(analyzer=analyzer, vectors=vectors, schema=schema, extra=extra)


def _exit_with(parent: int, parent_tmp: str | None) -> None:
    """End this worker once process `parent` (the run) has ended, even by SIGKILL, and remove the
    `pymp-*` folder multiprocessing made for it, which it could not remove itself.

    A worker's OS parent is the forkserver, which lives as long as any worker does, so a parent-death
    signal would never fire: the run's own pid is watched instead (a pidfd on Linux, else polled).
    """
    try:
        select.select([os.pidfd_open(parent)], [], [])
    except ProcessLookupError:
        pass  # gone already
    except (AttributeError, OSError):  # no pidfd here
        while _alive(parent):
            time.sleep(1.0)
    if parent_tmp:
        shutil.rmtree(parent_tmp, ignore_errors=True)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ready() -> bool:
    return True


def _work(path: str) -> pa.Table:
    return file_table(_WORKER["analyzer"], path, _WORKER["vectors"], _WORKER["schema"], _WORKER["extra"])  # type: ignore[arg-type]


def _context() -> multiprocessing.context.BaseContext:
    """forkserver where available: workers fork from a clean server (no model or thread state from
    the caller) that has imported facelens once; spawn elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["facelens.scale.local"])
        return ctx
    return multiprocessing.get_context("spawn")


def default_workers() -> int:
    return os.cpu_count() or 1


def run_local(analyzer: Analyzer, paths: Sequence[str], workers: int | None = None, vectors: bool = True,
              schema: str = "openface", extra: Extra | None = None) -> Iterator[tuple[str, pa.Table]]:
    """Yield `(path, rows)` for every path, in the order they finish.

    `workers` processes (default: the number of cores; never more than files) each hold one
    `Analyzer`; with `workers=1` (or one core) the files are analysed in this process. A worker process that
    dies (e.g. a native crash on a corrupt file) is replaced and its files retried; a file that
    kills `MAX_ATTEMPTS` workers becomes an error row.
    """
    if (workers or default_workers()) == 1:
        for path in paths:
            yield path, file_table(analyzer, path, vectors, schema, extra)
        return
    todo = deque((p, 0) for p in paths)
    while todo:
        yield from _pool_pass(analyzer, todo, max(1, min(workers or default_workers(), len(paths))), vectors, schema,
                              extra)


def _pool_pass(analyzer: Analyzer, todo: deque[tuple[str, int]], workers: int, vectors: bool,
               schema: str, extra: Extra | None) -> Iterator[tuple[str, pa.Table]]:
    """Run `todo` on one pool until it is empty or the pool breaks; then every file in flight goes
    back on `todo` (or becomes an error row once it has been in flight in `MAX_ATTEMPTS` broken
    pools) and the caller starts a fresh pool."""
    pending: dict[Future, tuple[str, int]] = {}
    tmp = multiprocessing.util.get_temp_dir()  # holds the forkserver's socket
    pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker,
                               initargs=(analyzer, vectors, schema, extra, os.getpid(),
                                         tmp if Path(tmp).name.startswith("pymp-") else None))
    restore = _exit_on_sigterm()
    try:
        try:
            pool.submit(_ready).result()
        except BrokenProcessPool as exc:
            raise WorkerError("worker processes could not start (see the log above)") from exc
        while todo or pending:
            while todo and len(pending) < 2 * workers:
                path, attempts = todo.popleft()
                pending[pool.submit(_work, path)] = (path, attempts)
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                try:
                    table = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                yield pending.pop(future)[0], table
            if broken:
                break
        for future, (path, attempts) in pending.items():
            if future.done() and future.exception() is None:
                yield path, future.result()
            elif attempts + 1 >= MAX_ATTEMPTS:
                log.error("%s: a worker process died %d times on it", path, attempts + 1)
                yield path, _error_rows(analyzer, path, f"{path}: worker process died while analysing it", vectors,
                                        schema, extra)
            else:
                log.warning("%s: worker process died; retrying", path)
                todo.appendleft((path, attempts + 1))
    except BaseException:  # SIGTERM, Ctrl-C, or the caller stopped early: nobody waits for the files in flight
        for process in list((pool._processes or {}).values()):  # no public way before Python 3.14
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        restore()


def _exit_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise `SystemExit(143)` in the main thread, so the run stops as on Ctrl-C: the
    workers are ended and the output closed (and resumable). Left alone where a handler is already
    set or off the main thread. Returns the function that puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return lambda: None

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL)
