"""CLI for batch runs: the engine path of `facelens analyze`, and `facelens clean`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

import typer

from facelens.api import Analyzer
from facelens.console import console, embedder_options, fail, progress, warn
from facelens.errors import FacelensError, FeatureError
from facelens.models.embedder import EmbedderError, EmbedderSpec
from facelens.scale import ENGINES, Finished, RunStats

ENGINE_HELP = "Batch engine: local (a process pool) or ray (Ray Data: a local Ray, or a cluster with --address)."


@contextlib.contextmanager
def batch_progress(label: str = "files") -> Iterator[tuple]:
    """A live bar (files done, files/s, faces, errors) and the `on_start`/`on_file` callbacks that drive it."""
    with progress() as bar:
        task = bar.add_task(label, total=None, info="")

        def on_start(stats: RunStats) -> None:
            bar.update(task, total=stats.inputs, completed=stats.skipped,
                       info=f"{stats.skipped} already done" if stats.skipped else "starting workers")

        def on_file(item: Finished, stats: RunStats) -> None:
            if item.reason:
                warn(item.reason)
            bar.update(task, advance=1, description=f"{label} {Path(item.input).name[:24]}",
                       info=f"{stats.rate:.1f} files/s · {stats.faces} faces · {stats.errors} errors")

        yield on_start, on_file


def summary_line(stats: RunStats, engine: str, out: str | Path) -> str:
    return (f"{stats.inputs} input(s): {stats.files} analysed, {stats.skipped} already done; {stats.faces} face(s), "
            f"{stats.rows} row(s), {len(stats.failed_inputs)} error input(s); {stats.rate:.1f} files/s "
            f"over {stats.seconds:.1f} s ({engine} engine) -> {out}")


def uses_engine(inputs: Sequence[str], output: str, engine: str | None, single_file_options: bool,
                address: str | None) -> bool:
    """Whether `facelens analyze` runs on a batch engine: image inputs without --crops/--overlay/--summary,
    and every run that reads or writes object storage (URIs).

    Local videos and those options use the single-process path (`facelens.run.analyze_to_file`);
    asking for an engine or an address there is a usage error.
    """
    from facelens.io.readers import is_video
    from facelens.io.storage import expand_inputs, is_uri

    if any(is_uri(p) for p in [*inputs, output]):
        if single_file_options:
            fail("--crops, --overlay and --summary write local files; use them with local inputs and output", 2)
        engine = engine or "local"
    videos = any(is_video(p) and not is_uri(p) for p in expand_inputs(inputs))
    if engine is None and address is None:
        return not videos and not single_file_options
    if videos or single_file_options:
        fail("--engine/--address run image inputs; videos, --crops, --overlay and --summary run without them", 2)
    if engine not in ENGINES:
        fail(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}", 2)
    if address and engine != "ray":
        fail("--address joins a Ray cluster; use it with --engine ray", 2)
    return True


def analyze_batch(analyzer: Analyzer, inputs: Sequence[str], output: str, *, schema: str, engine: str,
                  workers: int | None, address: str | None, resume: bool) -> None:
    """Run `facelens.scale.run_batch` with a live progress bar; exit 1 when no input succeeded."""
    from facelens.scale import run_batch

    try:
        with batch_progress() as (on_start, on_file):
            stats = run_batch(analyzer, inputs, output, engine=engine, workers=workers, address=address,
                              schema=schema, resume=resume, on_start=on_start, on_file=on_file)
    except FeatureError as exc:
        fail(str(exc), 2)
    except FacelensError as exc:
        fail(str(exc), 1)
    console.print(summary_line(stats, engine, output))
    if stats.inputs == 0:
        fail("no image or video found in the inputs", 1)
    if stats.succeeded == 0:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(clean)


@embedder_options
def clean(
    dataset: Optional[str] = typer.Argument(None, help="A dataset laid out as one folder per identity "
                                            "(a folder, or a URI prefix such as s3://bucket/faces/)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Report folder (CSVs, index.html, summary.json)."),
    apply: Optional[str] = typer.Option(None, "--apply", help="quarantine: move flagged files to REPORT/quarantine/."),
    undo: Optional[Path] = typer.Option(None, "--undo", help="Move back the files quarantined by this report folder."),
    engine: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes or Ray actors (default: all cores)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join (with --engine ray)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Skip images that the report folder's "
                                "manifests list as analysed (--no-resume analyses every image again)."),
    embedder: EmbedderSpec | None = None,
) -> None:
    """Find no-face, multi-face, low-quality, duplicate and mislabelled images in a face dataset
    (identity distances follow the embedder's same-person threshold)."""
    from facelens.io.storage import is_uri
    from facelens.scale import clean as cl

    if undo is not None:
        if dataset is not None or apply is not None:
            fail("--undo takes only the report folder", 2)
        try:
            n = cl.undo(undo)
        except FacelensError as exc:
            fail(str(exc), 1)
        console.print(f"restored {n} file(s) from {undo / 'quarantine'}")
        return
    if dataset is None or output is None:
        fail("give a DATASET and a report folder (-o), or --undo REPORT", 2)
    if apply not in (None, "quarantine"):
        fail(f"unknown --apply action {apply!r}; the one action is: quarantine", 2)
    if apply == "quarantine" and is_uri(dataset):
        fail("--apply quarantine moves files of a local dataset; this one is in object storage", 2)
    if engine not in ENGINES:
        fail(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}", 2)
    try:
        if apply == "quarantine":
            cl.check_no_quarantine(output)
        with batch_progress("images") as (on_start, on_file):
            report = cl.clean_dataset(dataset, output, engine=engine, workers=workers, address=address,
                                      embedder=embedder, resume=resume, on_start=on_start, on_file=on_file)
        if apply == "quarantine":
            moved = cl.quarantine(report)
    except (FeatureError, EmbedderError) as exc:
        fail(str(exc), 2)
    except FacelensError as exc:
        fail(str(exc), 1)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    console.print(f"{report.images} images in {report.identities} folders: {counts} -> {output / 'index.html'}")
    if apply == "quarantine":
        console.print(f"moved {len(moved)} file(s) to {output / 'quarantine'} (log: {output / cl.QUARANTINE_LOG}; "
                      f"undo: facelens clean --undo {output})")
    else:
        console.print(f"{len(report.flagged)} file(s) would be quarantined with --apply quarantine")
