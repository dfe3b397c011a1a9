"""What a user sees when something is wrong: one line on stderr and an exit status, never silence."""

from __future__ import annotations

import json

import pytest
from shared_data import SAMPLES, data_path
from typer.testing import CliRunner

from facelens.api import Analyzer
from facelens.cli import app

runner = CliRunner()
IMAGE = str(SAMPLES / "astronaut.jpg")
VIDEO = str(SAMPLES / "astronaut_pan.mp4")


def _lines(text: str, start: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(start)]


@pytest.mark.parametrize("engine", [[], ["--overlay", "OVERLAY"]], ids=["batch", "single"])
def test_each_bad_image_gets_one_stderr_line_and_keeps_its_error_row(tmp_path, engine):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(SAMPLES.joinpath("astronaut.jpg").read_bytes()[:2000])
    missing = tmp_path / "missing.jpg"
    args = [a.replace("OVERLAY", str(tmp_path / "ov")) for a in engine]
    result = runner.invoke(app, ["analyze", str(truncated), str(missing), IMAGE, "-o", str(tmp_path / "o.csv"),
                                 "-f", "landmarks", *args])
    assert result.exit_code == 0, result.output
    skipped = _lines(result.stderr, "skipped: ")
    assert len(skipped) == 2
    assert any(f"{truncated}: corrupt or truncated image" in s for s in skipped)
    assert f"skipped: {missing}: no such file" in skipped
    assert (tmp_path / "o.csv").read_text().count("no such file") == 1


def test_missing_video_is_an_input_error_not_a_frame(tmp_path):
    result = runner.invoke(app, ["analyze", str(tmp_path / "nosuch.mp4"), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert _lines(result.stderr, "skipped: ") == [f"skipped: {tmp_path / 'nosuch.mp4'}: no such file"]
    assert "1 input(s), 0 frame(s)" in " ".join(result.stderr.split())


def test_start_past_the_end_of_a_clip_says_so(tmp_path):
    result = runner.invoke(app, ["analyze", VIDEO, "--start", "10", "-o", str(tmp_path / "o.csv"), "-f", "landmarks"])
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())
    assert "start 10 s is past the end of the video (3.0 s, 72 frames)" in said and "declared" not in said


def test_verify_reports_no_face_with_exit_status_and_json_field():
    obama, noface = str(data_path("identity", "obama.jpg")), str(data_path("detection", "no-face.jpg"))
    result = runner.invoke(app, ["verify", obama, noface, "--json"])
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["same"] is None and answer["no_face"] == [noface]
    assert "no face detected in " + noface in result.stderr
    labelled = runner.invoke(app, ["verify", obama, noface, "--json", "--whole-if-none"])
    assert labelled.exit_code == 0 and json.loads(labelled.stdout)["whole_image_b"] is True


def test_gallery_search_of_a_mistyped_db_fails_and_creates_nothing(tmp_path):
    typo = tmp_path / "galery"
    result = runner.invoke(app, ["gallery", "search", IMAGE, "--db", str(typo)])
    assert result.exit_code == 1 and "no gallery there" in result.stderr
    assert not typo.exists()
    assert runner.invoke(app, ["gallery", "list", "--db", str(typo)]).exit_code == 1


def test_crops_options_that_would_write_nothing_or_a_misnamed_folder(tmp_path):
    out = str(tmp_path / "o.csv")
    named = runner.invoke(app, ["analyze", IMAGE, "-o", out, "-f", "landmarks,crops"])
    assert named.exit_code == 2 and "--crops DIR" in named.stderr
    media = runner.invoke(app, ["analyze", IMAGE, "-o", out, "--crops", str(tmp_path / "x.mp4")])
    assert media.exit_code == 2 and "not a file name" in media.stderr
    assert list(tmp_path.iterdir()) == []


def test_output_paths_are_checked_before_any_analysis(tmp_path, monkeypatch):
    import facelens.run

    def never(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the analysis started")

    monkeypatch.setattr(facelens.run, "analyze_to_file", never)
    parts = tmp_path / "o.parquet"
    parts.mkdir()  # what a batch run leaves: a folder of Parquet parts
    result = runner.invoke(app, ["analyze", IMAGE, "-o", str(parts), "--overlay", str(tmp_path / "ov")])
    assert result.exit_code == 2 and "is a folder" in result.stderr
    table = tmp_path / "t.csv"
    table.write_text("file,frame\n")
    plot = runner.invoke(app, ["plot", str(table), "-o", str(tmp_path / "p.xyz")])
    assert plot.exit_code == 2 and "unknown image format '.xyz'" in plot.stderr and "Traceback" not in plot.output


def test_analyzer_faces_takes_a_path_and_says_what_it_takes():
    with Analyzer("landmarks") as analyzer:
        assert len(analyzer.faces(IMAGE)) == 1
        with pytest.raises(TypeError, match="image array, a path or encoded bytes"):
            analyzer.faces([1, 2, 3])


def test_no_xnnpack_notice_on_stderr(tmp_path):
    import subprocess
    import sys

    code = ("from facelens.api import Analyzer; from facelens.io.readers import read_image; "
            f"print(len(Analyzer('landmarks').faces(read_image({IMAGE!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1" and "XNNPACK" not in done.stderr, done.stderr


def test_overlay_labels_sit_on_a_dark_box_inside_the_image_without_overlapping():
    import numpy as np

    from facelens.faces import Faces
    from facelens.io.overlay import draw, label_boxes

    white = np.full((200, 300, 3), 255, np.uint8)
    boxes = np.array([[0, 0, 60, 60], [20, 5, 80, 65], [250, 150, 300, 200]], np.float32)  # touching edges, overlapping
    faces = Faces(boxes=boxes, scores=np.array([0.91, 0.82, 0.73], np.float32))
    texts = ["0.91", "0.82", "0.73"]
    rects = label_boxes(boxes, texts, white.shape[:2], 1)
    for k, (x, y, w, h) in enumerate(rects):
        assert 0 <= x and x + w <= 300 and 0 <= y and y + h <= 200
        for other in rects[k + 1:]:
            ox, oy, ow, oh = other
            assert not (x < ox + ow and ox < x + w and y < oy + oh and oy < y + h), (rects[k], other)
    out = draw(white, faces)
    for x, y, w, h in rects:
        patch = out[y:y + h, x:x + w].astype(int).sum(-1)
        assert (patch < 150).mean() > 0.5 and (patch > 600).any()  # dark box, light text
