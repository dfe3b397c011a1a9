"""Analyse inputs into an output table, with optional aligned crops and overlays.

The one loop behind `facelens analyze` and `facelens demo`: rows are written as each input
finishes, and a failing input becomes an error row instead of ending the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facelens.api import Analyzer
from facelens.errors import InputError
from facelens.faces import Faces, FrameResult
from facelens.io import readers
from facelens.io.writers import TableWriter


@dataclass
class RunStats:
    inputs: int = 0
    frames: int = 0
    faces: int = 0
    errors: int = 0
    failed_inputs: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return self.inputs - len(self.failed_inputs)


def _stem(result: FrameResult) -> str:
    return Path(result.source).stem


def save_crops(result: FrameResult, folder: Path) -> None:
    from facelens.io.overlay import save_image

    if result.faces.crops is None:
        return
    for i, crop in enumerate(result.faces.crops):
        save_image(folder / f"{_stem(result)}_{result.frame:06d}_{i}.png", crop)


def _results(analyzer: Analyzer, path: Path, every: int, start: float,
             end: float | None) -> Iterator[tuple[FrameResult, np.ndarray | None]]:
    """(result, rgb) pairs of one input; rgb is the decoded frame for videos, None for images."""
    if not readers.is_video(path):
        for result in analyzer.iter(path):
            yield result, None
        return
    from facelens.track import video_frames

    try:
        yield from video_frames(analyzer, path, every=every, start=start, end=end)
    except InputError as exc:
        yield FrameResult(str(path), Faces.empty(), error=str(exc)), None


def analyze_to_file(
    analyzer: Analyzer,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    schema: str = "openface",
    crops: str | Path | None = None,
    overlay: str | Path | None = None,
    every: int = 1,
    start: float = 0.0,
    end: float | None = None,
    on_input: Callable[[Path, int], None] | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> RunStats:
    """Write one row per face (or per empty/failed frame) of every input to `out`.

    `on_input(path, n_frames)` is called before each input, `on_frame(result)` after each frame.
    """
    from facelens.io.overlay import VideoOverlay, draw, save_image

    paths = readers.list_inputs(inputs)
    stats = RunStats(inputs=len(paths))
    with TableWriter(out, analyzer.features, schema=schema) as writer:
        for path in paths:
            info = None
            if readers.is_video(path):
                try:
                    info = readers.video_info(path)
                except InputError:  # reported as an error row below
                    pass
            if on_input:
                on_input(path, info.frames if info else 1)
            good = False
            vid_out = None
            try:
                for result, rgb in _results(analyzer, path, every, start, end):
                    writer.write([result])
                    stats.frames += 1
                    stats.faces += len(result.faces)
                    if result.error:
                        stats.errors += 1
                    else:
                        good = True
                    if crops:
                        save_crops(result, Path(crops))
                    if overlay and not result.error:
                        if rgb is not None:
                            if vid_out is None:
                                fps = info.fps / every if info else 0.0
                                vid_out = VideoOverlay(Path(overlay) / f"{path.stem}.mp4", fps, (rgb.shape[1], rgb.shape[0]))
                            vid_out.write(draw(rgb, result.faces))
                        else:
                            save_image(Path(overlay) / f"{path.stem}.jpg", draw(readers.read_image(path), result.faces))
                    if on_frame:
                        on_frame(result)
            finally:
                if vid_out is not None:
                    vid_out.close()
            if not good:
                stats.failed_inputs.append(str(path))
    return stats
