"""Gallery (LanceDB) add and top-5 query latency on synthetic 128-D vectors.

Usage: python benchmarks/gallery.py [--sizes 10000 100000 1000000] [--queries 200]
Vectors are random unit-norm 128-D float32 (dlib descriptors have norm ~1); queries are stored
vectors plus small noise, so recall@1 of the (indexed) search is also reported. Writes
benchmarks/results/gallery.json. Each size uses a fresh gallery in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from facelens.identity.gallery import DIM, SCHEMA, Gallery
from facelens.identity.verify import EMBEDDING_MODEL, embedding_version

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100_000


def synthetic(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def batch_table(vectors: np.ndarray, start: int) -> pa.Table:
    n = len(vectors)
    return pa.table({
        "name": [f"person{(start + i) // 5}" for i in range(n)], "file": [f"synthetic/{start + i}.jpg" for i in range(n)],
        "frame": np.zeros(n, np.int64), "track_id": np.full(n, -1, np.int64),
        "box": pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(4 * n, np.float32)), 4),
        "model": [EMBEDDING_MODEL] * n, "model_version": [embedding_version()] * n,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM),
    }, schema=SCHEMA)


def run(size: int, queries: int, rng: np.random.Generator) -> dict:
    vectors = synthetic(size, rng)
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Gallery(Path(tmp) / "g")
        t0 = time.perf_counter()
        for s in range(0, size, BATCH):
            gallery.add_table(batch_table(vectors[s:s + BATCH], s))
        add_s = time.perf_counter() - t0
        picks = rng.choice(size, queries, replace=False)
        q = vectors[picks] + 0.02 * rng.standard_normal((queries, DIM)).astype(np.float32)
        gallery.search(q[:5], k=5)  # warm-up: index and file caches
        t0 = time.perf_counter()
        hits = gallery.search(q, k=5)
        query_s = time.perf_counter() - t0
        recall = float(np.mean([h[0].file == f"synthetic/{p}.jpg" for h, p in zip(hits, picks)]))
        out = {"rows": size, "add_s": round(add_s, 2), "add_rows_per_s": round(size / add_s),
               "indexed": gallery.indexed, "query_ms": round(1000 * query_s / queries, 2), "queries": queries,
               "recall_at_1": recall}
    print(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    results = [run(n, args.queries, rng) for n in args.sizes]
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "method": "add: Gallery.add_table in 100k-row batches (includes IVF-PQ index build at >= 10k rows); "
                        "query: Gallery.search top-5, nprobes 20, refine 10, one query at a time after 5 warm-up queries",
              "results": results}
    out = ROOT / "benchmarks" / "results" / "gallery.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
