"""Resumable runs: SIGKILL part-way, re-run the same command, every input exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from shared_data import data_path

from facelens import Analyzer
from facelens.errors import FacelensError, FeatureError
from facelens.scale import manifest_path, run_batch
from facelens.scale.local import file_table
from facelens.scale.manifest import BatchOutput


def finished(out: Path) -> list[dict]:
    path = manifest_path(out)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines[1:] if line.endswith("}")]


@pytest.fixture
def many_images(tmp_path: Path) -> Path:
    """48 inputs: the 40 identity crops, each symlinked again under a second name, 8 of them."""
    folder = tmp_path / "images"
    folder.mkdir()
    crops = sorted(data_path("identity").glob("*/*.png"))
    assert len(crops) == 40
    for i, src in enumerate(crops + crops[:8]):
        (folder / f"{i:03d}_{src.name}").symlink_to(src)
    return folder


def test_sigkill_then_resume_gives_every_input_once(many_images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    cmd = [sys.executable, "-m", "facelens.cli", "analyze", str(many_images), "-o", str(out), "-f", "landmarks,pose",
           "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(finished(out)) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes, mid-run
    proc.wait()
    done_before = len(finished(out))
    assert 6 <= done_before < 48

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done_before} already done" in " ".join(rerun.stderr.split())
    df = pd.read_csv(out)
    names = sorted(p.name for p in many_images.iterdir())
    assert sorted(df.file.map(lambda p: Path(p).name).unique()) == names
    assert not df.duplicated(["file", "face_id"]).any()
    entries = finished(out)
    assert sorted(Path(e["input"]).name for e in entries) == names
    per_file = df.groupby("file").size()
    assert all(per_file[e["input"]] == e["rows"] for e in entries)


def test_parquet_parts_survive_a_crash(tmp_path: Path) -> None:
    """A run that dies after some parts: orphan parts, .tmp files and a torn manifest line are
    cleaned on resume, and the dataset holds every input once."""
    analyzer = Analyzer("pose")
    paths = [str(p) for p in sorted(data_path("identity", "amy").glob("*.png"))]
    out = tmp_path / "out.parquet"
    sink = BatchOutput(out, analyzer.features, part_rows=1)
    for p in paths[:3]:
        sink.add(p, file_table(analyzer, p))  # each add writes a part (part_rows=1)
    sink._log.close()  # the process dies here: no close(); then leftovers of work in flight:
    pq.write_table(file_table(analyzer, paths[3]), out / "part-00003.parquet")
    (out / "part-00004.parquet.tmp").write_bytes(b"partial")
    with manifest_path(out).open("a") as fh:
        fh.write('{"input": "/x/half')

    stats = run_batch(analyzer, paths, out, workers=1)
    assert stats.skipped == 3 and stats.files == 2
    df = pq.read_table(out).to_pandas()
    assert sorted(df.file.unique()) == sorted(paths) and not df.duplicated(["file", "face_id"]).any()
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())
    assert len(finished(out)) == 5


def test_csv_rows_after_last_entry_are_dropped(tmp_path: Path) -> None:
    analyzer = Analyzer("pose")
    paths = [str(p) for p in sorted(data_path("identity", "raj").glob("*.png"))]
    out = tmp_path / "out.csv"
    run_batch(analyzer, paths[:2], out, workers=1)
    with out.open("a") as fh:
        fh.write("half,a,row,of,a,killed,run")
    stats = run_batch(analyzer, paths, out, workers=1)
    assert stats.skipped == 2 and stats.files == 3
    df = pd.read_csv(out)
    assert sorted(df.file.unique()) == sorted(paths) and not df.duplicated(["file", "face_id"]).any()


def test_resume_refuses_other_options_and_no_resume_starts_over(tmp_path: Path) -> None:
    path = str(data_path("identity", "raj", "raj1.png"))
    out = tmp_path / "out.jsonl"
    run_batch(Analyzer("pose"), [path], out, workers=1)
    with pytest.raises(FeatureError, match="no-resume"):
        run_batch(Analyzer("pose,gaze"), [path], out, workers=1)
    stats = run_batch(Analyzer("pose,gaze"), [path], out, workers=1, resume=False)
    assert stats.files == 1
    row = json.loads(out.read_text().splitlines()[0])
    assert "gaze_angle_x" in row and len(out.read_text().splitlines()) == 1


def command_options(name: str) -> set[str]:
    """Every option spelling of the `facelens NAME` command."""
    import typer

    from facelens.cli import app

    command = typer.main.get_command(app).commands[name]
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)}


def test_start_over_messages_name_an_option_of_each_command_that_reaches_them(tmp_path: Path) -> None:
    """A refused resume tells the user how to start over: with an option `analyze` and `clean` both have
    (both write resumable Parquet), and for a CSV/JSONL output shorter than its manifest, one of `analyze`."""
    out = tmp_path / "out.parquet"
    run_batch(Analyzer("pose"), [], out)
    with pytest.raises(FeatureError) as other_options:
        run_batch(Analyzer("pose,gaze"), [], out)
    table = tmp_path / "out.csv"
    run_batch(Analyzer("pose"), [], table)
    with manifest_path(table).open("a") as fh:
        fh.write(json.dumps({"input": "/gone.png", "rows": 1, "faces": 1, "error": False, "end": 10**6}) + "\n")
    with pytest.raises(FacelensError, match="shorter") as truncated:
        run_batch(Analyzer("pose"), [], table)
    for message, commands in ((str(other_options.value), ("analyze", "clean")), (str(truncated.value), ("analyze",))):
        named = set(re.findall(r"--[a-z][a-z-]*", message))
        assert named, message
        for command in commands:
            assert named <= command_options(command), (command, message)


def test_empty_input_list_still_writes_the_columns(tmp_path: Path) -> None:
    out = tmp_path / "none.parquet"
    stats = run_batch(Analyzer("pose"), [], out)
    assert stats.inputs == 0
    table = pq.read_table(out)
    assert "pose_Rx" in table.column_names and table.num_rows == 0


def test_a_run_that_fails_before_any_input_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with BatchOutput(out, ["pose"]):
            raise RuntimeError("engine failed to start")
    assert not list(tmp_path.iterdir())


def test_a_failed_resumed_run_keeps_the_earlier_output(tmp_path: Path) -> None:
    path = str(data_path("identity", "raj", "raj1.png"))
    out = tmp_path / "out.parquet"
    run_batch(Analyzer("pose"), [path], out, workers=1)
    with pytest.raises(RuntimeError):
        with BatchOutput(out, ["pose"]):
            raise RuntimeError("engine failed to start")
    assert pq.read_table(out).num_rows == 1 and manifest_path(out).exists()
