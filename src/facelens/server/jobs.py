"""Work behind the REST API: a pool of analyzers shared by requests, and background video jobs.

Every pooled `Analyzer` is lent to one request or job at a time, so no model object is ever
used by two threads at once; models load once per pooled analyzer and stay loaded. Finished
jobs keep their results (rows only, never frames) until their time-to-live runs out.
"""

from __future__ import annotations

import logging
import math
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
import pyarrow as pa

from facelens.api import Analyzer
from facelens.errors import FacelensError, InputError
from facelens.models.embedder import EmbedderSpec
from facelens.faces import FrameResult
from facelens.features import parse_features
from facelens.io import readers
from facelens.schema import to_arrow
from facelens.server.errors import ApiError

log = logging.getLogger(__name__)


class Busy(FacelensError):
    """No analyzer came free before the request's deadline."""


def request_features(features: str | None) -> frozenset[str]:
    """Features a request may ask for: as the CLI's `--features`, but aligned crops are not served
    over HTTP ("all" leaves them out; naming them is an error)."""
    names = parse_features(None if features in (None, "", "default") else features)
    if "crops" in names and "crops" in [f.strip() for f in str(features).split(",")]:
        raise ApiError("the crops feature is not served over HTTP; use `facelens analyze --crops`", 422)
    return names - {"crops"}


class AnalyzerPool:
    """`size` analyzers handed out through a queue: `with pool.borrow(features) as analyzer: ...`.

    `Analyzer.features` and `.detect` are read on every call, so a borrowed analyzer serves any
    feature set and loads a model the first time a request needs it; each loan starts from
    `detect=True`.
    """

    def __init__(self, size: int, embedder: EmbedderSpec | None = None) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self.size = size
        self._free: queue.Queue[Analyzer] = queue.Queue()
        for _ in range(size):
            self._free.put(Analyzer(embedder=embedder))

    @property
    def free(self) -> int:
        return self._free.qsize()

    @contextmanager
    def borrow(self, features: frozenset[str], deadline: float | None = None) -> Iterator[Analyzer]:
        """Lend an analyzer set to `features`, waiting until `deadline` (time.monotonic) at most."""
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            analyzer = self._free.get(timeout=wait)
        except queue.Empty:
            raise Busy("every analyzer stayed busy until the request's deadline") from None
        try:
            if deadline is not None and time.monotonic() > deadline:
                raise Busy("the request's deadline passed while it waited for an analyzer")
            analyzer.features, analyzer.detect = features, True
            yield analyzer
        finally:
            self._free.put(analyzer)

    def warm(self, image: Path, features: frozenset[str]) -> None:
        """Load every model `features` needs in every pooled analyzer by analysing `image` once each."""
        rgb = readers.read_image(image)
        held = [self._free.get() for _ in range(self.size)]
        try:
            for analyzer in held:
                analyzer.features = features
                analyzer.faces(rgb)
        finally:
            for analyzer in held:
                self._free.put(analyzer)


@dataclass
class Job:
    """A background video analysis. Status moves queued -> running -> done | failed."""

    id: str
    file: str
    features: frozenset[str]
    every: int
    frames_total: int  # frames to analyse, as the container declares them
    max_frames: int  # the limit, enforced on the frames decoded (a header may understate them)
    status: str = "queued"
    frames_done: int = 0
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    results: list[FrameResult] = field(default_factory=list, repr=False)

    @property
    def progress(self) -> float:
        if self.status == "done":
            return 1.0
        return min(1.0, self.frames_done / self.frames_total) if self.frames_total else 0.0

    def table(self, vectors: bool = False) -> pa.Table:
        """The finished job's rows, as `facelens analyze` would write them."""
        return to_arrow(self.results, self.features, vectors)


