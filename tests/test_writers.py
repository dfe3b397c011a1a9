"""Table writers: CSV text cells a spreadsheet would run as formulas are neutralised."""

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
