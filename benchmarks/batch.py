"""Batch throughput: `facelens.scale.run_batch` on N images, the local engine against Ray with the
same number of workers, reading from local disk and from a local S3 server (moto, in its own
process on 127.0.0.1), with per-image cost, the Ray overhead ratio, and what 1M and 100M images
would take on N nodes at the measured rate.

Usage: python benchmarks/batch.py [--n 20000] [--workers 2] [--features detect] [--sources disk s3]

The images are generated into a temp folder: copies and horizontal flips of every photo under
../shared/data, re-encoded as JPEG (quality 90) at their own size (the shared photos are at most
a few hundred pixels a side). The default features are "detect" (face boxes, with the mesh that
confirms each face): the cheapest full pass, so that 20,000 images finish on 2 cores, and the one
where the engines' own overhead weighs most. For S3 the images are uploaded once, the output is
written back to the bucket (Parquet parts and the manifest as objects) and the workers read
every image themselves.

Each configuration runs in its own Python process. `seconds` is the run_batch call (Ray start,
worker start and model loading included); `process_seconds` is the whole process. Peak memory is
the largest sum of RSS over the process tree (driver, workers, Ray's raylet/GCS and actors).
`core_ms_per_image` is seconds x workers / images. Writes benchmarks/results/batch.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".ppm"}
BUCKET = "facelens-bench"
S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def build_folder(folder: Path, n: int) -> int:
    """n JPEGs cycling through the shared photos, every other cycle flipped; returns how many distinct photos."""
    from PIL import Image, ImageOps

    photos = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not photos:
        sys.exit(f"no photos under {DATA}")
    encoded: dict[tuple[int, bool], bytes] = {}
    for i in range(n):
        key = (i % len(photos), (i // len(photos)) % 2 == 1)
        if key not in encoded:
            with Image.open(photos[key[0]]) as img:
                img = ImageOps.exif_transpose(img).convert("RGB")
                img = ImageOps.mirror(img) if key[1] else img
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=90)
                encoded[key] = buf.getvalue()
        (folder / f"{i // 1000:03d}" / f"{i:06d}.jpg").parent.mkdir(exist_ok=True)
        (folder / f"{i // 1000:03d}" / f"{i:06d}.jpg").write_bytes(encoded[key])
    return len(photos)


def start_s3() -> tuple[subprocess.Popen, dict[str, str]]:
    """A moto S3 server on a free 127.0.0.1 port, and the environment that points clients at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    return proc, {**S3_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}


def upload(folder: Path, env: dict[str, str]) -> str:
    """Create the bucket and upload the folder (8 threads); returns the input prefix."""
    os.environ.update(env)
    import pyarrow.fs as pafs

    fs, _ = pafs.FileSystem.from_uri(f"s3://{BUCKET}?allow_bucket_creation=true")
    fs.create_dir(BUCKET)
    files = sorted(p for p in folder.rglob("*.jpg"))

    def put(path: Path) -> None:
        with fs.open_output_stream(f"{BUCKET}/images/{path.relative_to(folder).as_posix()}") as fh:
            fh.write(path.read_bytes())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))
    return f"s3://{BUCKET}/images/"


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


def run_one(source: str, inputs: str, out: str, engine: str, workers: int, features: str, env: dict[str, str]) -> dict:
    """Run one configuration in a child process, sampling its tree's memory."""
    cmd = [sys.executable, __file__, "--child", inputs, out, engine, str(workers), features]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, **env})
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{source} {engine} x{workers} failed with exit code {proc.returncode}")
    result = json.loads(proc.stdout.read().strip().splitlines()[-1])
    core_ms = result["seconds"] * workers / max(result["images"], 1) * 1000
    return {"source": source, **result, "core_ms_per_image": round(core_ms, 2), "process_seconds": round(wall, 2),
            "peak_rss_mib": round(peak / 2**20), "load_average": os.getloadavg()[0]}


