"""Bounded load test of `facelens serve` on this machine: N image analyses at a fixed concurrency.

Usage: python benchmarks/load.py [--requests 200] [--concurrency 8] [--image PATH] [--features default]
                                 [--workers N] [--url http://127.0.0.1:PORT] [--max-seconds 600]
Without --url it starts `facelens serve` on 127.0.0.1 and a free port, and stops it at the end.
Only loopback addresses are accepted. Prints a summary and writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import httpx

import facelens

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "detection" / "multi_face.jpg"
DEFAULT_IMAGE = SHARED if SHARED.exists() else ROOT / "src" / "facelens" / "samples" / "astronaut.jpg"


def loopback_url(url: str) -> str:
    host = urlparse(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SystemExit(f"{url}: this load test only runs against loopback addresses (127.0.0.1, ::1)")
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int | None) -> tuple[subprocess.Popen, str]:
    """`facelens serve` in a child process; returns it and its URL once /health answers."""
    port = free_port()
    args = [sys.executable, "-c", "from facelens.cli import app; app()", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers:
        args += ["--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if k != "FACELENS_API_KEY"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"facelens serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("facelens serve did not answer within 120 s")


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def run(url: str, image: Path, features: str, requests: int, concurrency: int, max_seconds: float) -> dict:
    data = image.read_bytes()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, timeout=120, limits=limits) as http:

        def one(_: int) -> tuple[float, int, float | None, int | None]:
            if time.perf_counter() > stop_at:
                return 0.0, -1, None, None
            t0 = time.perf_counter()
            r = http.post(f"/api/v1/analyze?features={features}", files={"file": (image.name, data, "image/jpeg")})
            elapsed = time.perf_counter() - t0
            body = r.json() if r.status_code == 200 else {}
            return elapsed, r.status_code, body.get("seconds"), body.get("faces")

        stop_at = time.perf_counter() + max_seconds
        for _ in range(2):  # warm-up, not counted
            one(0)
        stop_at = time.perf_counter() + max_seconds
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(one, range(requests)))
        wall = time.perf_counter() - start
        workers = http.get("/api/v1/health").json()["workers"]
    done = [r for r in results if r[1] != -1]
    ok = [r for r in done if r[1] == 200]
    latencies = [r[0] * 1000 for r in ok]
    server = [r[2] * 1000 for r in ok if r[2] is not None]
    return {
        "requests": len(done), "skipped_after_time_limit": len(results) - len(done), "ok": len(ok),
        "errors": len(done) - len(ok), "status_codes": sorted({r[1] for r in done}),
        "faces_per_image": sorted({r[3] for r in ok}), "concurrency": concurrency, "server_workers": workers,
        "wall_s": round(wall, 2), "requests_per_s": round(len(ok) / wall, 2) if wall else None,
        "latency_ms": {"p50": round(percentile(latencies, 50), 1), "p95": round(percentile(latencies, 95), 1),
                       "p99": round(percentile(latencies, 99), 1), "max": round(max(latencies), 1),
                       "mean": round(statistics.fmean(latencies), 1)} if latencies else None,
        "server_analysis_ms_p50": round(percentile(server, 50), 1) if server else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--features", default="default")
    ap.add_argument("--workers", type=int, default=None, help="pooled analyzers of the server started here")
    ap.add_argument("--url", default=None, help="a running server on loopback instead of starting one")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="stop sending after this long")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = ap.parse_args()
    if not 1 <= args.requests <= 10_000 or not 1 <= args.concurrency <= 64:
        raise SystemExit("--requests must be 1..10000 and --concurrency 1..64")

    load_before = os.getloadavg()
    proc = None
    if args.url:
        url = loopback_url(args.url)
    else:
        proc, url = start_server(args.workers)
    try:
        report = run(url, args.image, args.features, args.requests, args.concurrency, args.max_seconds)
        if proc is not None:
            report["server_peak_rss_mb"] = peak_rss_mb(proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
    report = {
        "benchmark": "load", "facelens": facelens.__version__, "image": args.image.name, "features": args.features,
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],  # other work on the machine
        **report,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    lat = report["latency_ms"] or {}
    print(f"{report['ok']}/{report['requests']} ok, {report['errors']} errors, {report['requests_per_s']} req/s, "
          f"p50 {lat.get('p50')} ms, p95 {lat.get('p95')} ms (concurrency {args.concurrency}, "
          f"{report['server_workers']} workers, {report['cores']} cores) -> {args.out}")


if __name__ == "__main__":
    main()
