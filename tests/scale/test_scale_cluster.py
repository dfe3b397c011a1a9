"""A real two-node Ray cluster (two `ray start --block` processes on private ports and a private
temp dir, with token authentication): both nodes analyse inputs, the manifest records which node
did each, and killing the worker node mid-run loses no input."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from object_store import free_port
from shared_data import data_path

from facelens.scale import manifest_path

pytest.importorskip("ray.data", reason="the ray engine needs ray[data]")
RAY = str(Path(sys.executable).with_name("ray"))


@dataclass
class Node:
    proc: subprocess.Popen
    log: Path

    def kill(self) -> None:
        """SIGKILL the node's whole process group (raylet, workers): a machine lost, no goodbye."""
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


def _ports(*names: str) -> list[str]:
    return [arg for name in names for arg in (f"--{name}", str(free_port()))]


def start_node(args: list[str], log: Path, env: dict[str, str]) -> Node:
    """`ray start --block` in its own process group, so the node dies with it and nothing else does."""
    cmd = [RAY, "start", "--block", "--num-cpus", "1", "--object-store-memory", str(200 * 2**20), "--disable-usage-stats", "--include-log-monitor", "false",
           *_ports("node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
                   "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port"),
           "--min-worker-port", "0", "--max-worker-port", "0", *args]
    return Node(subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True), log)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, dict[str, str], Node, Node]]:
    """(GCS address, driver environment, head node, worker node): one CPU each, token auth with a
    token of its own (`RAY_AUTH_TOKEN`); stopped, and its temp dir removed, at the end."""
    temp = Path(tempfile.mkdtemp(prefix="fl-ray-", dir="/tmp"))  # short: Ray's socket paths must fit
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes: list[Node] = []
    try:
        nodes.append(start_node(["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard", "false"],
                                temp / "head.log", env))
        _wait_for_gcs(port, nodes[0])
        for attempt in range(3):  # a loaded machine can miss Ray's fixed 30 s raylet start-up window
            nodes.append(start_node(["--address", address], temp / f"worker{attempt}.log", env))
            if _wait_for_nodes(address, 2, nodes, env, fail=attempt == 2):
                break
            nodes.pop().kill()
        yield address, env, nodes[0], nodes[1]
    finally:
        for node in reversed(nodes):
            node.kill()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_gcs(port: int, head: Node, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if head.proc.poll() is not None:
            pytest.fail(f"ray head exited: {head.log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"ray head did not listen on {port}")


def _wait_for_nodes(address: str, n: int, nodes: list[Node], env: dict[str, str], timeout: float = 180,
                    fail: bool = True) -> bool:
    """Poll the cluster from a child process (this process must not stay connected) until `n` nodes
    are alive; False (or a test failure, with `fail`) when a node exits first."""
    probe = (f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
             "print(sum(1 for x in ray.nodes() if x['Alive']))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in nodes:
            if node.proc.poll() is not None:
                if fail:
                    pytest.fail(f"a ray node exited: {node.log.read_text()[-2000:]}")
                return False
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout, env=env)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return True
        time.sleep(1)
    pytest.fail(f"{n} ray nodes did not come up")


def _entries(out: Path) -> list[dict]:
    return [json.loads(line) for line in manifest_path(out).read_text().splitlines()[1:]]


def _inputs(tmp_path: Path, n: int = 40) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    crops = sorted(data_path("identity").glob("*/*.png"))
    for i in range(n):
        (folder / f"{i:03d}.png").symlink_to(crops[i % len(crops)])
    return folder


# The driver runs in a child process, as a user's would: Ray reads RAY_AUTH_MODE when it is imported.
DRIVER = """
import os, signal, sys
from facelens import Analyzer
from facelens.scale import run_batch
address, folder, out, worker_pgid, kill_after = sys.argv[1:]
done = []
def on_file(item, stats):
    done.append(item.input)
    if len(done) == int(kill_after):
        os.killpg(int(worker_pgid), signal.SIGKILL)
stats = run_batch(Analyzer("detect"), [folder], out, engine="ray", workers=2, address=address, on_file=on_file,
                  part_rows=5)
print("analysed", stats.files)
"""


def _driver(cluster, folder: Path, out: Path, kill_after: int = 0, **env: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    address, cluster_env, _, worker = cluster
    environ = {**cluster_env, **env, "PYTHONPATH": os.pathsep.join(sys.path)}
    environ = {k: v for k, v in environ.items() if v}
    return subprocess.run([sys.executable, "-c", DRIVER, address, str(folder), str(out), str(worker.proc.pid),
                           str(kill_after)], capture_output=True, text=True, env=environ, timeout=400)


@pytest.mark.slow
def test_explicit_address_without_token_auth_mode_says_how_to_fix_it(cluster, tmp_path: Path) -> None:
    """Ray enables token auth by itself only for `auto`: an explicit address needs RAY_AUTH_MODE=token."""
    run = _driver(cluster, _inputs(tmp_path, 2), tmp_path / "out.parquet", RAY_AUTH_MODE="")
    assert run.returncode != 0
    assert "InvalidAuthToken" in run.stderr and "set RAY_AUTH_MODE=token" in run.stderr


@pytest.mark.slow
def test_both_nodes_work_and_a_lost_worker_node_loses_no_input(cluster, tmp_path: Path) -> None:
    *_, worker = cluster
    folder = _inputs(tmp_path)
    out = tmp_path / "out.parquet"
    run = _driver(cluster, folder, out, kill_after=12)
    assert run.returncode == 0, run.stderr[-3000:]
    assert worker.proc.poll() is not None, "the worker node was not killed mid-run"
    entries = _entries(out)
    inputs = sorted(str(p) for p in folder.iterdir())
    assert sorted(e["input"] for e in entries) == inputs and f"analysed {len(inputs)}" in run.stdout
    assert len({e["node"] for e in entries}) == 2, "both nodes should have analysed inputs"
    files = pq.read_table(out).column("file").to_pylist()
    assert sorted(set(files)) == inputs and len(files) == sum(e["rows"] for e in entries)
