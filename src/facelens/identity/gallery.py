"""A face gallery in an embedded LanceDB vector database.

Each row is one face: the person's name, source file, frame, track id, box, the embedding model's
name and version (its weights' sha256 prefix), and its embedding (dlib's 128-D descriptor by
default, or a user-supplied ONNX embedder's). One gallery holds one embedder's vectors: adding or
searching with another embedder is refused, since distances between two models' vectors mean nothing. A gallery is biometric data (faces can be
reconstructed from embeddings), so the folder is created owner-only (0700), embeddings are never
logged, and `remove` deletes the rows, compacts the table and deletes every older version, so no
copy of a removed embedding stays on disk. Tables of `INDEX_MIN_ROWS` rows or more get an IVF-PQ
vector index (results re-ranked on exact distances); smaller ones are searched exhaustively.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from facelens.errors import FacelensError, InputError
from facelens.identity.verify import THRESHOLD, FaceRows

log = logging.getLogger(__name__)

TABLE = "faces"
DIM = 128  # dlib's descriptor
INDEX_MIN_ROWS = 10_000


def schema(dim: int = DIM) -> pa.Schema:
    """Columns of the gallery table for `dim`-D embeddings."""
    return pa.schema([
        ("name", pa.string()),
        ("file", pa.string()),
        ("frame", pa.int64()),
        ("track_id", pa.int64()),
        ("box", pa.list_(pa.float32(), 4)),
        ("model", pa.string()),
        ("model_version", pa.string()),
        ("vector", pa.list_(pa.float32(), dim)),
    ])


SCHEMA = schema()
_NAME = re.compile(r"^[\w .@'-]{1,128}$")


class GalleryError(FacelensError):
    """A gallery could not be opened or a name is not valid."""


def default_path() -> Path:
    """`<user data dir>/facelens/gallery` (platformdirs)."""
    from platformdirs import user_data_path

    return user_data_path("facelens") / "gallery"


@dataclass
class Match:
    """One search hit: the gallery row's name, source, box, distance to the query, and whether that
    distance is below the embedder's same-person threshold."""

    name: str
    distance: float
    file: str
    box: list[float]
    same: bool


