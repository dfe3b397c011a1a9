"""A face gallery in an embedded LanceDB vector database.

Each row is one face: the person's name, source file, frame, track id, box, the embedding model's
name and version, and its 128-D dlib descriptor. A gallery is biometric data (faces can be
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

from facelens.errors import FacelensError
from facelens.identity.verify import EMBEDDING_MODEL, THRESHOLD, FaceRows, embedding_version

log = logging.getLogger(__name__)

TABLE = "faces"
DIM = 128
INDEX_MIN_ROWS = 10_000
SCHEMA = pa.schema([
    ("name", pa.string()),
    ("file", pa.string()),
    ("frame", pa.int64()),
    ("track_id", pa.int64()),
    ("box", pa.list_(pa.float32(), 4)),
    ("model", pa.string()),
    ("model_version", pa.string()),
    ("vector", pa.list_(pa.float32(), DIM)),
])
_NAME = re.compile(r"^[\w .@'-]{1,128}$")


class GalleryError(FacelensError):
    """A gallery could not be opened or a name is not valid."""


def default_path() -> Path:
    """`<user data dir>/facelens/gallery` (platformdirs)."""
    from platformdirs import user_data_path

    return user_data_path("facelens") / "gallery"


@dataclass
class Match:
    """One search hit: the gallery row's name, source, box and distance to the query."""

    name: str
    distance: float
    file: str
    box: list[float]

    @property
    def same(self) -> bool:
        return self.distance < THRESHOLD


class Gallery:
    """`Gallery(path)`: add, search, list and remove named faces in a LanceDB table."""

    def __init__(self, path: str | Path | None = None) -> None:
        import lancedb

        self.path = Path(path) if path is not None else default_path()
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path, 0o700)
        self.db = lancedb.connect(str(self.path))
        names = self.db.list_tables().tables
        self.table = self.db.open_table(TABLE) if TABLE in names else self.db.create_table(TABLE, schema=SCHEMA)

    def __len__(self) -> int:
        return self.table.count_rows()

    def add(self, name: str, rows: FaceRows) -> int:
        """Add faces under `name`; returns the number of rows added. Builds the vector index when large.

        `rows.files` are stored as given, never looked up on disk (the CLI passes resolved paths,
        the server an upload's display name)."""
        _check_name(name)
        if len(rows) == 0:
            return 0
        data = pa.table({
            "name": [name] * len(rows), "file": list(rows.files),
            "frame": rows.frames.astype(np.int64), "track_id": rows.track_ids.astype(np.int64),
            "box": pa.FixedSizeListArray.from_arrays(pa.array(rows.boxes.reshape(-1), pa.float32()), 4),
            "model": [EMBEDDING_MODEL] * len(rows), "model_version": [embedding_version()] * len(rows),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(rows.embeddings.reshape(-1), pa.float32()), DIM),
        }, schema=SCHEMA)
        self.add_table(data)
        log.info("gallery %s: added %d face(s) for %s", self.path, len(rows), name)
        return len(rows)

    def add_table(self, data: pa.Table) -> None:
        """Append rows already in `SCHEMA`; (re)builds the index when the table reaches `INDEX_MIN_ROWS`."""
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
        return len(list(self.table.list_indices())) > 0

    def search(self, embeddings: np.ndarray, k: int = 5) -> list[list[Match]]:
        """Top-`k` matches (by Euclidean distance) for each of (N,128) query embeddings."""
        out = []
        for e in np.asarray(embeddings, np.float32):
            q = self.table.search(e).metric("l2").limit(k).select(["name", "file", "box", "_distance"])
            if self.indexed:
                q = q.nprobes(20).refine_factor(10)
            hits = q.to_list()
            # LanceDB's l2 metric reports squared distances.
            out.append([Match(h["name"], float(np.sqrt(max(h["_distance"], 0.0))), h["file"], list(h["box"]))
                        for h in hits])
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
        return self.table.list_versions()


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
        labels[key] = Match(name, mean, key[0], []) if mean < THRESHOLD else None
    return labels
