"""Video helpers: a reader thread that decodes ahead of the analyzer, and per-track summaries.

`prefetch` runs an iterator (a video decoder) in a background thread behind a bounded queue, so
decoding one frame overlaps the analysis of the previous one (OpenCV and the model runtimes
release the GIL). `summarize` / `write_summary` turn a per-frame table into one row per track.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from facelens.errors import InputError, SchemaError
from facelens.faces import EMOTIONS

log = logging.getLogger(__name__)
T = TypeVar("T")
PREFETCH_DEPTH = 8  # decoded frames held ahead of the analyzer (8 x 640x360 RGB = 5.5 MB)


@dataclass
class _End:
    error: BaseException | None = None


def prefetch(items: Iterable[T], depth: int = PREFETCH_DEPTH) -> Iterator[T]:
    """Yield `items` in order while a background thread produces them up to `depth` ahead.

    An exception raised while producing is re-raised here, in the consumer. When the consumer
    stops early (break, exception, generator closed) the thread stops and closes `items`.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put(item):
                    return
            put(_End())
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_End(exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="facelens-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _mean_vector(values: pd.Series) -> list[float] | None:
    rows = [np.asarray(v, np.float32) for v in values if v is not None and len(v)]
    return np.mean(rows, axis=0).round(6).tolist() if rows else None


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (file, track_id): frames, duration, mean emotion probabilities, mean pose.

    Columns: track_id, file, first_frame, last_frame, start_s, end_s, duration_s, n_frames,
    emotion_<name> means and dominant_emotion (when emotions were computed), pose_Rx/Ry/Rz and
    pose_Tx/Ty/Tz means (when pose was computed), embedding_mean (when the table has embeddings).
    """
    if "track_id" not in table.columns:
        raise InputError("table has no track_id column: was it made from a video?")
    faces = table[table["track_id"].notna()]
    emo = [f"emotion_{e}" for e in EMOTIONS if f"emotion_{e}" in faces.columns]
    pose = [c for c in ("pose_Rx", "pose_Ry", "pose_Rz", "pose_Tx", "pose_Ty", "pose_Tz") if c in faces.columns]
    rows = []
    for (file, track), g in faces.groupby(["file", "track_id"], sort=True):
        row: dict[str, Any] = {
            "track_id": int(track), "file": file,
            "first_frame": int(g["frame"].min()), "last_frame": int(g["frame"].max()),
            "start_s": float(g["timestamp"].min()), "end_s": float(g["timestamp"].max()),
            "n_frames": int(len(g)),
        }
        row["duration_s"] = row["end_s"] - row["start_s"]
        for c in emo + pose:
            row[c] = float(g[c].mean())
        if emo:
            row["dominant_emotion"] = max(EMOTIONS, key=lambda e: row.get(f"emotion_{e}", -1.0))
        if "embedding" in g.columns:
            row["embedding_mean"] = _mean_vector(g["embedding"])
        rows.append(row)
    order = ["track_id", "file", "first_frame", "last_frame", "start_s", "end_s", "duration_s", "n_frames"]
    out = pd.DataFrame(rows, columns=None if rows else order)
    return out[order + [c for c in out.columns if c not in order]]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a facelens output table (.parquet, .csv or .jsonl) into pandas."""
    from facelens.io.writers import format_of

    fmt = format_of(path)
    if not Path(path).exists():
        raise InputError(f"{path}: no such file")
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "csv":
        return pd.read_csv(path)
    return pd.read_json(path, lines=True)


def write_summary(table: str | Path | pd.DataFrame, out: str | Path) -> pd.DataFrame:
    """Write the per-track summary of `table` (a DataFrame or an output file) to `out`.

    `out` ending in .csv drops the embedding mean (CSV carries no vectors); .parquet and .json
    keep it as a list.
    """
    df = table if isinstance(table, pd.DataFrame) else read_table(table)
    summary = summarize(df)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        summary.drop(columns=["embedding_mean"], errors="ignore").to_csv(out, index=False)
    elif suffix in (".parquet", ".pq"):
        summary.to_parquet(out, index=False)
    elif suffix == ".json":
        out.write_text(json.dumps(summary.to_dict(orient="records"), indent=1))
    else:
        raise SchemaError(f"{out}: unknown summary format {suffix!r}; use .csv, .parquet or .json")
    return summary
