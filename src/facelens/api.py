"""`Analyzer`: the stages of `facelens.pipeline` (models loaded on first use) over images,
folders, videos (through `facelens.track`), arrays or bytes, as `FrameResult`s."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facelens.errors import FacelensError, InputError
from facelens.faces import Faces, FrameResult
from facelens.io import readers
from facelens.pipeline import Pipeline
from facelens.track import TrackerOptions, track_video

log = logging.getLogger(__name__)
Source = str | Path | bytes | np.ndarray


class Analyzer(Pipeline):
    """Reusable face analyzer; loads only the models that the requested features need.

    Takes the options of `facelens.pipeline.Pipeline` (features, detector, min_score, max_faces,
    detect, landmarks68, mesh, calibrate, smooth) and adds the inputs: images, folders, videos, arrays
    and bytes.
    """

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def faces(self, image: np.ndarray | str | Path | bytes, bgr: bool = False) -> Faces:
        """Analyse one image and return its `Faces`: an array (RGB unless `bgr=True`), a file path
        or encoded bytes. Anything else raises `TypeError`."""
        if isinstance(image, (str, Path, bytes)):
            return self.run(readers.read_image(image))
        if not isinstance(image, np.ndarray):
            raise TypeError(f"Analyzer.faces takes an image array, a path or encoded bytes, not {type(image).__name__}")
        return self.run(readers.as_rgb(image, bgr=bgr))

    # Sources.
    def image_result(self, name: str, load: Callable[[], np.ndarray]) -> FrameResult:
        """`FrameResult` of the RGB image that `load()` returns; a failure becomes its error row."""
        try:
            rgb = load()
            h, w = rgb.shape[:2]
            return FrameResult(name, self.faces(rgb), width=w, height=h)
        except FacelensError as exc:
            return FrameResult(name, Faces.empty(), error=str(exc))
        except Exception as exc:  # a model failing on one odd input must not end a batch
            log.exception("unexpected failure on %s", name)
            return FrameResult(name, Faces.empty(), error=f"{name}: internal error: {exc!r}")

    def video(self, path: str | Path, every: int = 1, start: float = 0.0, end: float | None = None,
              embed_every: int | None = None) -> Iterator[FrameResult]:
        """Per-frame results of a video; see `facelens.track` for how tracking fills track ids.

        `embed_every`: video frames between a track's identity descriptors (default 120, copied
        to the rows in between); 1 gives every row the descriptor of its own frame.
        """
        options = None if embed_every is None else TrackerOptions(embed_every=embed_every)
        yield from track_video(self, path, every=every, start=start, end=end, options=options)

    def iter(self, source: Source | Iterable[Source], *, every: int = 1, start: float = 0.0,
             end: float | None = None, bgr: bool = False, embed_every: int | None = None) -> Iterator[FrameResult]:
        """Yield results for a path, folder, video, array, bytes, or a list of them.

        `every`, `start`, `end` and `embed_every` apply to videos (see `video`), `bgr` to arrays.
        """
        if isinstance(source, np.ndarray):
            yield self.image_result("<array>", lambda: readers.as_rgb(source, bgr=bgr))
            return
        if isinstance(source, (bytes, bytearray)):
            yield self.image_result("<bytes>", lambda: readers.read_image(source))
            return
        items = [source] if isinstance(source, (str, Path)) else list(source)
        paths = [s for s in items if isinstance(s, (str, Path))]
        for item in items:
            if not isinstance(item, (str, Path)):
                yield from self.iter(item, every=every, start=start, end=end, bgr=bgr, embed_every=embed_every)
        for path in readers.list_inputs(paths):
            if readers.is_video(path):
                try:
                    yield from self.video(path, every=every, start=start, end=end, embed_every=embed_every)
                except InputError as exc:
                    yield FrameResult(str(path), Faces.empty(), error=str(exc))
            else:
                yield self.image_result(str(path), lambda p=path: readers.read_image(p))

    def __call__(self, source: Source | Iterable[Source], **kwargs: Any) -> Results:
        return Results(self.iter(source, **kwargs), self.features)


class Results(list):
    """A list of `FrameResult` that converts to one table (a row per face)."""

    def __init__(self, items: Iterable[FrameResult], features: Iterable[str]) -> None:
        super().__init__(items)
        self.features = frozenset(features)

    def __getitem__(self, index: Any) -> Any:
        """A slice is again `Results` (with `to_pandas`/`to_arrow`); an int index is a `FrameResult`."""
        item = super().__getitem__(index)
        return Results(item, self.features) if isinstance(index, slice) else item

    def to_arrow(self, vectors: bool = True) -> Any:
        from facelens.schema import to_arrow

        return to_arrow(self, self.features, vectors)

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    @property
    def faces(self) -> list[Faces]:
        return [r.faces for r in self]


def analyze(source: Source | Iterable[Source], features: str | Iterable[str] | None = None, **options: Any) -> Results:
    """Analyse images, folders, videos, arrays (RGB) or bytes: `facelens.analyze("photo.jpg")`.

    `options` go to `Analyzer` (detector, min_score, max_faces, detect, landmarks68, mesh, calibrate,
    smooth) or to `Analyzer.iter` (every, start, end, bgr, embed_every).
    """
    iter_keys = {"every", "start", "end", "bgr", "embed_every"}
    analyzer = Analyzer(features, **{k: v for k, v in options.items() if k not in iter_keys})
    return analyzer(source, **{k: v for k, v in options.items() if k in iter_keys})