def child(inputs: str, out: str, engine: str, workers: str, features: str) -> None:
    from facelens import Analyzer
    from facelens.scale import run_batch

    analyzer = Analyzer(None if features == "default" else features)
    stats = run_batch(analyzer, [inputs], out, engine=engine, workers=int(workers), resume=False)
    print(json.dumps({"engine": engine, "workers": int(workers), "images": stats.files, "faces": stats.faces,
                      "errors": stats.errors, "seconds": round(stats.seconds, 2),
                      "images_per_s": round(stats.files / stats.seconds, 2)}))


def projection(rate_per_worker: float, cores_per_node: int, nodes: list[int]) -> list[dict]:
    """Hours for 1M and 100M images on N nodes of `cores_per_node` workers at the measured per-worker rate
    (linear scaling: assumes the store, the network and the driver keep up)."""
    rows = []
    for images in (1_000_000, 100_000_000):
        hours = {str(n): round(images / (rate_per_worker * n * cores_per_node) / 3600, 2) for n in nodes}
        rows.append({"images": images, "hours_on_nodes": hours})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="images generated")
    ap.add_argument("--workers", type=int, default=2, help="workers for both engines (local processes, Ray actors)")
    ap.add_argument("--features", default="detect", help="analyzer features ('default': facelens defaults)")
    ap.add_argument("--sources", nargs="+", default=["disk", "s3"], choices=["disk", "s3"])
    ap.add_argument("--cores-per-node", type=int, default=16, help="workers per node in the projection")
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 10, 100], help="node counts in the projection")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "batch.json")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    runs = []
    s3 = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        t = time.perf_counter()
        distinct = build_folder(folder, args.n)
        print(f"{args.n} images from {distinct} photos in {time.perf_counter() - t:.0f} s", flush=True)
        try:
            for source in args.sources:
                env: dict[str, str] = {}
                inputs, out = str(folder), str(Path(tmp) / "{engine}.parquet")
                if source == "s3":
                    s3, env = start_s3()
                    t = time.perf_counter()
                    inputs, out = upload(folder, env), f"s3://{BUCKET}/out/{{engine}}.parquet"
                    print(f"uploaded to the local S3 server in {time.perf_counter() - t:.0f} s", flush=True)
                for engine in ("local", "ray"):
                    r = run_one(source, inputs, out.format(engine=engine), engine, args.workers, args.features, env)
                    print(f"{source:4s} {engine:5s} x{args.workers}: {r['images']} images in {r['seconds']:.1f} s = "
                          f"{r['images_per_s']:.2f} images/s, {r['core_ms_per_image']:.1f} core-ms/image "
                          f"(process {r['process_seconds']:.1f} s), peak RSS {r['peak_rss_mib']} MiB, "
                          f"load {r['load_average']:.1f}", flush=True)
                    runs.append(r)
        finally:
            if s3 is not None:
                s3.terminate()
                s3.wait(10)
    by = {(r["source"], r["engine"]): r for r in runs}
    ratios = {src: round(by[(src, "ray")]["seconds"] / by[(src, "local")]["seconds"], 3) for src in args.sources}
    for src, ratio in ratios.items():
        print(f"Ray overhead ({src}): ray x{args.workers} takes {ratio:.2f}x the time of local x{args.workers}")
    basis = by.get(("s3", "ray")) or by[(args.sources[0], "ray")]
    rate = basis["images"] / basis["seconds"] / args.workers
    table = projection(rate, args.cores_per_node, args.nodes)
    print(f"projection at {rate:.2f} images/s per worker ({basis['source']} ray run), {args.cores_per_node} workers a node:")
    print("images       " + "".join(f"{n:>8d} nodes" for n in args.nodes))
    for row in table:
        print(f"{row['images']:>11,d}  " + "".join(f"{h:>12.2f} h" for h in row["hours_on_nodes"].values()))
    result = {
        "images": args.n, "distinct_photos": distinct, "features": args.features, "workers": args.workers,
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(), "runs": runs, "ray_overhead_ratio": ratios,
        "projection": {"basis": f"{basis['source']} ray x{args.workers}", "images_per_s_per_worker": round(rate, 3),
                       "workers_per_node": args.cores_per_node, "rows": table},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
