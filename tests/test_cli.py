"""`facelens analyze` end to end: formats, columns, bad inputs in a batch, exit codes."""

import json
import shutil

import cv2
import numpy as np
import pyarrow.parquet as pq
import pandas as pd
import pytest
from typer.testing import CliRunner

from facelens.cli import app

from shared_data import SAMPLES, data_path

runner = CliRunner()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A folder with good photos, a no-face photo and broken files, analysed once to CSV."""
    folder = tmp_path_factory.mktemp("batch")
    shutil.copy(data_path("detection", "multi_face.jpg"), folder / "a_multi.jpg")
    shutil.copy(data_path("detection", "no-face.jpg"), folder / "b_noface.jpg")
    shutil.copy(data_path("identity", "32bit.png"), folder / "c_rgba.png")
    (folder / "d_empty.jpg").write_bytes(b"")
    (folder / "e_text.png").write_text("hello")
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    (folder / "f_truncated.jpg").write_bytes(data[: len(data) // 4])
    out = folder / "out.csv"
    result = runner.invoke(app, ["analyze", str(folder), "-o", str(out), "-f", "landmarks,pose,gaze,aus,emotion,quality"])
    return folder, out, result


def test_batch_keeps_going_and_records_errors(batch):
    folder, out, result = batch
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    per_file = df.groupby(df.file.map(lambda p: p.rsplit("/", 1)[-1]))
    assert per_file.size().to_dict() == {"a_multi.jpg": 5, "b_noface.jpg": 1, "c_rgba.png": 1, "d_empty.jpg": 1,
                                         "e_text.png": 1, "f_truncated.jpg": 1}
    assert df[df.file.str.endswith("a_multi.jpg")].success.eq(1).all()
    noface = df[df.file.str.endswith("b_noface.jpg")].iloc[0]
    assert noface.success == 0 and pd.isna(noface.error) and pd.isna(noface.x_0)
    errors = df.set_index(df.file.map(lambda p: p.rsplit("/", 1)[-1])).error
    assert "empty file" in errors["d_empty.jpg"]
    assert "not a readable image" in errors["e_text.png"]
    assert "corrupt or truncated" in errors["f_truncated.jpg"]


def test_openface_columns(batch):
    _, out, _ = batch
    cols = pd.read_csv(out, nrows=1).columns.tolist()
    for c in ["frame", "face_id", "timestamp", "confidence", "success", "x_0", "x_67", "y_67", "pose_Tx", "pose_Rz",
              "gaze_0_x", "gaze_1_z", "gaze_angle_x", "gaze_angle_y", "AU01_r", "AU12_r", "AU45_r", "emotion",
              "emotion_happy", "quality", "face_x", "face_h", "file", "error"]:
        assert c in cols, c
    assert "embedding" not in cols


def test_exit_code_one_when_nothing_succeeds(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    result = runner.invoke(app, ["analyze", str(tmp_path / "bad.jpg"), str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    df = pd.read_csv(tmp_path / "o.csv")
    assert len(df) == 2 and df.error.str.contains("missing.png: no such file").any()


def _said(result) -> str:  # noqa: ANN001
    return " ".join(result.output.split())


def test_summary_lines_and_exit_codes_of_both_paths(tmp_path):
    """One input with a face is enough for exit 0, on the single-process path and the batch engine."""
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    good = str(SAMPLES / "astronaut.jpg")
    bad = str(tmp_path / "bad.jpg")
    single = runner.invoke(app, ["analyze", bad, good, "-o", str(tmp_path / "s.csv"), "-f", "landmarks",
                                 "--overlay", str(tmp_path / "ov")])  # --overlay: the single-process path
    assert single.exit_code == 0, single.output
    assert "2 input(s), 1 frame(s), 1 face row(s), 1 error row(s)" in _said(single)
    assert f"skipped: {bad}: " in single.stderr
    engine = ["--workers", "1"]
    batch = runner.invoke(app, ["analyze", bad, good, "-o", str(tmp_path / "b.csv"), "-f", "landmarks", *engine])
    assert batch.exit_code == 0, batch.output
    assert "2 input(s): 2 analysed, 0 already done; 1 face(s), 2 row(s), 1 error input(s)" in _said(batch)
    failed = runner.invoke(app, ["analyze", bad, "-o", str(tmp_path / "f.csv"), "-f", "landmarks", *engine])
    assert failed.exit_code == 1 and "1 error input(s)" in _said(failed)


def test_usage_errors_exit_two(tmp_path):
    img = str(SAMPLES / "astronaut.jpg")
    assert runner.invoke(app, ["analyze", img, "-o", str(tmp_path / "o.xlsx")]).exit_code == 2
    result = runner.invoke(app, ["analyze", img, "-o", str(tmp_path / "o.csv"), "-f", "pose,telepathy"])
    assert result.exit_code == 2 and "telepathy" in result.output


def test_parquet_with_embedding_and_mesh(tmp_path):
    out = tmp_path / "o.parquet"
    result = runner.invoke(app, ["analyze", str(SAMPLES / "astronaut.jpg"), "-o", str(out), "-f", "identity,mesh,age_gender"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 1
    assert len(table.column("embedding")[0].as_py()) == 128
    assert len(table.column("mesh")[0].as_py()) == 478 * 3
    row = table.to_pylist()[0]
    assert row["gender"] in ("male", "female") and 0.5 <= row["gender_prob"] <= 1 and row["age"] > 0


def test_jsonl_and_pyfeat_schema(tmp_path):
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["analyze", str(SAMPLES / "astronaut.jpg"), "-o", str(out), "-f", "pose,aus,emotion", "--schema", "pyfeat"])
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text().splitlines()[0])
    for c in ("FaceRectX", "FaceScore", "Pitch", "Yaw", "Roll", "AU12", "happiness", "neutral", "input"):
        assert c in row, c
    openface = runner.invoke(app, ["analyze", str(SAMPLES / "astronaut.jpg"), "-o", str(tmp_path / "p.jsonl"), "-f", "pose"])
    assert openface.exit_code == 0
    yaw_rad = json.loads((tmp_path / "p.jsonl").read_text())["pose_Ry"]
    assert row["Yaw"] == pytest.approx(np.degrees(yaw_rad), abs=1e-3)


def test_crops_and_overlay(tmp_path):
    result = runner.invoke(app, ["analyze", str(data_path("detection", "multi_face.jpg")), "-o", str(tmp_path / "o.csv"),
                                 "-f", "landmarks", "--crops", str(tmp_path / "crops"), "--overlay", str(tmp_path / "ov")])
    assert result.exit_code == 0, result.output
    import cv2

    crops = sorted((tmp_path / "crops").glob("*.png"))
    assert len(crops) == 5 and cv2.imread(str(crops[0])).shape == (112, 112, 3)
    overlay = cv2.imread(str(tmp_path / "ov" / "multi_face.jpg"))
    original = cv2.imread(str(data_path("detection", "multi_face.jpg")))
    assert overlay.shape == original.shape and np.abs(overlay.astype(int) - original).sum() > 0


def test_overlay_image_is_decoded_once(tmp_path, monkeypatch):
    """The overlay is drawn on the pixels the analysis decoded: one decode per image."""
    from facelens import Analyzer
    from facelens.io import overlay, readers
    from facelens.run import analyze_to_file

    decoded = []
    read_image = readers.read_image
    monkeypatch.setattr(readers, "read_image", lambda source: decoded.append(source) or read_image(source))
    image = data_path("detection", "multi_face.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    analyzer = Analyzer("landmarks")
    stats = analyze_to_file(analyzer, [image, tmp_path / "bad.jpg"], tmp_path / "o.csv", overlay=tmp_path / "ov")
    assert stats.faces == 5 and stats.failed_inputs == [str(tmp_path / "bad.jpg")]
    assert decoded == [image, tmp_path / "bad.jpg"]
    written = cv2.imread(str(tmp_path / "ov" / "multi_face.jpg"))[..., ::-1]
    expected = overlay.draw(read_image(image), analyzer(str(image))[0].faces)
    assert np.abs(written.astype(int) - expected).mean() < 2  # JPEG round trip of the same drawing
    assert not (tmp_path / "ov" / "bad.jpg").exists()


def test_python_api_matches_table():
    import facelens

    results = facelens.analyze(str(data_path("detection", "multi_face.jpg")), features="landmarks,emotion")
    df = results.to_pandas()
    assert len(results) == 1 and len(results[0].faces) == 5 and len(df) == 5
    assert np.allclose(df["x_30"].to_numpy(), results[0].faces.landmarks68[:, 30, 0], atol=1e-3)
    arr = facelens.analyze(np.zeros((64, 64, 3), np.uint8), features="landmarks")
    assert arr[0].source == "<array>" and len(arr[0].faces) == 0 and arr[0].error is None


def test_ray_engine_without_ray_shows_the_install_hint_and_leaves_no_output(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without Ray installed
    out = tmp_path / "OUT.parquet"
    result = runner.invoke(app, ["analyze", str(SAMPLES / "astronaut.jpg"), "-o", str(out), "--engine", "ray"])
    assert result.exit_code == 1, result.output
    assert "pip install 'facelens[ray]'" in " ".join(result.output.split())
    assert not out.exists() and not list(tmp_path.iterdir())
