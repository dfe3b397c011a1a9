"""Local engine: the process pool gives the same rows as one process; bad files become error rows."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shared_data import SAMPLES, data_path

from facelens import Analyzer
from facelens.errors import FeatureError
from facelens.run import analyze_to_file
from facelens.scale import run_batch
from facelens.scale.local import file_table, run_local

FEATURES = "landmarks,pose,identity,quality"


def sorted_rows(out: Path) -> pd.DataFrame:
    df = pd.read_csv(out) if out.suffix == ".csv" else pq.read_table(out).to_pandas()
    return df.sort_values(["file", "face_id"]).reset_index(drop=True)


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame, atol: float = 1e-4) -> None:
    """Same files, faces and errors; numbers equal within `atol`; embeddings too."""
    assert a.file.tolist() == b.file.tolist()
    assert a.face_id.fillna(-1).tolist() == b.face_id.fillna(-1).tolist()
    assert a.error.fillna("").tolist() == b.error.fillna("").tolist()
    num = [c for c in a.select_dtypes("number").columns]
    np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), atol=atol, equal_nan=True)
    if "embedding" in a:
        for x, y in zip(a.embedding, b.embedding):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_allclose(x, y, atol=atol)


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    """Good photos, a no-face photo and three broken files."""
    folder = tmp_path_factory.mktemp("mixed")
    for name in ("multi_face.jpg", "single_face.jpg", "no-face.jpg"):
        shutil.copy(data_path("detection", name), folder / name)
    shutil.copy(data_path("identity", "amy", "amy1.png"), folder / "amy1.png")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("not an image")
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    return folder


def test_pool_matches_one_process_and_keeps_bad_files(mixed_folder: Path, tmp_path: Path) -> None:
    analyzer = Analyzer(FEATURES)
    one = run_batch(analyzer, [mixed_folder], tmp_path / "one.parquet", workers=1)
    two = run_batch(analyzer, [mixed_folder], tmp_path / "two.parquet", workers=2)
    assert one.inputs == two.inputs == 7 and one.files == two.files == 7
    assert one.errors == two.errors == 3 and one.faces == two.faces == 5 + 1 + 1
    a, b = sorted_rows(tmp_path / "one.parquet"), sorted_rows(tmp_path / "two.parquet")
    assert_same_rows(a, b)
    errors = b.set_index(b.file.map(lambda p: Path(p).name)).error
    assert "empty file" in errors["empty.jpg"] and "not a readable image" in errors["text.png"]
    assert "corrupt or truncated" in errors["truncated.jpg"]
    assert pd.isna(errors["no-face.jpg"])


def test_batch_and_single_process_count_alike(mixed_folder: Path, tmp_path: Path) -> None:
    """`run_batch` and `analyze_to_file` fill one `RunStats` the same way, video frames included."""
    analyzer = Analyzer("landmarks")
    inputs = [mixed_folder, data_path("video", "single_face.mp4")]
    batch = run_batch(analyzer, inputs, tmp_path / "batch.csv", workers=1)
    single = analyze_to_file(analyzer, inputs, tmp_path / "single.csv")
    assert batch.seconds > 0 and single.seconds > 0 and batch.rate > 0
    assert dataclasses.replace(batch, seconds=0.0) == dataclasses.replace(single, seconds=0.0)
    assert (single.inputs, single.files, single.skipped) == (8, 8, 0)
    assert single.frames == 4 + 72 and single.faces == 5 + 1 + 1 + 72
    assert single.errors == 3 and single.rows == single.faces + 1 + 3  # the no-face photo and three error rows
    assert sorted(Path(p).name for p in single.failed_inputs) == ["empty.jpg", "text.png", "truncated.jpg"]
    assert single.succeeded == 5


def test_file_table_matches_analyzer(mixed_folder: Path) -> None:
    analyzer = Analyzer("landmarks")
    table = file_table(analyzer, mixed_folder / "multi_face.jpg", vectors=False).to_pandas()
    faces = analyzer(str(mixed_folder / "multi_face.jpg"))[0].faces
    assert len(table) == len(faces) == 5
    np.testing.assert_allclose(table["x_30"], faces.landmarks68[:, 30, 0], atol=1e-4)
    pyfeat = file_table(analyzer, mixed_folder / "multi_face.jpg", vectors=False, schema="pyfeat").column_names
    assert "input" in pyfeat and "FaceRectX" in pyfeat


def _crash_on(path: str) -> None:
    if Path(path).name == "crash.png":
        os._exit(3)  # a native crash in a model, as the pool sees it


class CrashingAnalyzer(Analyzer):
    """Dies (as a segfaulting model would) on files named crash.png."""

    def image_result(self, name, load):  # noqa: ANN001, ANN201 - every image of a batch comes through here
        _crash_on(name)
        return super().image_result(name, load)


def test_worker_death_becomes_error_row_and_others_finish(mixed_folder: Path, tmp_path: Path) -> None:
    shutil.copy(mixed_folder / "amy1.png", tmp_path / "crash.png")
    paths = [str(mixed_folder / n) for n in ("amy1.png", "single_face.jpg", "no-face.jpg")] + [str(tmp_path / "crash.png")]
    results = dict(run_local(CrashingAnalyzer("landmarks"), paths, workers=2, vectors=False))
    assert sorted(results) == sorted(paths)
    crash = results[str(tmp_path / "crash.png")].to_pylist()
    assert len(crash) == 1 and "worker process died" in crash[0]["error"]
    assert results[paths[0]].column("success").to_pylist() == [1]


def test_address_needs_ray_engine(tmp_path: Path) -> None:
    with pytest.raises(FeatureError):
        run_batch(Analyzer("landmarks"), [SAMPLES / "astronaut.jpg"], tmp_path / "o.csv", address="auto")
    with pytest.raises(FeatureError):
        run_batch(Analyzer("landmarks"), [SAMPLES / "astronaut.jpg"], tmp_path / "o.csv", engine="spark")
