"""`facelens verify | cluster | gallery | consistency | pack`: thin CLI layer over facelens.identity."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from facelens.console import console, embedder_options, fail
from facelens.errors import FacelensError, NoFaceError
from facelens.models.embedder import EmbedderSpec

gallery_app = typer.Typer(help="A face gallery in an embedded vector database (LanceDB).", no_args_is_help=True)
out = Console(soft_wrap=True)

DB_HELP = "Gallery folder (default: the user data dir, facelens/gallery)."
WHOLE_HELP = "Embed an image with no detected face as one whole-image face (tight crops)."


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(gallery_app, name="gallery")
    app.command()(verify)
    app.command()(cluster)
    app.command()(consistency)
    app.command()(pack)


@embedder_options
def verify(
    a: Path = typer.Argument(..., help="First image."),
    b: Path = typer.Argument(..., help="Second image."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    whole_if_none: bool = typer.Option(False, "--whole-if-none", help=WHOLE_HELP),
    embedder: EmbedderSpec | None = None,
) -> None:
    """Same person? Distance between the closest faces of two images (dlib descriptor, threshold 0.6,
    or the --embedder's).

    Exits 1 when an image cannot be read or shows no face (with --json: {"same": null, "no_face": [...]}).
    """
    from facelens.api import Analyzer
    from facelens.identity.verify import verify as run_verify

    try:
        analyzer = Analyzer("identity", embedder=embedder)
    except FacelensError as exc:  # a bad --embedder model
        fail(str(exc), 2)
    try:
        v = run_verify(a, b, analyzer=analyzer, whole_if_none=whole_if_none)
    except NoFaceError as exc:
        if as_json:
            typer.echo(json.dumps({"same": None, "no_face": exc.sources, "error": str(exc)}))
        fail(f"{exc} (--whole-if-none embeds such an image whole, for tight face crops)")
    except FacelensError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(v.to_dict()))
        return
    for path, whole in ((a, v.whole_image_a), (b, v.whole_image_b)):
        if whole:
            console.print(f"[yellow]no face detected in {path}; the whole image was embedded as one face[/yellow]")
    verdict = "SAME person" if v.same else "DIFFERENT people"
    out.print(f"{verdict}: distance {v.distance:.3f} (threshold {v.threshold:.3g}), cosine {v.similarity:.3f}; "
              f"face {v.face_a} of {v.faces_a} in {a.name} vs face {v.face_b} of {v.faces_b} in {b.name}")


@embedder_options
def cluster(
    inputs: list[Path] = typer.Argument(..., help="Images, videos or folders."),
    output: Path = typer.Option(..., "--output", "-o", help="Output CSV."),
    copy_to: Optional[Path] = typer.Option(None, "--copy-to", help="Copy inputs into one folder per cluster."),
    max_faces: Optional[int] = typer.Option(None, "--max-faces", min=1, help="Keep the N largest faces per image."),
    whole_if_none: bool = typer.Option(False, "--whole-if-none", help=WHOLE_HELP),
    every: int = typer.Option(10, "--every", min=1, help="Use every N-th video frame."),
    embedder: EmbedderSpec | None = None,
) -> None:
    """Group faces by identity (Chinese whispers on the same-person graph, distance < 0.6 for dlib;
    no cluster count needed)."""
    from facelens.identity.cluster import cluster as run_cluster
    from facelens.identity.cluster import copy_to as run_copy
    from facelens.identity.cluster import write_csv

    with console.status("embedding faces"):
        rows, problems = _collect(list(inputs), max_faces=max_faces, whole_if_none=whole_if_none, every=every,
                                  embedder=embedder)
    for p in problems[:20]:
        console.print(f"[yellow]{p}[/yellow]")
    if len(rows) == 0:
        fail("no face found in the inputs")
    clusters = run_cluster(rows.embeddings, rows.threshold)
    write_csv(output, rows, clusters)
    whole = int(rows.whole_image.sum())
    if whole:
        console.print(f"[yellow]{whole} image(s) had no detected face and were embedded whole[/yellow]")
    if copy_to is not None:
        run_copy(copy_to, rows, clusters)
    out.print(f"{len(rows)} face(s) -> {clusters.count} cluster(s) -> {output}")


def _collect(inputs: list, **options):  # noqa: ANN202, ANN003 - see facelens.identity.verify.collect
    """`collect`, with a bad embedder or input as a one-line error."""
    from facelens.identity.verify import collect

    try:
        return collect(inputs, **options)
    except FacelensError as exc:
        fail(str(exc), 2)


def _gallery(db: Optional[Path], create: bool = False):  # noqa: ANN202
    from facelens.identity.gallery import Gallery

    try:
        return Gallery(db, create=create)
    except FacelensError as exc:
        fail(str(exc))


@gallery_app.command("add")
@embedder_options
def gallery_add(
    name: str = typer.Argument(..., help="The person's name."),
    inputs: list[Path] = typer.Argument(..., help="Images (the largest face of each), videos or folders."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    whole_if_none: bool = typer.Option(False, "--whole-if-none", help=WHOLE_HELP),
    every: int = typer.Option(10, "--every", min=1, help="Use every N-th video frame."),
    embedder: EmbedderSpec | None = None,
) -> None:
    """Add the largest face of each input under NAME (one gallery holds one embedder's vectors)."""
    gallery = _gallery(db, create=True)
    rows, problems = _collect(list(inputs), max_faces=1, whole_if_none=whole_if_none, every=every, embedder=embedder)
    for p in problems[:20]:
        console.print(f"[yellow]{p}[/yellow]")
    try:
        n = gallery.add(name, replace(rows, files=[str(Path(f).resolve()) for f in rows.files]))
    except FacelensError as exc:
        fail(str(exc), 2)
    if n == 0:
        fail("no face found in the inputs")
    out.print(f"added {n} face(s) for {name}; {len(gallery)} face(s) in {gallery.path}")


@gallery_app.command("search")
@embedder_options
def gallery_search(
    source: Path = typer.Argument(..., help="An image or a video."),
    k: int = typer.Option(5, "--k", min=1, help="Matches per face."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    whole_if_none: bool = typer.Option(False, "--whole-if-none", help=WHOLE_HELP),
    every: int = typer.Option(10, "--every", min=1, help="Use every N-th video frame."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    embedder: EmbedderSpec | None = None,
) -> None:
    """Top-k gallery matches of each face in an image; one label per track in a video."""
    from facelens.identity.gallery import label_tracks
    from facelens.io.readers import is_video

    gallery = _gallery(db)
    rows, problems = _collect([source], whole_if_none=whole_if_none, every=every, embedder=embedder)
    for p in problems[:20]:
        console.print(f"[yellow]{p}[/yellow]")
    if len(rows) == 0:
        fail(f"no face found in {source}")
    try:
        matches = gallery.search(rows.embeddings, k=k, model_version=rows.model_version, threshold=rows.threshold)
    except FacelensError as exc:
        fail(str(exc), 2)
    if is_video(source):
        labels = label_tracks(rows, matches)
        result = [{"track_id": t, "name": m.name if m else None, "mean_distance": round(m.distance, 4) if m else None}
                  for (_, t), m in labels.items()]
    else:
        result = [{"face": i, "box": [round(float(v), 1) for v in rows.boxes[i]],
                   "matches": [{"name": m.name, "distance": round(m.distance, 4), "same": m.same, "file": m.file}
                               for m in hits]} for i, hits in enumerate(matches)]
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"gallery matches (same person below distance {rows.threshold:.3g})")
    if is_video(source):
        for col in ("track", "name", "mean distance"):
            table.add_column(col)
        for r in result:
            table.add_row(str(r["track_id"]), r["name"] or "unknown", "" if r["mean_distance"] is None else f"{r['mean_distance']:.3f}")
    else:
        for col in ("face", "rank", "name", "distance", "same"):
            table.add_column(col)
        for r in result:
            for rank, m in enumerate(r["matches"], 1):
                table.add_row(str(r["face"]), str(rank), m["name"], f"{m['distance']:.3f}", "yes" if m["same"] else "no")
    out.print(table)


@gallery_app.command("list")
def gallery_list(db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Names in the gallery and their face counts."""
    gallery = _gallery(db)
    table = Table(title=f"{gallery.path}")
    table.add_column("name")
    table.add_column("faces")
    for name, n in gallery.names().items():
        table.add_row(name, str(n))
    out.print(table)


@gallery_app.command("remove")
def gallery_remove(
    name: str = typer.Argument(..., help="The person's name."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Delete every face of NAME, compact the table and delete old versions (nothing stays on disk)."""
    gallery = _gallery(db)
    try:
        n = gallery.remove(name)
    except FacelensError as exc:
        fail(str(exc), 2)
    if n == 0:
        fail(f"{name!r} is not in the gallery")
    out.print(f"removed {n} face(s) of {name}")


@embedder_options
def consistency(
    video: Path = typer.Argument(..., help="The generated or edited video."),
    ref: list[Path] = typer.Option(..., "--ref", help="Reference image(s) of the identity (repeatable)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report folder."),
    every: int = typer.Option(1, "--every", min=1, help="Analyse every N-th frame."),
    metric: str = typer.Option("tracks", "--metric", help="tracks (every face-frame and track) or facesim (also "
                               "ConsisID's FaceSim protocol on 16 sampled frames)."),
    embedder: EmbedderSpec | None = None,
) -> None:
    """Identity consistency of a video against reference images (dlib 128-D descriptor, or the --embedder's)."""
    from facelens.identity.consistency import consistency as run_consistency
    from facelens.identity.consistency import facesim, write_report

    if metric not in ("tracks", "facesim"):
        fail(f"unknown metric {metric!r}; choose tracks or facesim", 2)
    try:
        with console.status("analysing video"):
            report = run_consistency(video, list(ref), every=every, embedder=embedder)
            sim = facesim(video, ref[0], embedder=embedder) if metric == "facesim" else None
    except FacelensError as exc:
        fail(str(exc))
    summary = write_report(report, output, sim)
    if summary["face_frames"] == 0:
        fail(f"no face found in {video}; wrote {output}/summary.json")
    out.print(f"embedding: {summary['embedding']}; mean cosine similarity {summary['mean_similarity']:.3f} "
              f"(threshold {summary['cosine_threshold']}), mean distance {summary['mean_distance']:.3f} "
              f"(threshold {summary['distance_threshold']}); share of face-frames not the same person: "
              f"{summary['share_not_same_by_distance']:.1%} -> {output}")
    if sim is not None:
        out.print(f"FaceSim ({sim.model}, ConsisID protocol): {sim.score:.4f} over {summary['facesim']['frames_with_face']} "
                  f"of {len(sim.frames)} sampled frames")


def pack(
    inputs: list[Path] = typer.Argument(..., help="Images or folders."),
    output: Path = typer.Option(..., "--output", "-o", help="Pack folder."),
    max_faces: Optional[int] = typer.Option(None, "--max-faces", min=1, help="Keep the N largest faces per image."),
) -> None:
    """Conditioning pack per face: aligned crop, landmarks JSON, landmark/pose maps, region masks, embedding."""
    from facelens.identity.pack import pack as run_pack

    written, problems = run_pack(list(inputs), output, max_faces=max_faces)
    for p in problems[:20]:
        console.print(f"[yellow]{p}[/yellow]")
    if not written:
        fail("no face found in the inputs")
    out.print(f"{len(written)} face pack(s) -> {output}")
