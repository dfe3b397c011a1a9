"""Inputs and outputs in object storage, against a local S3 server (moto) started for the session:
listing, reading on the workers, Parquet parts and the manifest in the bucket, resuming there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from object_store import make_bucket, upload
from shared_data import SAMPLES, data_path
from test_scale_local import assert_same_rows
from typer.testing import CliRunner

from facelens import Analyzer
from facelens.cli import app
from facelens.errors import FeatureError, InputError
from facelens.io import storage
from facelens.scale import manifest_path, run_batch

runner = CliRunner()


@pytest.fixture(scope="module")
def photos(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(local folder, s3 prefix) of the same files: the detection photos, a truncated JPEG and a text file."""
    folder = tmp_path_factory.mktemp("photos")
    for path in sorted(data_path("detection").glob("*.jpg"))[:8]:
        shutil.copy(path, folder / path.name)
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    (folder / "sub").mkdir()
    (folder / "sub" / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.txt").write_text("not an input")
    make_bucket("photos")
    upload(folder, "s3://photos/in")
    return folder, "s3://photos/in/"


def _as_uri(local: str, folder: Path, prefix: str) -> str:
    return prefix + Path(local).relative_to(folder).as_posix()


def test_listing_reading_and_writing_objects(photos: tuple[Path, str]) -> None:
    folder, prefix = photos
    listed = storage.expand_inputs([prefix])
    assert listed == [_as_uri(p, folder, prefix) for p in storage.expand_inputs([folder])]
    assert prefix + "sub/truncated.jpg" in listed and not any(u.endswith(".txt") for u in listed)
    assert storage.read_bytes(listed[0]) == (folder / storage.name(listed[0])).read_bytes()
    with pytest.raises(InputError, match="s3://photos/in/missing.jpg: no such object"):
        storage.read_bytes(prefix + "missing.jpg")
    storage.write_bytes("s3://photos/tmp/x.bin", b"abc")
    assert storage.exists("s3://photos/tmp/x.bin")
    storage.delete("s3://photos/tmp/x.bin")
    assert not storage.exists("s3://photos/tmp/x.bin")


def test_batch_from_and_to_the_bucket_matches_local_disk(photos: tuple[Path, str], tmp_path: Path) -> None:
    folder, prefix = photos
    analyzer = Analyzer("landmarks,pose")
    out = "s3://photos/runs/local-engine.parquet"
    missing = prefix + "missing.jpg"
    remote = run_batch(analyzer, [prefix, missing], out, workers=2, part_rows=20)
    disk = run_batch(analyzer, [folder], tmp_path / "disk.parquet", workers=2)
    assert remote.files == disk.files + 1 == 10 and remote.faces == disk.faces > 10
    a = pq.read_table(out).to_pandas()  # read straight from the bucket
    assert storage.list_files(out) and all(storage.name(u).startswith("part-") for u in storage.list_files(out))
    errors = a.set_index("file").error.dropna()
    assert errors[missing] == f"{missing}: no such object"
    assert errors[prefix + "sub/truncated.jpg"].startswith(f"{prefix}sub/truncated.jpg: corrupt or truncated image")
    b = pq.read_table(tmp_path / "disk.parquet").to_pandas()
    b["file"] = [_as_uri(p, folder, prefix) for p in b.file]
    b["error"] = [e.replace(str(folder) + "/", prefix) if isinstance(e, str) else e for e in b.error]
    a = a[a.file != missing]
    assert_same_rows(a.sort_values(["file", "face_id"]).reset_index(drop=True),
                     b.sort_values(["file", "face_id"]).reset_index(drop=True))
    again = run_batch(analyzer, [prefix, missing], out, workers=2)
    assert again.skipped == 10 and again.files == 0
    assert storage.exists(storage.join(manifest_path(out), "header.json"))


def test_object_outputs_are_parquet(photos: tuple[Path, str]) -> None:
    with pytest.raises(FeatureError, match="Parquet"):
        run_batch(Analyzer("pose"), [photos[1]], "s3://photos/runs/out.csv", workers=1)


def _entries(out: str) -> list[str]:
    import json

    logs = [u for u in storage.list_files(manifest_path(out)) if u.endswith(".jsonl")] if storage.exists(
        manifest_path(out)) else []
    return [json.loads(line)["input"] for u in logs for line in storage.read_bytes(u).splitlines()]


def test_a_killed_run_resumes_from_the_manifest_in_the_bucket(s3_endpoint: str, tmp_path: Path) -> None:
    make_bucket("resume")
    crops = sorted(data_path("identity").glob("*/*.png"))[:24]
    uris = []
    for i, path in enumerate(crops):
        uris.append(f"s3://resume/in/{i:02d}.png")
        storage.write_bytes(uris[-1], path.read_bytes())
    out = "s3://resume/out.parquet"
    script = ("import sys; from facelens import Analyzer; from facelens.scale import run_batch; "
              "run_batch(Analyzer('landmarks'), ['s3://resume/in/'], sys.argv[1], workers=1, part_rows=1)")
    cmd = [sys.executable, "-c", script, out]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(_entries(out)) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(_entries(out))
    assert 4 <= before < 24
    storage.write_bytes(storage.join(out, "part-09999.parquet"), b"a part whose manifest object never came")

    stats = run_batch(Analyzer("landmarks"), ["s3://resume/in/"], out, workers=1)
    assert stats.skipped == before and stats.files == 24 - before
    assert sorted(_entries(out)) == uris
    df = pq.read_table(out).to_pandas()
    assert sorted(df.file.unique()) == uris and not df.duplicated(["file", "face_id"]).any()
    assert not storage.exists(storage.join(out, "part-09999.parquet"))


@pytest.mark.slow
def test_cli_analyze_bucket_to_bucket_on_ray(photos: tuple[Path, str]) -> None:
    pytest.importorskip("ray.data", reason="the ray engine needs ray[data]")
    _, prefix = photos
    out = "s3://photos/runs/ray.parquet"
    args = ["analyze", prefix, "-o", out, "--engine", "ray", "--workers", "2", "-f", "landmarks"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    table = pq.read_table(out)
    expected = storage.expand_inputs([prefix])
    assert sorted(set(table.column("file").to_pylist())) == expected
    faces = sum(1 for s in table.column("success").to_pylist() if s == 1)
    assert faces > 10 and f"{faces} face(s)" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and f"{len(expected)} already done" in " ".join(second.output.split())
    assert pq.read_table(out).num_rows == table.num_rows


def test_fsspec_filesystems_and_unknown_schemes() -> None:
    """A protocol pyarrow lacks goes through fsspec (here its in-memory filesystem)."""
    pytest.importorskip("fsspec")
    storage.write_bytes("memory://bkt/x/a.jpg", b"jpeg bytes")
    storage.write_bytes("memory://bkt/x/notes.txt", b"text")
    assert storage.expand_inputs(["memory://bkt/x/"]) == ["memory://bkt/x/a.jpg"]
    assert storage.read_bytes("memory://bkt/x/a.jpg") == b"jpeg bytes"
    with pytest.raises(InputError, match="nosuch://bkt: no filesystem for nosuch://"):
        storage.read_bytes("nosuch://bkt/a.jpg")
    assert not storage.is_uri("file:///tmp/a.jpg") and not storage.is_uri("C:/photos")


class DriverReads:
    """A filesystem of this process (the driver), wrapped to record the objects opened for reading
    through it; the worker processes resolve their own filesystems and are not wrapped."""

    def __init__(self, fs: object) -> None:
        self.fs, self.opened, self.listings = fs, [], 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.fs, name)

    def get_file_info(self, *args: object) -> object:
        self.listings += 1
        return self.fs.get_file_info(*args)

    def open_input_stream(self, path: str, *args: object) -> object:
        self.opened.append(path)
        return self.fs.open_input_stream(path, *args)

    def open_input_file(self, path: str, *args: object) -> object:
        self.opened.append(path)
        return self.fs.open_input_file(path, *args)


def _thumbnails(page: str) -> list[str]:
    import re

    return sorted(re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", page))


@pytest.mark.slow
def test_clean_a_dataset_in_the_bucket_reports_what_local_disk_reports(s3_endpoint: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Same findings and the same report thumbnails as on local disk, and the driver opens no image
    object: the workers hash, measure and thumbnail the images they decode."""
    import pandas as pd
    from test_scale_clean import build_dataset

    build_dataset(tmp_path / "dataset")
    make_bucket("faces")
    upload(tmp_path / "dataset", "s3://faces/dataset")
    wrapped: dict[tuple[str, str], DriverReads] = {}
    real = storage._filesystem
    monkeypatch.setattr(storage, "_filesystem",
                        lambda scheme, bucket: wrapped.setdefault((scheme, bucket), DriverReads(real(scheme, bucket))))
    for name, dataset in (("disk", str(tmp_path / "dataset")), ("bucket", "s3://faces/dataset/")):
        result = runner.invoke(app, ["clean", dataset, "-o", str(tmp_path / name), "--workers", "2"])
        assert result.exit_code == 0, result.output
    driver = wrapped[("s3", "faces")]
    assert driver.listings > 0  # the driver listed the bucket through the wrapper
    assert [p for p in driver.opened if p.startswith("faces/dataset/")] == []
    for name in ("flagged", "no_face", "multiple_faces", "low_quality", "near_duplicates", "identity_outliers",
                 "similar_folders"):
        a, b = pd.read_csv(tmp_path / "disk" / f"{name}.csv"), pd.read_csv(tmp_path / "bucket" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-4)
    assert len(pd.read_csv(tmp_path / "bucket" / "flagged.csv")) >= 5
    disk, bucket = ((tmp_path / n / "index.html").read_text() for n in ("disk", "bucket"))
    assert len(_thumbnails(bucket)) >= 5 and _thumbnails(bucket) == _thumbnails(disk)
    refused = runner.invoke(app, ["clean", "s3://faces/dataset/", "-o", str(tmp_path / "q"), "--apply", "quarantine"])
    assert refused.exit_code == 2 and "object storage" in " ".join(refused.output.split())
