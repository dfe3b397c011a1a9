"""Analyse inputs into an output table, with optional aligned crops and overlays.

The one loop behind `facelens analyze` and `facelens demo`: rows are written as each input
finishes, and a failing input becomes an error row instead of ending the run.
"""

from __future__ import annotations

import time
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
    """What a run did: `analyze_to_file` (one process) or `facelens.scale.run_batch` (engines).

    Counts cover the inputs this run analysed; inputs that an earlier run of a resumed batch
    finished are counted in `skipped` only.
    """

    inputs: int = 0  # input files, folders expanded
    skipped: int = 0  # finished by an earlier run (a resumed batch): not analysed again
    files: int = 0  # inputs analysed by this run
    frames: int = 0  # frames analysed: one per image, one per video frame (failed inputs count none)
    rows: int = 0  # table rows: one per face, or one per face-less or failed frame
    faces: int = 0  # face rows
    errors: int = 0  # error rows
    failed_inputs: list[str] = field(default_factory=list)  # analysed inputs whose every row is an error
    seconds: float = 0.0  # wall time of the run so far

    @property
    def succeeded(self) -> int:
        """Inputs with a result: finished earlier, or analysed now with an error-free frame."""
        return self.inputs - len(self.failed_inputs)

    @property
    def rate(self) -> float:
        """Files analysed per second in this run."""
        return self.files / self.seconds if self.seconds > 0 else 0.0

    def add_input(self, name: str, frames: int, rows: int, faces: int, errors: int) -> None:
        """Count one analysed input; it failed when every row it gave is an error row."""
        self.files += 1
        self.frames += frames
        self.rows += rows
        self.faces += faces
        self.errors += errors
        if errors == rows:
            self.failed_inputs.append(name)


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
    """(result, rgb) pairs of one input; rgb is the frame as decoded for the analysis (None on a
    failed read), so that an overlay is drawn without decoding the input again."""
    if not readers.is_video(path):
        try:
            rgb = readers.read_image(path)
        except InputError as exc:
            yield FrameResult(str(path), Faces.empty(), error=str(exc)), None
            return
        yield analyzer.image_result(str(path), lambda: rgb), rgb
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
    began = time.perf_counter()
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
            rows_before, frames, faces, errors = writer.rows, 0, 0, 0
            vid_out = None
            try:
                for result, rgb in _results(analyzer, path, every, start, end):
                    writer.write([result])
                    frames += result.error is None
                    faces += len(result.faces)
                    errors += result.error is not None
                    if crops:
                        save_crops(result, Path(crops))
                    if overlay and rgb is not None and not result.error:
                        if not readers.is_video(path):
                            save_image(Path(overlay) / f"{path.stem}.jpg", draw(rgb, result.faces))
                        else:
                            if vid_out is None:
                                fps = info.fps / every if info else 0.0
                                vid_out = VideoOverlay(Path(overlay) / f"{path.stem}.mp4", fps, (rgb.shape[1], rgb.shape[0]))
                            vid_out.write(draw(rgb, result.faces))
                    if on_frame:
                        on_frame(result)
            finally:
                if vid_out is not None:
                    vid_out.close()
            stats.add_input(str(path), frames, writer.rows - rows_before, faces, errors)
            stats.seconds = time.perf_counter() - began
    return stats
