"""`facelens plot`: the CLI over `facelens.plot.plot_timeline`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from facelens.console import console, fail
from facelens.errors import FacelensError
from facelens.plot import MAX_TRACKS, plot_timeline


PLOT_FORMATS = (".png", ".svg", ".pdf")


def register(app: typer.Typer) -> None:
    """Add `plot` to the root app."""
    app.command()(plot)


def plot(
    table: Path = typer.Argument(..., help="A facelens output table of a video (.parquet, .csv or .jsonl)."),
    output: Path = typer.Option(Path("timeline.png"), "--output", "-o", help="Image to write (.png, .svg, .pdf)."),
    max_tracks: Optional[int] = typer.Option(MAX_TRACKS, "--max-tracks", min=1, help="Plot the N longest tracks."),
) -> None:
    """Per-track timelines of emotion probabilities, head pose, AU estimates and blendshapes over time."""
    from facelens.video import read_table

    if output.suffix.lower() not in PLOT_FORMATS:
        fail(f"{output}: unknown image format {output.suffix!r}; use {', '.join(PLOT_FORMATS)}", 2)
    try:
        written = plot_timeline(read_table(table), output, max_tracks or MAX_TRACKS)
    except FacelensError as exc:
        fail(str(exc), 1)
    console.print(f"wrote {written}")
