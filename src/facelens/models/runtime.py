"""One small interface over the runtimes: LiteRT for MediaPipe's .tflite, onnxruntime for .onnx.

A `Model` is a picklable handle: it pickles as its asset name and rebuilds its session on first
use on the other side (what Ray actors and process pools need). Every file is checked against the
sha256 recorded in `assets/MANIFEST.json` before it is loaded. `sigmoid` turns the logits that
several networks output into probabilities.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facelens.errors import ModelError

log = logging.getLogger(__name__)
ASSETS = Path(__file__).parent / "assets"


@functools.cache
def manifest() -> dict[str, dict[str, Any]]:
    """Entries of MANIFEST.json keyed by model name."""
    path = ASSETS / "MANIFEST.json"
    if not path.exists():
        raise ModelError(f"model manifest missing: {path}")
    return {e["name"]: e for e in json.loads(path.read_text())}


def _resolve(file: str) -> Path:
    """A manifest `file`: a path under assets/, or `package:<pkg>/<path>` inside an installed package."""
    if not file.startswith("package:"):
        return ASSETS / file
    pkg, _, rel = file[len("package:"):].partition("/")
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {pkg!r} holding {rel} is not installed (pip install {pkg.replace('_', '-')})")
    return Path(list(spec.submodule_search_locations)[0]) / rel


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def asset_path(name: str) -> Path:
    """Path of a model file, after checking it against its recorded sha256 (once per process)."""
    entries = manifest()
    if name not in entries:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(entries))}")
    entry = entries[name]
    path = _resolve(entry["file"])
    if not path.exists():
        raise ModelError(f"model file for {name!r} not found at {path}")
    if file_sha256(path) != entry["sha256"]:
        raise ModelError(f"{path} does not match the sha256 in MANIFEST.json; reinstall facelens")
    return path


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """The logistic `1 / (1 + exp(-x))` of a network's logits, without overflow at any `x` (float32 stays float32)."""
    return np.exp(-np.logaddexp(0, -np.asarray(x)))


XNNPACK_NOTICE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
# Batch size the per-face onnxruntime heads run in: onnxruntime 1.32 runs long batches slower per
# face (1 thread, batches of 7-228 crops, CPU ms a crop, one batch / chunks of 8): age_gender
# 3.24 / 2.16, emotion 1.98 / 1.39, dlib_resnet_onnx 5.48 / 5.16.
HEAD_BATCH = 8


@contextlib.contextmanager
def _native_stderr_filtered(drop: bytes) -> Iterator[None]:
    """Capture what native code writes to file descriptor 2 and pass it on without the `drop` lines.

    LiteRT's C++ logger prints `drop` on every interpreter it creates, whatever the log level.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().splitlines(keepends=True) if line.rstrip() != drop]
            if kept:
                os.write(2, b"".join(kept))


def pool_size() -> int:
    """How many interpreters of one LiteRT model may exist at once: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Model:
    """A loaded network: `model(x, ...) -> list of output arrays`, callable from several threads.

    A LiteRT interpreter is not thread-safe, so each call borrows one from a pool that grows, up to
    `pool_size()`, while callers overlap (one interpreter for a single-threaded caller); an
    onnxruntime session's `run` is thread-safe, so one session serves all calls. The pool lets the
    video path's two worker threads run Face Mesh V2 and the blendshape model at once: default
    features 1.89 instead of 1.72 cores busy on walking_people.mp4, 4-12% more FPS on the five
    clips of `benchmarks/video.py` (two same-run comparisons).
    """

    def __init__(self, name: str, threads: int = 1, max_batch: int | None = None) -> None:
        self.name = name
        self.threads = threads
        self.max_batch = max_batch  # onnxruntime: longer batches (axis 0 of every input) run in chunks
        self._session: Any = None  # the onnxruntime session
        self._idle: list[Any] = []  # LiteRT interpreters not in use
        self._made = 0
        self._lock = threading.Condition()

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "threads": self.threads, "max_batch": self.max_batch}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"], state["threads"], state.get("max_batch"))  # type: ignore[misc]

    @functools.cached_property
    def litert(self) -> bool:
        """Whether the file is a .tflite that LiteRT runs (else onnxruntime)."""
        return asset_path(self.name).suffix == ".tflite"

    @property
    def interpreters(self) -> int:
        """LiteRT interpreters made so far (0 for an onnxruntime model)."""
        return self._made

    def _load(self) -> Any:
        path = asset_path(self.name)
        try:
            if self.litert:
                from ai_edge_litert.interpreter import Interpreter

                with _native_stderr_filtered(XNNPACK_NOTICE):
                    session = Interpreter(model_path=str(path), num_threads=self.threads)
                    session.allocate_tensors()
            else:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.threads
                opts.inter_op_num_threads = 1
                opts.log_severity_level = 3
                session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # runtime-specific load failures
            raise ModelError(f"could not load {path.name}: {exc}") from exc
        log.debug("loaded %s from %s", self.name, path)
        return session

    def _borrow(self) -> Any:
        """An idle LiteRT interpreter, a new one while the pool has room, else the next one freed."""
        with self._lock:
            while not self._idle and self._made >= pool_size():
                self._lock.wait()
            if self._idle:
                return self._idle.pop()
            self._made += 1
        try:
            return self._load()
        except BaseException:
            with self._lock:
                self._made -= 1
                self._lock.notify()
            raise

    def _give_back(self, interpreter: Any) -> None:
        with self._lock:
            self._idle.append(interpreter)
            self._lock.notify()

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        if self.litert:
            s = self._borrow()
            try:
                details = s.get_input_details()
                for d, x in zip(details, inputs):
                    if tuple(d["shape"]) != x.shape:
                        s.resize_tensor_input(d["index"], x.shape)
                        s.allocate_tensors()
                    s.set_tensor(d["index"], np.ascontiguousarray(x, dtype=d["dtype"]))
                s.invoke()
                return [s.get_tensor(d["index"]).copy() for d in s.get_output_details()]
            finally:
                self._give_back(s)
        with self._lock:
            if self._session is None:
                self._session = self._load()
        names = [i.name for i in self._session.get_inputs()]
        n = len(inputs[0]) if inputs and inputs[0].ndim else 0
        if self.max_batch is None or n <= self.max_batch:
            return self._session.run(None, dict(zip(names, inputs)))
        parts = [self._session.run(None, {k: x[i:i + self.max_batch] for k, x in zip(names, inputs)})
                 for i in range(0, n, self.max_batch)]
        return [np.concatenate(outs) for outs in zip(*parts)]
