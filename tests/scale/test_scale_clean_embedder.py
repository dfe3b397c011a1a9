"""`facelens clean --embedder`: a user-supplied ONNX embedder makes the embeddings, the identity
thresholds follow its same-person distance, and the report names it. The embedder is a tiny fixed
random projection built in the test (no weights)."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shared_data import data_path
from tiny_embedders import DIM, projection
from typer.testing import CliRunner

from facelens.cli import app
from facelens.models.dlib_models import DLIB_THRESHOLD, DlibEmbedder
from facelens.models.embedder import EmbedderSpec
from facelens.scale.clean import Thresholds, clean_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three identity folders (16 crops, raj1.png copied once) and the tiny embedder."""
    root = tmp_path_factory.mktemp("clean_embedder")
    for person in ("amy", "raj", "sheldon"):
        shutil.copytree(data_path("identity", person), root / "dataset" / person)
    shutil.copy(root / "dataset" / "raj" / "raj1.png", root / "dataset" / "raj" / "raj1_copy.png")
    return root / "dataset", projection(root / "tiny.onnx")


def test_thresholds_follow_the_same_person_distance() -> None:
    assert Thresholds.following(DLIB_THRESHOLD) == Thresholds()  # dlib's defaults, exactly
    th = Thresholds.following(1.2)
    assert th.same_person == th.outlier_min == 1.2 and th.dup_embedding == pytest.approx(1.2 * 0.4 / 0.6)
    identity = {"same_person", "outlier_min", "dup_embedding"}
    assert {k: v for k, v in asdict(th).items() if k not in identity} == \
        {k: v for k, v in asdict(Thresholds()).items() if k not in identity}


@pytest.mark.slow  # three clean runs of a 16-image dataset (the second resumes, the third starts over)
def test_clean_embeds_with_the_user_model_and_its_thresholds(small: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, model = small
    report = tmp_path / "report"
    result = clean_dataset(dataset, report, workers=2, embedder=EmbedderSpec(model, threshold=0.5))
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    assert result.embedder == {"name": "tiny.onnx", "sha256": sha, "cosine_threshold": 0.5,
                               "distance_threshold": pytest.approx(1.0)}  # sqrt(2 - 2 * 0.5)
    summary = json.loads((report / "summary.json").read_text())
    assert summary["embedder"]["sha256"] == sha
    th = summary["thresholds"]
    assert th["same_person"] == th["outlier_min"] == pytest.approx(1.0) and th["dup_embedding"] == pytest.approx(2 / 3)
    page = (report / "index.html").read_text()
    assert "tiny.onnx" in page and sha in page
    faces = pq.read_table(report / "faces.parquet").to_pandas()
    assert len(faces) == 16 and {len(e) for e in faces.embedding} == {DIM}  # the workers ran the user's model
    dup = pd.read_csv(report / "near_duplicates.csv")
    assert list(zip(dup.path_a, dup.path_b)) == [("raj/raj1.png", "raj/raj1_copy.png")]
    loose = pd.read_csv(report / "similar_folders.csv")

    # The same embeddings (the run resumes), a stricter threshold (distance 0.141): fewer similar folders.
    args = ["clean", str(dataset), "-o", str(report), "--workers", "2", "--embedder", str(model)]
    strict = runner.invoke(app, [*args, "--embedder-threshold", "0.99"])
    assert strict.exit_code == 0, strict.output
    tight = pd.read_csv(report / "similar_folders.csv")
    assert len(tight) < len(loose) and (tight.centre_distance < 0.1415).all() and (loose.centre_distance < 1.0).all()
    assert json.loads((report / "summary.json").read_text())["thresholds"]["same_person"] == pytest.approx(0.1411, abs=1e-3)

    # One report never mixes two embedders' vectors: dlib's descriptor on it is refused, and
    # --no-resume (which the message names) analyses every image again with it.
    mixed = runner.invoke(app, ["clean", str(dataset), "-o", str(report), "--workers", "2"])
    assert mixed.exit_code == 2 and "was written with" in mixed.output and "--no-resume" in mixed.output
    again = runner.invoke(app, ["clean", str(dataset), "-o", str(report), "--workers", "2", "--no-resume"])
    assert again.exit_code == 0, again.output
    assert json.loads((report / "summary.json").read_text())["embedder"]["name"] == DlibEmbedder.name
    assert {len(e) for e in pq.read_table(report / "faces.parquet").column("embedding").to_pylist()} == {128}


def test_a_bad_embedder_is_one_line_exit_2(small: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, _ = small
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    for path, message in ((tmp_path / "missing.onnx", "no such file"), (text, "not a loadable ONNX model")):
        result = runner.invoke(app, ["clean", str(dataset), "-o", str(tmp_path / "report"), "--embedder", str(path)])
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if "error:" in line]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.output
    assert not (tmp_path / "report").exists()


def test_folders_too_small_to_score_give_no_outliers() -> None:
    """No folder with `min_folder` usable faces (a one-image dataset, say): nothing to score, no crash."""
    from test_scale_clean import _synthetic_table

    from facelens.scale.clean import find_problems

    img = _synthetic_table(np.random.default_rng(0)).groupby("identity").head(2).reset_index(drop=True)
    findings, flagged = find_problems(img, Thresholds())
    assert findings["identity_outliers"].empty and len(findings["similar_folders"]) == 0 and not flagged