class JobStore:
    """Runs video jobs one at a time on a pooled analyzer and forgets them `ttl_s` after they end."""

    def __init__(self, pool: AnalyzerPool, ttl_s: float, max_active: int = 8) -> None:
        self.pool = pool
        self.ttl_s = ttl_s
        self.max_active = max_active
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facelens-job")
        self._sweeper = threading.Thread(target=self._sweep, name="facelens-job-expiry", daemon=True)
        self._sweeper.start()

    def submit_video(self, data: bytes, filename: str, features: frozenset[str], every: int,
                     max_frames: int, max_pixels: int) -> Job:
        """Check an uploaded video, then queue its analysis. The upload lives in a private temp
        folder that is removed when the job ends (or here, if the video is refused)."""
        if not data:
            raise ApiError(f"{filename}: empty upload (0 bytes)", 400)
        suffix = Path(filename).suffix.lower()
        if suffix not in readers.VIDEO_EXTS:
            raise ApiError(f"{filename}: not a video; expected one of {', '.join(sorted(readers.VIDEO_EXTS))}", 415)
        folder = Path(tempfile.mkdtemp(prefix="facelens-job-"))
        try:
            path = folder / f"upload{suffix}"
            path.write_bytes(data)
            try:
                info = readers.video_info(path)
            except InputError as exc:
                raise ApiError(str(exc).replace(str(path), filename), 422) from None
            if info.frames <= 0 or info.width <= 0:
                raise ApiError(f"{filename}: not a readable video (no frames)", 422)
            if info.width * info.height > max_pixels:
                raise ApiError(f"{filename}: {info.width}x{info.height} frames are over the {max_pixels:,}-pixel limit", 413)
            frames = math.ceil(info.frames / every)
            if frames > max_frames:
                raise ApiError(f"{filename}: {frames} frames to analyse is over the limit of {max_frames}; "
                                  f"raise `every` or trim the video", 413)
            with self._lock:
                self._purge()
                active = sum(j.status in ("queued", "running") for j in self._jobs.values())
                if active >= self.max_active:
                    raise ApiError(f"{active} video jobs are already waiting or running; try again later", 429)
                job = Job(uuid.uuid4().hex, filename, features, every, frames, max_frames)
                self._jobs[job.id] = job
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._executor.submit(self._run, job, path)
        log.info("job %s queued: %d frames", job.id, frames)
        return job

    def _run(self, job: Job, path: Path) -> None:
        try:
            if self._stop.is_set():
                raise InputError("the server stopped before this job ran")
            with self.pool.borrow(job.features) as analyzer:
                job.status = "running"
                for result in analyzer.video(path, every=job.every):
                    if self._stop.is_set():
                        raise InputError("the server stopped while this job ran")
                    if job.frames_done >= job.max_frames:
                        raise InputError(f"{job.file}: more than {job.max_frames} frames to analyse (the file "
                                         f"declared {job.frames_total}); over the limit, stopped")
                    error = result.error.replace(str(path), job.file) if result.error else None
                    job.results.append(replace(result, source=job.file, error=error))
                    job.frames_done += 1
            job.status = "done"
        except FacelensError as exc:
            job.error, job.status = str(exc).replace(str(path), job.file), "failed"
        except Exception as exc:  # a job must fail alone, never the server
            log.exception("job %s failed", job.id)
            job.error, job.status = f"internal error: {exc.__class__.__name__}", "failed"
        finally:
            job.finished = time.time()
            shutil.rmtree(path.parent, ignore_errors=True)
            log.info("job %s %s after %d frames", job.id, job.status, job.frames_done)

    def _sweep(self) -> None:
        """Drop expired results even when nobody asks for them."""
        while not self._stop.wait(min(60.0, max(0.1, self.ttl_s / 2))):
            with self._lock:
                self._purge()

    def _purge(self) -> None:
        now = time.time()
        for key in [k for k, j in self._jobs.items() if j.finished is not None and now - j.finished > self.ttl_s]:
            del self._jobs[key]

    def get(self, job_id: str) -> Job:
        with self._lock:
            self._purge()
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(f"no job {job_id!r}: unknown, or expired after {self.ttl_s:g} s", 404)
        return job

    def delete(self, job_id: str) -> None:
        """Forget a finished job and its results now."""
        job = self.get(job_id)
        if job.finished is None:
            raise ApiError(f"job {job_id} is still {job.status}; delete it once it has ended", 409)
        with self._lock:
            self._jobs.pop(job_id, None)

    def expires_at(self, job: Job) -> float | None:
        return None if job.finished is None else job.finished + self.ttl_s

    def close(self) -> None:
        """Stop: queued jobs fail at once, a running one at its next frame; results are dropped."""
        self._stop.set()
        self._executor.shutdown(wait=True, cancel_futures=False)
        self._sweeper.join()
        with self._lock:
            self._jobs.clear()