class Gallery:
    """`Gallery(path)`: add, search, list and remove named faces in a LanceDB table.

    `create=False` opens an existing gallery only: a path with no gallery raises `InputError`
    (so a mistyped path is not taken for a new, empty gallery).
    """

    def __init__(self, path: str | Path | None = None, create: bool = True) -> None:
        import lancedb

        self.path = Path(path) if path is not None else default_path()
        if not create and not (self.path / f"{TABLE}.lance").is_dir():
            raise InputError(f"{self.path}: no gallery there; add faces first with `facelens gallery add NAME IMAGES --db {self.path}`")
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path, 0o700)
        self.db = lancedb.connect(str(self.path))
        names = self.db.list_tables().tables
        # Created by the first `add`, with that embedder's dimension.
        self.table = self.db.open_table(TABLE) if TABLE in names else None

    def __len__(self) -> int:
        return 0 if self.table is None else self.table.count_rows()

    @property
    def model_version(self) -> str | None:
        """The embedder (name, weights' sha256 prefix) of the gallery's rows; None while empty."""
        if not len(self):
            return None
        return str(self.table.search().select(["model_version"]).limit(1).to_list()[0]["model_version"])

    def check_model(self, model_version: str) -> None:
        """Refuse embeddings made by another embedder than the gallery's."""
        held = self.model_version
        if held is not None and held != model_version:
            raise GalleryError(f"this gallery holds embeddings of {held}; these come from {model_version}: "
                               "use the same embedder, or another --db")

    def add(self, name: str, rows: FaceRows) -> int:
        """Add faces under `name`; returns the number of rows added. Builds the vector index when large.

        `rows.files` are stored as given, never looked up on disk (the CLI passes resolved paths,
        the server an upload's display name)."""
        _check_name(name)
        if len(rows) == 0:
            return 0
        self.check_model(rows.model_version)
        dim = rows.embeddings.shape[1]
        data = pa.table({
            "name": [name] * len(rows), "file": list(rows.files),
            "frame": rows.frames.astype(np.int64), "track_id": rows.track_ids.astype(np.int64),
            "box": pa.FixedSizeListArray.from_arrays(pa.array(rows.boxes.reshape(-1), pa.float32()), 4),
            "model": [rows.model] * len(rows), "model_version": [rows.model_version] * len(rows),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(rows.embeddings.reshape(-1), pa.float32()), dim),
        }, schema=schema(dim))
        self.add_table(data)
        log.info("gallery %s: added %d face(s) for %s", self.path, len(rows), name)
        return len(rows)

    def add_table(self, data: pa.Table) -> None:
        """Append rows already in `schema(dim)`; (re)builds the index when the table reaches `INDEX_MIN_ROWS`."""
        if self.table is None:
            self.table = self.db.create_table(TABLE, schema=data.schema)
        self.table.add(data)
        rows = len(self)
        if rows < INDEX_MIN_ROWS:
            return
        indexed, unindexed = self._index_rows()
        if rows >= 2 * indexed:  # first index, or the partitions were trained on under half the rows
            self.build_index()
        elif unindexed >= INDEX_MIN_ROWS:  # add the new rows to the existing partitions
            self.table.optimize()

    def _index_rows(self) -> tuple[int, int]:
        """(indexed, unindexed) row counts of the vector index; (0, rows) without one."""
        for index in self.table.list_indices():
            stats = self.table.index_stats(index.name)
            if stats is not None:
                return stats.num_indexed_rows, stats.num_unindexed_rows
        return 0, len(self)

    def build_index(self) -> None:
        """IVF-PQ index on the vectors: ~sqrt(N) partitions, 16 sub-vectors of 8 dimensions."""
        n = len(self)
        from lancedb.index import IvfPq

        config = IvfPq(distance_type="l2", num_partitions=max(1, int(np.sqrt(n))), num_sub_vectors=16)
        self.table.create_index("vector", config=config, replace=True)
        log.info("gallery %s: built IVF-PQ index on %d rows", self.path, n)

    @property
    def indexed(self) -> bool:
        return self.table is not None and len(list(self.table.list_indices())) > 0

    def search(self, embeddings: np.ndarray, k: int = 5, *, model_version: str | None = None,
               threshold: float = THRESHOLD) -> list[list[Match]]:
        """Top-`k` matches (by Euclidean distance) for each of (N,D) query embeddings.

        `model_version` (e.g. `FaceRows.model_version`) is checked against the gallery's embedder;
        `threshold` is that embedder's same-person distance (dlib's 0.6 by default).
        """
        if model_version is not None:
            self.check_model(model_version)
        if len(self) == 0:
            return [[] for _ in range(len(embeddings))]
        out = []
        for e in np.asarray(embeddings, np.float32):
            q = self.table.search(e).metric("l2").limit(k).select(["name", "file", "box", "_distance"])
            if self.indexed:
                q = q.nprobes(20).refine_factor(10)
            hits = q.to_list()
            # LanceDB's l2 metric reports squared distances.
            dists = [float(np.sqrt(max(h["_distance"], 0.0))) for h in hits]
            out.append([Match(h["name"], d, h["file"], list(h["box"]), d < threshold) for h, d in zip(hits, dists)])
        return out

    def names(self) -> dict[str, int]:
        """Face count per name."""
        if len(self) == 0:
            return {}
        col = self.table.to_arrow().column("name").to_pylist()
        names, counts = np.unique(np.array(col, object), return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}

    def remove(self, name: str) -> int:
        """Delete every face of `name`, compact, and delete all older versions; returns rows removed."""
        _check_name(name)
        n = self.names().get(name, 0)
        if n == 0:
            return 0
        self.table.delete(f"name = '{name.replace(chr(39), chr(39) * 2)}'")
        self.purge()
        log.info("gallery %s: removed %d face(s) of %s", self.path, n, name)
        return n

    def purge(self) -> None:
        """Compact the data files and delete every version but the latest (and unreferenced files)."""
        self._cleanup()
        if self.indexed and len(self) >= INDEX_MIN_ROWS:
            self.build_index()
            self._cleanup()

    def _cleanup(self) -> None:
        with warnings.catch_warnings():  # dropping every old version is the point here
            warnings.filterwarnings("ignore", message="optimize\\(cleanup_older_than=0\\)")
            self.table.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)

    def versions(self) -> list[Any]:
        return [] if self.table is None else self.table.list_versions()


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise GalleryError(f"invalid name {name!r}: use 1-128 letters, digits, spaces or . _ @ ' -")


def label_tracks(rows: FaceRows, matches: list[list[Match]]) -> dict[tuple[str, int], Match | None]:
    """For video rows, one label per (file, track): the gallery name with the smallest mean distance
    over the track's frames, or None when no name is within the threshold."""
    by_track: dict[tuple[str, int], dict[str, list[float]]] = {}
    for f, t, hits in zip(rows.files, rows.track_ids.tolist(), matches):
        d = by_track.setdefault((f, t), {})
        for h in hits:
            d.setdefault(h.name, []).append(h.distance)
    labels: dict[tuple[str, int], Match | None] = {}
    for key, per_name in by_track.items():
        if not per_name:
            labels[key] = None
            continue
        name, dists = min(per_name.items(), key=lambda kv: float(np.mean(kv[1])))
        mean = float(np.mean(dists))
        labels[key] = Match(name, mean, key[0], [], True) if mean < rows.threshold else None
    return labels
