"""The Ray engine gives the same rows as the local engine (one local Ray for the module: it is slow to start)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from shared_data import data_path
from test_scale_clean import build_dataset
from test_scale_local import assert_same_rows, sorted_rows
from tiny_embedders import DIM, projection
from typer.testing import CliRunner

from facelens import Analyzer
from facelens.cli import app
from facelens.scale import run_batch

pytest.importorskip("ray.data", reason="the ray engine needs ray[data]")
pytestmark = pytest.mark.slow  # a local Ray cluster per module
runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray():
    from facelens.scale.ray_engine import ray_runtime

    with ray_runtime(workers=2):
        yield


def test_ray_and_local_engines_write_the_same_rows(local_ray, tmp_path: Path) -> None:
    inputs = [data_path("detection"), data_path("identity")]
    analyzer = Analyzer()  # the default features, embeddings included
    local = run_batch(analyzer, inputs, tmp_path / "local.parquet", engine="local", workers=2)
    ray = run_batch(analyzer, inputs, tmp_path / "ray.parquet", engine="ray", workers=2)
    assert ray.files == local.files == 15 + 47 and ray.faces == local.faces > 100
    a, b = sorted_rows(tmp_path / "local.parquet"), sorted_rows(tmp_path / "ray.parquet")
    assert len(a) == len(b) == local.rows
    assert_same_rows(a, b)
    again = run_batch(analyzer, inputs, tmp_path / "ray.parquet", engine="ray", workers=2)
    assert again.skipped == 62 and again.files == 0


def test_clean_on_ray_reports_what_local_reports(local_ray, tmp_path: Path) -> None:
    build_dataset(tmp_path / "dataset")
    for engine in ("local", "ray"):
        result = runner.invoke(app, ["clean", str(tmp_path / "dataset"), "-o", str(tmp_path / engine), "--engine", engine,
                                     "--workers", "2"])
        assert result.exit_code == 0, result.output
    for name in ("flagged", "no_face", "near_duplicates", "identity_outliers", "similar_folders"):
        a, b = pd.read_csv(tmp_path / "local" / f"{name}.csv"), pd.read_csv(tmp_path / "ray" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-4)


def test_clean_on_ray_embeds_with_a_user_embedder(local_ray, tmp_path: Path) -> None:
    """The embedder reaches the Ray actors (pickled as its spec): their rows carry its vectors."""
    from facelens.scale.clean import clean_dataset

    for person in ("raj", "sheldon"):
        shutil.copytree(data_path("identity", person), tmp_path / "dataset" / person)
    model = projection(tmp_path / "tiny.onnx")
    report = clean_dataset(tmp_path / "dataset", tmp_path / "report", engine="ray", workers=2, embedder=model)
    faces = pq.read_table(tmp_path / "report" / "faces.parquet").to_pandas()
    assert report.embedder["name"] == "tiny.onnx" and len(faces) == 10 and {len(e) for e in faces.embedding} == {DIM}
