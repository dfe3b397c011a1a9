"""`facelens` command line: a thin Typer layer over the public API.

The root app holds `analyze`, `demo` and `models`; every other command lives in its package's
`commands` module, which adds it through `register(app)` (mounted below, after the root commands,
so `--help` lists them in this order) and shares `facelens.console`, never importing this module.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from facelens import __version__, plot_commands
from facelens.console import console, embedder_options, fail, progress, warn
from facelens.errors import FacelensError, FeatureError, ModelError
from facelens.features import FEATURES, parse_features
from facelens.identity import commands as identity_commands
from facelens.io.readers import IMAGE_EXTS, VIDEO_EXTS
from facelens.models.embedder import EmbedderSpec
from facelens.scale import commands as scale_commands
from facelens.server import commands as server_commands

app = typer.Typer(help="Per-face feature tables from images, folders and videos, on a CPU.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"facelens {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log diagnostics to stderr."),
    version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True, help="Print the version."),
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
@embedder_options
def analyze(
    inputs: list[str] = typer.Argument(..., help="Images, videos or folders (searched recursively), or URIs "
                                       "(s3://bucket/prefix/, gs://..., any pyarrow or fsspec filesystem)."),
    output: str = typer.Option(..., "--output", "-o", help="Output table: .csv, .parquet or .jsonl (missing folders "
                               "on its path are created), or a .parquet URI."),
    features: str = typer.Option("default", "--features", "-f", help=f"Comma list of: all, default, {', '.join(FEATURES)}."),
    crops: Optional[Path] = typer.Option(None, "--crops", help="Folder for 112x112 aligned face crops."),
    overlay: Optional[Path] = typer.Option(None, "--overlay", help="Folder for overlay images / videos."),
    every: int = typer.Option(1, "--every", min=1, help="Analyse every N-th video frame."),
    start: float = typer.Option(0.0, "--start", min=0.0, help="Video start time in seconds."),
    end: Optional[float] = typer.Option(None, "--end", help="Video end time in seconds."),
    schema: str = typer.Option("openface", "--schema", help="Column names: openface or pyfeat."),
    detector: str = typer.Option("standard", "--detector", help=(
        "standard (default: BlazeFace + FaceBoxes, in photos also on a ~7 MP upscale for small faces; small, cut-off, turned, grey faces), thorough (FaceBoxes "
        "also at 2x and 3x in tiles, and MTCNN: faces from ~12 px, detection ~3x standard's), full or short (BlazeFace only, as 0.1; "
        "Apache-2.0 weights only: FaceBoxes' commercial use is not cleared). Figures: README, Detection.")),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Detector score threshold."),
    max_faces: Optional[int] = typer.Option(None, "--max-faces", min=1, help="Keep the N largest faces per image."),
    no_detect: bool = typer.Option(False, "--no-detect", help="Treat each image as one pre-cropped face."),
    landmarks68: str = typer.Option("mesh", "--landmarks68", help="68-point source: mesh (fitted), mesh-index (plain vertex table) or dlib (non-commercial weights)."),
    mesh: str = typer.Option("v1", "--mesh", help="Main mesh: v1 (468 points; irises from a Face Mesh V2 pass) or v2 (Face Mesh V2 alone, 478 points in one pass; weaker face/no-face check in video)."),
    calibrate: bool = typer.Option(False, "--calibrate/--no-calibrate", help="Video: subtract each track's running median from its AUs and blendshapes."),
    smooth: float = typer.Option(0.0, "--smooth", min=0.0, help="Video: per-track smoothing time constant in seconds for AUs, blendshapes and emotion (0: off)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Per-track video summary: .csv, .parquet or .json."),
    engine: Optional[str] = typer.Option(None, "--engine", help="Image batches: local (process pool, default) or ray; "
                                         "a .parquet output is then a folder of part files."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Batch processes or Ray actors (default: all cores)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join (with --engine ray)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Skip inputs that OUT's manifest lists as finished."),
    embedder: EmbedderSpec | None = None,
) -> None:
    """Analyse images, folders and videos into one table: a row per face per frame."""
    from facelens.api import Analyzer
    from facelens.io.writers import format_of

    try:
        feats = parse_features(None if features == "default" else features)
        if crops is not None:
            feats |= {"crops"}
        analyzer = Analyzer(feats, detector=detector, min_score=min_score, max_faces=max_faces,
                            detect=not no_detect, landmarks68=landmarks68, mesh=mesh, calibrate=calibrate,
                            smooth=smooth, embedder=embedder)
        format_of(output)
    except (FeatureError, ModelError) as exc:
        fail(str(exc), 2)
    single = not scale_commands.uses_engine(inputs, output, engine, bool(crops or overlay or summary), address)
    check_outputs(output, crops, overlay, "crops" in [f.strip() for f in features.split(",")], single)
    if summary is not None and schema != "openface":
        fail("--summary reads the openface columns; use it with --schema openface", 2)
    if summary is not None and summary.suffix.lower() not in (".csv", ".parquet", ".pq", ".json"):
        fail(f"{summary}: unknown summary format; use .csv, .parquet or .json", 2)
    if not single:
        return scale_commands.analyze_batch(analyzer, inputs, output, schema=schema, engine=engine or "local", workers=workers,
                             address=address, resume=resume)
    stats = _run(analyzer, inputs, output, schema, crops, overlay, every, start, end)
    if summary is not None and stats.frames:
        from facelens.video import write_summary

        try:
            tracks = write_summary(output, summary)
        except FacelensError as exc:
            fail(str(exc), 1)
        console.print(f"{len(tracks)} track(s) -> {summary}")
    console.print(f"{stats.inputs} input(s), {stats.frames} frame(s), {stats.faces} face row(s), "
                  f"{stats.errors} error row(s) -> {output}")
    if stats.inputs == 0:
        fail("no image or video found in the inputs", 1)
    if stats.succeeded == 0:
        raise typer.Exit(1)


def check_outputs(output: str | Path, crops: Path | None, overlay: Path | None, crops_named: bool, single: bool) -> None:
    """Usage errors (exit 2) for output paths that could only fail after the analysis.

    A single-process run writes OUT as one file, so an existing folder there (a batch run's
    Parquet parts) is refused; --crops and --overlay name folders, not media files.
    """
    if single and Path(output).is_dir():  # a single-process run writes a local file
        fail(f"{output} is a folder (a batch run's Parquet parts?); give another output file or remove it", 2)
    for option, folder in (("--crops", crops), ("--overlay", overlay)):
        if folder is not None and (folder.is_file() or folder.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS):
            fail(f"{option} {folder}: expected a folder to write into, not a file name", 2)
    if crops_named and crops is None:
        fail("-f crops writes image files: give their folder with --crops DIR", 2)


def _run(analyzer, inputs, output, schema, crops, overlay, every, start, end):  # noqa: ANN001, ANN202
    from facelens.run import analyze_to_file

    with progress() as bar:
        files = bar.add_task("files", total=None, info="")
        frames = bar.add_task("frames", total=None, info="", visible=False)

        def on_input(path: Path, n: int) -> None:
            bar.update(files, description=f"{path.name[:30]}", info="")
            bar.reset(frames, total=n, visible=n > 1)

        def on_frame(result) -> None:  # noqa: ANN001
            bar.advance(frames)
            if result.error:
                warn(result.error)
            if result.frame == 0 or result.error:
                bar.advance(files)

        try:
            from facelens.io.readers import list_inputs

            bar.update(files, total=len(list_inputs(inputs)))
            return analyze_to_file(analyzer, inputs, output, schema=schema, crops=crops, overlay=overlay,
                                   every=every, start=start, end=end, on_input=on_input, on_frame=on_frame)
        except FeatureError as exc:
            fail(str(exc), 2)
        except FacelensError as exc:
            fail(str(exc), 1)


@app.command()
def demo(out: Path = typer.Option(Path("facelens-demo"), "--out", help="Where to write the demo outputs.")) -> None:
    """Analyse the bundled sample photo and video; print a summary; write CSV, Parquet and overlays."""
    from importlib.resources import files

    from facelens.api import Analyzer
    from facelens.run import analyze_to_file

    samples = files("facelens") / "samples"
    image, video = Path(str(samples / "astronaut.jpg")), Path(str(samples / "astronaut_pan.mp4"))
    analyzer = Analyzer("all")
    out.mkdir(parents=True, exist_ok=True)
    stats = _run(analyzer, [image, video], out / "demo.parquet", "openface", out / "crops", out / "overlay", 1, 0.0, None)
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from facelens.schema import VECTOR_COLUMNS

    table = pq.read_table(out / "demo.parquet")
    pacsv.write_csv(table.drop_columns([c for c in VECTOR_COLUMNS if c in table.column_names]), out / "demo.csv")
    shown = {"file": "file", "frame": "frame", "track_id": "track", "confidence": "score", "pose_Ry": "yaw°",
             "gaze_angle_x": "gaze x°", "AU12_r": "AU12", "emotion": "emotion", "age": "age", "gender": "gender",
             "quality": "quality"}
    summary = Table(title="facelens demo: first frames of each input, one row per face")
    for header in shown.values():
        summary.add_column(header, no_wrap=True)
    for _, row in table.to_pandas().groupby("file").head(3).iterrows():
        summary.add_row(*[_fmt(row[c], degrees=c in ("pose_Ry", "gaze_angle_x")) for c in shown])
    Console(width=120).print(summary)
    console.print(f"{stats.faces} face rows; wrote {out}/demo.csv, {out}/demo.parquet, {out}/overlay/, {out}/crops/")


def _fmt(value: object, degrees: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value * 57.29578:.1f}" if degrees else f"{value:.0f}" if value.is_integer() else f"{value:.2f}"
    if isinstance(value, str) and "/" in value:
        return Path(value).name
    return str(value)


@app.command()
def models() -> None:
    """List the bundled models: file, source package, licence, runtime."""
    from facelens.models.runtime import manifest

    table = Table(title="facelens models")
    for col in ("name", "runtime", "licence", "source"):
        table.add_column(col, overflow="fold")
    for entry in manifest().values():
        table.add_row(entry["name"], entry.get("runtime", ""), entry.get("licence", ""), entry.get("source", ""))
    Console().print(table)


for commands in (plot_commands, server_commands, identity_commands, scale_commands):
    commands.register(app)


if __name__ == "__main__":
    app()
