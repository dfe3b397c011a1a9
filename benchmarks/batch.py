"""Batch throughput: images/s of `facelens.scale.run_batch` on a folder built by repeating the
shared photos, for the local engine with 1 and 2 workers and for Ray (local), with the Ray
overhead ratio against the local engine at the same worker count, and peak memory.

Usage: python benchmarks/batch.py [--n 2000] [--workers 1 2] [--features default]
Each configuration runs in its own Python process; the folder (symlinks in a temp dir) cycles
through every image under ../shared/data. `seconds` is the run_batch call (worker start and model
loading included); `process_seconds` is the whole process, interpreter start and imports
included. Peak memory is the largest sum of RSS over the process tree (driver, workers, and for
Ray its raylet/GCS and actors; shared pages are counted in every process that maps them).
Writes benchmarks/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".ppm"}


def build_folder(folder: Path, n: int) -> int:
    """n symlinks cycling through the shared photos; returns how many distinct photos."""
    photos = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not photos:
        sys.exit(f"no photos under {DATA}")
    for i in range(n):
        src = photos[i % len(photos)]
        (folder / f"{i:06d}{src.suffix.lower()}").symlink_to(src)
    return len(photos)


def tree_rss(pid: int) -> int:
    """Summed RSS in bytes of `pid` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def run_one(folder: Path, out: Path, engine: str, workers: int, features: str | None) -> dict:
    """Run one configuration in a child process, sampling its tree's memory."""
    cmd = [sys.executable, __file__, "--child", str(folder), str(out), engine, str(workers), features or "default"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{engine} x{workers} failed with exit code {proc.returncode}")
    result = json.loads(proc.stdout.read().strip().splitlines()[-1])
    return {**result, "process_seconds": round(wall, 2), "peak_rss_mib": round(peak / 2**20)}


def child(folder: str, out: str, engine: str, workers: str, features: str) -> None:
    from facelens import Analyzer
    from facelens.scale import run_batch

    analyzer = Analyzer(None if features == "default" else features)
    stats = run_batch(analyzer, [folder], out, engine=engine, workers=int(workers), resume=False)
    print(json.dumps({"engine": engine, "workers": int(workers), "images": stats.files, "faces": stats.faces,
                      "errors": stats.errors, "seconds": round(stats.seconds, 2),
                      "images_per_s": round(stats.files / stats.seconds, 2)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="images in the folder")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local engine worker counts")
    ap.add_argument("--ray-workers", type=int, default=2, help="Ray actors (compared with local at this count)")
    ap.add_argument("--features", default=None, help="analyzer features (default: facelens defaults)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "batch.json")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        distinct = build_folder(folder, args.n)
        configs = [("local", w) for w in args.workers] + [("ray", args.ray_workers)]
        for engine, workers in configs:
            r = run_one(folder, Path(tmp) / f"{engine}{workers}.parquet", engine, workers, args.features)
            print(f"{engine:5s} x{workers}: {r['images']} images in {r['seconds']:.1f} s = {r['images_per_s']:.2f} images/s "
                  f"(process {r['process_seconds']:.1f} s), peak RSS {r['peak_rss_mib']} MiB", flush=True)
            runs.append(r)
    by = {(r["engine"], r["workers"]): r for r in runs}
    local_same = by.get(("local", args.ray_workers))
    ratio = by[("ray", args.ray_workers)]["seconds"] / local_same["seconds"] if local_same else None
    if ratio:
        print(f"Ray overhead: ray x{args.ray_workers} takes {ratio:.2f}x the time of local x{args.ray_workers}")
    result = {
        "images": args.n, "distinct_photos": distinct, "features": args.features or "default",
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(), "runs": runs,
        "ray_overhead_ratio": round(ratio, 3) if ratio else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
