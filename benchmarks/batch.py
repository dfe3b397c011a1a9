"""Batch throughput: `facelens.scale.run_batch` on N images, the local engine against Ray with the
same number of workers, reading from local disk and from a local S3 server (moto, in its own
process on 127.0.0.1), with per-image cost, the Ray overhead ratio, and what 1M and 100M images
would take on N nodes at the measured rate.

Usage: python benchmarks/batch.py [--n 20000] [--workers 2] [--features detect] [--sources disk s3]
       [--max-side 640]

The images are generated into a temp folder: copies and horizontal flips of every photo under
../shared/data, re-encoded as JPEG (quality 90), each distinct (photo, flip) encoded once and
written as many times as it is used. Photos larger than `--max-side` (640 px) on their longest
side are downscaled to it (24 of the 654 shared photos; most are 200 px crops), so per-image
work is small, which is the harder case for an engine's per-image overhead. The default features
are "detect" (face boxes, with the mesh that confirms each face): the cheapest full pass. For S3
the images are uploaded once (16 threads), the output is written back to the bucket (Parquet
parts and the manifest as objects) and the workers read every image themselves.

Each configuration runs in its own Python process; the order alternates (disk: local then Ray,
S3: Ray then local) so that a drifting machine load does not favour one engine. `seconds` is the
run_batch call (Ray start, worker start and model loading included); `first_result_s` is the
time to the first finished image (start-up) and `steady_images_per_s` the rate after it;
`process_seconds` is the whole process. Peak memory is the largest sum of RSS over the process
tree (driver, workers, Ray's raylet/GCS and actors). `core_ms_per_image` is seconds x workers /
images. `uptime` is recorded before and after the whole run, the 1-minute load average before
and after each run. batch.json is rewritten after every run (`complete` false until the last).
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


def build_folder(folder: Path, n: int, max_side: int) -> tuple[int, int]:
    """n JPEGs cycling through the shared photos, every other cycle flipped, downscaled to at most
    `max_side` px; returns (distinct photos, photos downscaled)."""
    from PIL import Image, ImageOps

    photos = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not photos:
        sys.exit(f"no photos under {DATA}")
    encoded: dict[tuple[int, bool], bytes] = {}
    shrunk: set[int] = set()
    for i in range(n):
        key = (i % len(photos), (i // len(photos)) % 2 == 1)
        if key not in encoded:
            with Image.open(photos[key[0]]) as img:
                img = ImageOps.exif_transpose(img).convert("RGB")
                if max(img.size) > max_side:
                    img.thumbnail((max_side, max_side), Image.LANCZOS)
                    shrunk.add(key[0])
                img = ImageOps.mirror(img) if key[1] else img
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=90)
                encoded[key] = buf.getvalue()
        (folder / f"{i // 1000:03d}" / f"{i:06d}.jpg").parent.mkdir(exist_ok=True)
        (folder / f"{i // 1000:03d}" / f"{i:06d}.jpg").write_bytes(encoded[key])
    return len(photos), len(shrunk)


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
    """Create the bucket and upload the folder (16 threads); returns the input prefix."""
    os.environ.update(env)
    import pyarrow.fs as pafs

    fs, _ = pafs.FileSystem.from_uri(f"s3://{BUCKET}?allow_bucket_creation=true")
    fs.create_dir(BUCKET)
    files = sorted(p for p in folder.rglob("*.jpg"))

    def put(path: Path) -> None:
        with fs.open_output_stream(f"{BUCKET}/images/{path.relative_to(folder).as_posix()}") as fh:
            fh.write(path.read_bytes())

    with ThreadPoolExecutor(16) as pool:
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
    load_before = os.getloadavg()[0]
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
            "peak_rss_mib": round(peak / 2**20), "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0]}


def child(inputs: str, out: str, engine: str, workers: str, features: str) -> None:
    from facelens import Analyzer
    from facelens.scale import RunStats, run_batch

    analyzer = Analyzer(None if features == "default" else features)
    first: list[tuple[float, int]] = []

    def on_file(item: object, stats: RunStats) -> None:
        if not first:
            first.append((stats.seconds, stats.files))

    stats = run_batch(analyzer, [inputs], out, engine=engine, workers=int(workers), resume=False, on_file=on_file)
    startup, done = first[0] if first else (stats.seconds, 0)
    steady = (stats.files - done) / max(stats.seconds - startup, 1e-9)
    print(json.dumps({"engine": engine, "workers": int(workers), "images": stats.files, "faces": stats.faces,
                      "errors": stats.errors, "seconds": round(stats.seconds, 2),
                      "images_per_s": round(stats.files / stats.seconds, 2), "first_result_s": round(startup, 2),
                      "steady_images_per_s": round(steady, 2)}))


def projection(rate_per_worker: float, cores_per_node: int, nodes: list[int]) -> list[dict]:
    """Hours for 1M and 100M images on N nodes of `cores_per_node` workers at the measured per-worker rate
    (linear scaling: assumes the store, the network and the driver keep up)."""
    rows = []
    for images in (1_000_000, 100_000_000):
        hours = {str(n): round(images / (rate_per_worker * n * cores_per_node) / 3600, 2) for n in nodes}
        rows.append({"images": images, "hours_on_nodes": hours})
    return rows


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def summarise(args: argparse.Namespace, runs: list[dict], meta: dict) -> dict:
    """Ratios and the projection from the runs so far (a source counts once both engines ran)."""
    by = {(r["source"], r["engine"]): r for r in runs}
    pairs = [src for src in args.sources if (src, "ray") in by and (src, "local") in by]
    ratios = {src: round(by[(src, "ray")]["seconds"] / by[(src, "local")]["seconds"], 3) for src in pairs}
    steady = {src: round(by[(src, "local")]["steady_images_per_s"] / by[(src, "ray")]["steady_images_per_s"], 3)
              for src in pairs}
    result = {**meta, "complete": len(runs) == 2 * len(args.sources), "runs": runs, "ray_overhead_ratio": ratios,
              "ray_overhead_ratio_after_start_up": steady}
    rays = [by[(src, "ray")] for src in ("s3", "disk") if (src, "ray") in by]
    if rays:
        basis = rays[0]
        rate = basis["images"] / basis["seconds"] / args.workers
        result["projection"] = {"basis": f"{basis['source']} ray x{args.workers}",
                                "images_per_s_per_worker": round(rate, 3), "workers_per_node": args.cores_per_node,
                                "rows": projection(rate, args.cores_per_node, args.nodes)}
    return result


def write(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="images generated")
    ap.add_argument("--workers", type=int, default=2, help="workers for both engines (local processes, Ray actors)")
    ap.add_argument("--features", default="detect", help="analyzer features ('default': facelens defaults)")
    ap.add_argument("--sources", nargs="+", default=["disk", "s3"], choices=["disk", "s3"])
    ap.add_argument("--max-side", type=int, default=640, help="downscale larger photos to this longest side, px")
    ap.add_argument("--cores-per-node", type=int, default=16, help="workers per node in the projection")
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 10, 100], help="node counts in the projection")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "batch.json")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    runs: list[dict] = []
    s3 = None
    meta: dict = {"images": args.n, "features": args.features, "workers": args.workers,
                  "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "uptime_before": uptime()}
    print(meta["uptime_before"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        t = time.perf_counter()
        distinct, shrunk = build_folder(folder, args.n, args.max_side)
        meta.update(distinct_photos=distinct, max_side_px=args.max_side, photos_downscaled=shrunk,
                    build_seconds=round(time.perf_counter() - t, 1))
        print(f"{args.n} images from {distinct} photos ({shrunk} downscaled to {args.max_side} px longest side) "
              f"in {meta['build_seconds']:.0f} s", flush=True)
        try:
            for k, source in enumerate(args.sources):
                env: dict[str, str] = {}
                inputs, out = str(folder), str(Path(tmp) / "{engine}.parquet")
                if source == "s3":
                    s3, env = start_s3()
                    t = time.perf_counter()
                    inputs, out = upload(folder, env), f"s3://{BUCKET}/out/{{engine}}.parquet"
                    meta["upload_seconds"] = round(time.perf_counter() - t, 1)
                    print(f"uploaded to the local S3 server in {meta['upload_seconds']:.0f} s", flush=True)
                for engine in ("local", "ray") if k % 2 == 0 else ("ray", "local"):
                    r = run_one(source, inputs, out.format(engine=engine), engine, args.workers, args.features, env)
                    print(f"{source:4s} {engine:5s} x{args.workers}: {r['images']} images in {r['seconds']:.1f} s = "
                          f"{r['images_per_s']:.2f} images/s ({r['steady_images_per_s']:.2f} after the first result "
                          f"at {r['first_result_s']:.1f} s), {r['core_ms_per_image']:.1f} core-ms/image "
                          f"(process {r['process_seconds']:.1f} s), peak RSS {r['peak_rss_mib']} MiB, "
                          f"load {r['load_average_before']:.1f} -> {r['load_average_after']:.1f}", flush=True)
                    runs.append(r)
                    write(args.out, summarise(args, runs, meta))
        finally:
            if s3 is not None:
                s3.terminate()
                s3.wait(10)
    meta["uptime_after"] = uptime()
    result = summarise(args, runs, meta)
    write(args.out, result)
    print(meta["uptime_after"])
    for src, ratio in result["ray_overhead_ratio"].items():
        print(f"Ray overhead ({src}): ray x{args.workers} takes {ratio:.2f}x the time of local x{args.workers} "
              f"({result['ray_overhead_ratio_after_start_up'][src]:.2f}x after start-up)")
    proj = result["projection"]
    print(f"projection at {proj['images_per_s_per_worker']:.2f} images/s per worker ({proj['basis']} run), "
          f"{args.cores_per_node} workers a node:")
    print("images       " + "".join(f"{n:>8d} nodes" for n in args.nodes))
    for row in proj["rows"]:
        print(f"{row['images']:>11,d}  " + "".join(f"{h:>12.2f} h" for h in row["hours_on_nodes"].values()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
