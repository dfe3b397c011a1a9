"""A batch run killed from outside: its worker processes, forkserver and resource tracker end
with it, and no `pymp-*` folder is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shared_data import data_path

from facelens.scale import manifest_path


def session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes of session `sid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_run_leaves_no_workers_and_no_temp_folders(sig: signal.Signals, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, src in enumerate(sorted(data_path("identity").glob("*/*.png"))[:24]):
        (folder / f"{i:03d}.png").symlink_to(src)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out.csv"
    cmd = [sys.executable, "-m", "facelens.cli", "analyze", str(folder), "-o", str(out), "-f", "landmarks",
           "--workers", "2"]
    proc = subprocess.Popen(cmd, env={**os.environ, "TMPDIR": str(tmp)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and len(out.read_text().splitlines()) > 3) and proc.poll() is None:
            assert time.monotonic() < deadline, "no rows within 120 s"
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        assert len(session_processes(proc.pid)) >= 4  # the run, the forkserver, the tracker, two workers
        assert [p.name for p in tmp.iterdir() if p.name.startswith("pymp-")]
        proc.send_signal(sig)  # the run alone, as `kill` would; its workers must notice
        assert proc.wait(timeout=60) == (-9 if sig == signal.SIGKILL else 128 + signal.SIGTERM)
        deadline = time.monotonic() + 20
        while session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session_processes(proc.pid) == []
        assert [p.name for p in tmp.iterdir() if p.name.startswith("pymp-")] == []
    finally:
        for pid in session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
    if sig == signal.SIGTERM:  # stopped cleanly: every input the manifest names has its rows in the table
        written = {line.split(",")[0].strip('"') for line in out.read_text().splitlines()[1:]}
        named = {json.loads(line)["input"] for line in manifest_path(out).read_text().splitlines()[1:]}
        assert named and named <= written
