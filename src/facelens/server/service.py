"""What the routes call: the analyzer pool, the video jobs, the gallery and the limits.

CPU work runs in worker threads on analyzers lent by an `AnalyzerPool`; the event loop only
moves bytes. Uploads stay in memory (videos: in a private temp folder until their job ends),
and neither images nor embeddings are ever logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import numpy as np

from facelens.api import Analyzer
from facelens.faces import Faces, FrameResult
from facelens.models.embedder import EmbedderSpec
from facelens.schema import to_arrow
from facelens.server.errors import ApiError
from facelens.server.jobs import AnalyzerPool, Busy, Job, JobStore
from facelens.server.media import box_list, decode_image, json_rows, overlay_data_url
from facelens.server.settings import Settings

T = TypeVar("T")


def identity_faces(analyzer: Analyzer, rgb: np.ndarray, name: str, whole_if_none: bool) -> tuple[Faces, bool]:
    """Faces with embeddings, and whether the whole image stood in for a face when none was
    detected (as `facelens verify` does for tight crops); 422 with no face and no stand-in."""
    if whole_if_none:
        return analyzer.faces_or_whole(rgb)
    faces = analyzer.faces(rgb)
    if not len(faces):
        raise ApiError(f"{name}: no face found", 422)
    return faces, False


class Service:
    """What the routes call: the pool, the jobs and the limits, with CPU work in threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        spec = None if settings.embedder is None else EmbedderSpec.from_options(settings.embedder, settings.embedder_preset)
        self.pool = AnalyzerPool(settings.workers, spec)
        self.jobs = JobStore(self.pool, settings.job_ttl_s)
        self._gallery: Any = None
        self._gallery_lock = threading.Lock()

    async def in_thread(self, work: Callable[[float], T]) -> T:
        """Run `work(deadline)` in a worker thread, giving up after the request timeout (504).

        A timed-out thread is left to finish on its own; it returns its analyzer to the pool.
        """
        timeout = self.settings.timeout_s
        deadline = time.monotonic() + timeout
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(work, deadline, abandon_on_cancel=True)
        except (TimeoutError, Busy):
            raise ApiError(f"the request did not finish within {timeout:g} s; try again or raise FACELENS_TIMEOUT_S",
                              504) from None

    def analyze(self, data: bytes, name: str, features: frozenset[str], overlay: bool, vectors: bool,
                deadline: float) -> dict[str, Any]:
        start = time.perf_counter()
        rgb = decode_image(data, name, self.settings.max_pixels)
        with self.pool.borrow(features, deadline) as analyzer:
            faces = analyzer.faces(rgb)
        h, w = rgb.shape[:2]
        table = to_arrow([FrameResult(name, faces, width=w, height=h)], features, vectors)
        return {
            "file": name, "width": w, "height": h, "features": sorted(features), "faces": len(faces),
            "columns": table.column_names, "rows": json_rows(table),
            "overlay": overlay_data_url(rgb, faces, "mesh" in features) if overlay else None,
            "seconds": round(time.perf_counter() - start, 4),
        }

    def verify(self, images: list[tuple[bytes, str]], deadline: float) -> dict[str, Any]:
        """As `facelens verify`: the closest pair of faces of two images under the embedder's threshold
        (dlib's 0.6 by default)."""
        from facelens.identity.verify import closest_pair

        start = time.perf_counter()
        rgbs = [decode_image(data, name, self.settings.max_pixels) for data, name in images]
        with self.pool.borrow(frozenset({"identity"}), deadline) as analyzer:
            found = [identity_faces(analyzer, rgb, name, True) for rgb, (_, name) in zip(rgbs, images)]
            threshold = analyzer.embedder.threshold
        (fa, whole_a), (fb, whole_b) = found
        i, j, distance = closest_pair(fa.embedding, fb.embedding)
        return {
            "same": distance < threshold, "distance": round(distance, 4), "threshold": round(threshold, 4),
            "face_a": i, "face_b": j, "boxes": [box_list(fa.boxes[i]), box_list(fb.boxes[j])],
            "faces_found": [0 if whole_a else len(fa), 0 if whole_b else len(fb)], "whole_image": [whole_a, whole_b],
            "seconds": round(time.perf_counter() - start, 4),
        }

    def gallery(self) -> Any:
        """The face gallery, opened on first use; 404 when the server runs without one."""
        if self.settings.gallery is None:
            raise ApiError("the gallery is off: start the server with --gallery PATH (or FACELENS_GALLERY)", 404)
        if self._gallery is None:
            from facelens.identity.gallery import Gallery

            self._gallery = Gallery(self.settings.gallery)
        return self._gallery

    def gallery_names(self) -> dict[str, Any]:
        with self._gallery_lock:
            gallery = self.gallery()
            return {"names": gallery.names(), "faces": len(gallery)}

    def gallery_add(self, name: str, data: bytes, filename: str, whole_if_none: bool, deadline: float) -> dict[str, Any]:
        """Add the largest face of the image under `name`."""
        from facelens.identity.verify import FaceRows

        self.gallery()
        rgb = decode_image(data, filename, self.settings.max_pixels)
        with self.pool.borrow(frozenset({"identity"}), deadline) as analyzer:
            faces, whole = identity_faces(analyzer, rgb, filename, whole_if_none)
            e = analyzer.embedder
        largest = faces[faces.largest()]
        rows = FaceRows([filename], np.zeros(1, np.int64), largest.boxes, largest.embedding, np.full(1, -1),
                        np.array([whole]), model=e.name, model_version=e.version, threshold=e.threshold)
        with self._gallery_lock:
            gallery = self.gallery()
            added = gallery.add(name, rows)
            return {"name": name, "faces": added, "total": len(gallery)}

    def gallery_remove(self, name: str) -> dict[str, Any]:
        with self._gallery_lock:
            gallery = self.gallery()
            removed = gallery.remove(name)
            if removed == 0:
                raise ApiError(f"no face named {name!r} in the gallery", 404)
            return {"name": name, "faces": removed, "total": len(gallery)}

    def gallery_search(self, data: bytes, filename: str, k: int, whole_if_none: bool, deadline: float) -> list[dict[str, Any]]:
        """Top-`k` gallery matches of every face in the image."""
        self.gallery()
        rgb = decode_image(data, filename, self.settings.max_pixels)
        with self.pool.borrow(frozenset({"identity"}), deadline) as analyzer:
            faces, whole = identity_faces(analyzer, rgb, filename, whole_if_none)
            e = analyzer.embedder
        with self._gallery_lock:
            hits = self.gallery().search(faces.embedding, k=k, model_version=e.version, threshold=e.threshold)
        return [{"face": i, "box": box_list(faces.boxes[i]), "whole_image": whole,
                 "matches": [{"name": m.name, "distance": round(m.distance, 4), "same": m.same, "file": m.file}
                             for m in matches]}
                for i, matches in enumerate(hits)]

    def job_info(self, job: Job, vectors: bool = False) -> dict[str, Any]:
        info = {
            "id": job.id, "status": job.status, "file": job.file, "features": sorted(job.features),
            "frames_done": job.frames_done, "frames_total": job.frames_total, "progress": round(job.progress, 4),
            "error": job.error, "created": job.created, "finished": job.finished,
            "expires_at": self.jobs.expires_at(job), "result": None,
        }
        if job.status == "done":
            table = job.table(vectors)
            info["result"] = {"columns": table.column_names, "rows": json_rows(table)}
        return info

    def close(self) -> None:
        self.jobs.close()

