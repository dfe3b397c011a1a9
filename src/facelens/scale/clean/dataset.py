"""List a one-folder-per-identity dataset, analyse it with a batch engine, and build the per-image table."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from facelens.api import Analyzer
from facelens.errors import InputError
from facelens.io import readers, storage
from facelens.models.embedder import EmbedderSpec
from facelens.scale import Finished, RunStats, run_batch
from facelens.scale.clean.paths import list_remote_dataset
from facelens.scale.clean.report import shown_images, write_report
from facelens.scale.clean.rules import CleanReport, Thresholds, embedder_record, find_problems
from facelens.scale.clean.signals import image_signals

log = logging.getLogger(__name__)


# Listing.
def list_dataset(dataset: Path | str, exclude: Path | None = None) -> pd.DataFrame:
    """Images of a one-folder-per-identity dataset (a folder or a URI prefix): columns identity, path, rel.

    Images directly in `dataset` (no identity folder) and anything under `exclude` are skipped.
    """
    if storage.is_uri(dataset):
        return list_remote_dataset(str(dataset))
    if not dataset.is_dir():
        raise InputError(f"{dataset}: not a folder")
    rows = []
    skip = exclude.resolve() if exclude else None
    for folder in sorted(p for p in dataset.iterdir() if p.is_dir()):
        if skip and folder.resolve() == skip:
            continue
        for path in readers.list_inputs([folder]):
            if readers.is_video(path) or (skip and skip in path.resolve().parents):
                continue
            rows.append((folder.name, str(path), path.relative_to(dataset).as_posix()))
    loose = [p for p in dataset.iterdir() if p.is_file() and p.suffix.lower() in readers.IMAGE_EXTS]
    if loose:
        log.warning("%s: %d image(s) outside identity folders are not checked", dataset, len(loose))
    return pd.DataFrame(rows, columns=["identity", "path", "rel"])


# Analysis.
def _analyzers(embedder: EmbedderSpec | str | Path | None = None) -> tuple[Analyzer, Analyzer]:
    """The per-face analyzer and the whole-image one (images with no face detected), both embedding
    with `embedder` (None: dlib's descriptor); a bad embedder model fails here."""
    return Analyzer("identity,quality,pose", embedder=embedder), Analyzer("identity", detect=False, embedder=embedder)


def _analyse(images: pd.DataFrame, report: Path, models: tuple[Analyzer, Analyzer], engine: str,
             workers: int | None, address: str | None, resume: bool, on_start: Callable[[RunStats], None] | None,
             on_file: Callable[[Finished, RunStats], None] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Face rows of every image (with the workers' pHash, sharpness and thumbnail columns,
    `signals.image_signals`), and whole-image embeddings of images with no face detected."""
    kw = dict(engine=engine, workers=workers, address=address, resume=resume, on_start=on_start, on_file=on_file)
    paths = images.path.tolist()
    run_batch(models[0], paths, report / "faces.parquet", extra=image_signals, **kw)
    faces = _rows(report / "faces.parquet", paths)
    seen = set(faces.file[(faces.success == 1) | faces.error.notna()])
    missing = [p for p in paths if p not in seen]
    whole = pd.DataFrame(columns=["file", "embedding"])
    if missing:
        run_batch(models[1], missing, report / "whole_image.parquet", **kw)
        whole = _rows(report / "whole_image.parquet", missing)
    return faces, whole


def _rows(out: Path, paths: list[str]) -> pd.DataFrame:
    """Rows of `paths` in a batch output, without the thumbnails (read only for what the report shows)."""
    columns = [c for c in pq.ParquetDataset(out).schema.names if c != "thumb"]
    df = pq.read_table(out, columns=columns).to_pandas()
    return df[df.file.isin(set(paths))].reset_index(drop=True)


def _thumbnails(out: Path, images: pd.DataFrame, rels: Iterable[str]) -> dict[str, bytes]:
    """The workers' thumbnails of some images (dataset-relative paths), read from their rows in `out`."""
    path_of = dict(zip(images.rel, images.path))
    rel_of = {path_of[r]: r for r in rels if r in path_of}
    if not rel_of:
        return {}
    table = pq.read_table(out, columns=["file", "thumb"], filters=[("file", "in", list(rel_of))])
    return {rel_of[f]: t for f, t in zip(table.column("file").to_pylist(), table.column("thumb").to_pylist()) if t}


def _per_image(images: pd.DataFrame, faces: pd.DataFrame, whole: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """One row per image: faces counted, largest face's quality/size/pose/sharpness/embedding, the
    image's pHash, whole-image embedding."""
    out = images.copy()
    ok = faces[faces.success == 1]
    errors = faces.dropna(subset=["error"]).groupby("file").error.first()
    out["error"] = out.path.map(errors)
    largest = ok.loc[ok.groupby("file").face_h.idxmax()].set_index("file") if len(ok) else ok.set_index("file")
    big = ok.face_h >= th.second_face_ratio * ok.file.map(largest.face_h)
    out["faces"] = out.path.map(ok[big].groupby("file").size()).fillna(0).astype(int)
    for col in ("quality", "face_x", "face_y", "face_w", "face_h", "pose_Rx", "pose_Ry", "sharpness"):
        out[col] = out.path.map(largest[col]).astype(float)
    hashes = faces.drop_duplicates("file").set_index("file").phash
    out["phash"] = [np.frombuffer(h, np.uint8) if isinstance(h, bytes) else None for h in out.path.map(hashes)]
    wholes = whole.set_index("file").embedding if len(whole) else pd.Series(dtype=object)
    out["embedding"] = _arrays(out.path.map(largest.embedding))
    out["whole_image"] = _arrays(out.path.map(wholes))
    return out


def _arrays(values: pd.Series) -> list[np.ndarray | None]:
    """Vectors as float64 arrays, missing ones as None (pandas maps them to NaN)."""
    return [np.asarray(v, np.float64) if isinstance(v, (np.ndarray, list)) else None for v in values]


def clean_dataset(dataset: str | Path, report: str | Path, *, engine: str = "local", workers: int | None = None,
                  address: str | None = None, thresholds: Thresholds | None = None,
                  embedder: EmbedderSpec | str | Path | None = None, resume: bool = True,
                  on_start: Callable[[RunStats], None] | None = None,
                  on_file: Callable[[Finished, RunStats], None] | None = None) -> CleanReport:
    """Analyse `dataset` (one folder per identity) and write CSVs, summary.json and index.html to `report`.

    The analysis is resumable: REPORT/faces.parquet keeps a manifest, so a re-run only analyses
    new images (with the same embedder); `resume=False` analyses every image again. `engine`, `workers` and `address` are those of
    `facelens.scale.run_batch`. `embedder`: a user-supplied ONNX face embedder (an `EmbedderSpec`
    or a path; see `facelens.models.embedder`) instead of dlib's descriptor; `thresholds`
    default to `Thresholds.following` its same-person distance.
    """
    dataset, report = (dataset if storage.is_uri(dataset) else Path(dataset)), Path(report)
    models = _analyzers(embedder)
    th = thresholds or Thresholds.following(models[0].embedder.threshold)
    images = list_dataset(dataset, exclude=report)
    if images.empty:
        raise InputError(f"{dataset}: no images in identity folders (expected DATASET/<identity>/<image>)")
    report.mkdir(parents=True, exist_ok=True)
    if engine == "ray":
        from facelens.scale.ray_engine import ray_runtime

        with ray_runtime(address, workers):
            faces, whole = _analyse(images, report, models, engine, workers, address, resume, on_start, on_file)
    else:
        faces, whole = _analyse(images, report, models, engine, workers, address, resume, on_start, on_file)
    img = _per_image(images, faces, whole, th)
    findings, flagged = find_problems(img, th)
    result = CleanReport(dataset, report, len(images), images.identity.nunique(), findings, th, flagged,
                         embedder_record(models[0].embedder))
    write_report(result, images, _thumbnails(report / "faces.parquet", images, shown_images(findings, images)))
    return result


