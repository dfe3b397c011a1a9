"""Table writers: CSV text cells a spreadsheet would run as formulas are neutralised."""

import numpy as np
import pandas as pd
import pyarrow as pa

from facelens.faces import Faces, FrameResult
from facelens.io.writers import TableWriter, row_bytes, spreadsheet_text


def test_csv_cells_that_start_like_a_formula_get_a_quote(tmp_path):
    names = ['=HYPERLINK("http://x","y").jpg', "+1.jpg", "-2.jpg", "@SUM(A1).jpg", "\tx.jpg", "plain.jpg", "a=b.jpg"]
    out = tmp_path / "out.csv"
    with TableWriter(out, ["landmarks"]) as writer:
        writer.write([FrameResult(n, Faces.empty(), error="-oops" if n == "plain.jpg" else None) for n in names])
    df = pd.read_csv(out, keep_default_na=False)
    assert df.file.tolist() == ["'" + n for n in names[:5]] + names[5:]
    assert df.error.tolist() == ["", "", "", "", "", "'-oops", ""]
    assert df.frame.tolist() == [0] * 7  # numbers untouched


def test_only_text_columns_change():
    table = pa.table({"x": [-1.5, 2.0], "name": ["-a", None]})
    assert row_bytes(table, "csv", True).decode().splitlines() == ['"x","name"', '-1.5,"\'-a"', "2,"]
    assert row_bytes(table, "jsonl", False).decode().splitlines()[0] == '{"x": -1.5, "name": "-a"}'  # JSON keeps text as it is
    assert spreadsheet_text("=1+1") == "'=1+1" and spreadsheet_text("1+1") == "1+1"


def test_age_sd_column_in_every_format(tmp_path):
    """age_gender rows carry age, age_sd, gender and gender_prob in CSV, Parquet and JSONL alike."""
    f32 = lambda *v: np.array(v, np.float32)  # noqa: E731
    faces = Faces(boxes=f32([0, 0, 10, 10], [5, 5, 20, 20]), scores=f32(0.9, 0.8), age=f32(31.5, 8.0),
                  age_sd=f32(5.3, 2.5), male_prob=f32(0.2, 0.9))
    for ext in ("csv", "parquet", "jsonl"):
        out = tmp_path / f"o.{ext}"
        with TableWriter(out, ["age_gender"]) as writer:
            writer.write([FrameResult("a.jpg", faces)])
        df = pd.read_csv(out) if ext == "csv" else pd.read_parquet(out) if ext == "parquet" else pd.read_json(out, lines=True)
        assert list(df.columns).index("age_sd") == list(df.columns).index("age") + 1, ext
        np.testing.assert_allclose(df.age_sd, [5.3, 2.5], rtol=1e-6, err_msg=ext)
        np.testing.assert_allclose(df.gender_prob, [0.8, 0.9], rtol=1e-6, err_msg=ext)
        assert df.gender.tolist() == ["female", "male"], ext
