"""Streaming table writers (CSV, Parquet, JSONL): rows are flushed as they come, so a batch
that stops part-way keeps every row already written (Parquet: every finished row group)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from facelens.errors import SchemaError
from facelens.faces import FrameResult
from facelens.schema import to_arrow, to_pyfeat

FORMULA_START = r"^[=+\-@\t\r]"  # what a spreadsheet may take for the start of a formula
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise SchemaError(f"{path}: unknown output format {suffix!r}; use .csv, .parquet or .jsonl")
    return FORMATS[suffix]


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """`table` with a `'` put before every text cell that starts with =, +, -, @, tab or carriage
    return, so that a spreadsheet opening the CSV shows the text instead of running a formula
    (a file named `=HYPERLINK(...).jpg`). Numbers are left alone."""
    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(i)
        risky = pc.match_substring_regex(column, FORMULA_START)
        if pc.any(risky).as_py():
            quoted = pc.binary_join_element_wise("'", column, "")
            table = table.set_column(i, field, pc.if_else(risky, quoted, column))
    return table


def spreadsheet_text(text: str) -> str:
    """One text cell made safe as `spreadsheet_safe` does for a table's columns."""
    return "'" + text if re.match(FORMULA_START, text) else text


def row_bytes(table: pa.Table, fmt: str, header: bool) -> bytes:
    """The rows of `table` as CSV (with a header line if asked; text cells `spreadsheet_safe`) or
    JSON Lines bytes."""
    if fmt == "csv":
        sink = pa.BufferOutputStream()
        pacsv.write_csv(spreadsheet_safe(table), sink, pacsv.WriteOptions(include_header=header))
        return sink.getvalue().to_pybytes()
    return "".join(json.dumps(row) + "\n" for row in table.to_pylist()).encode()


class TableWriter:
    """`with TableWriter("out.csv", features) as w: w.write(results)`; schema "openface" or "pyfeat"."""

    def __init__(self, path: str | Path, features: Iterable[str], schema: str = "openface",
                 row_group: int = 256) -> None:
        if schema not in ("openface", "pyfeat"):
            raise SchemaError(f"unknown schema {schema!r}; choose openface or pyfeat")
        self.path = Path(path)
        self.format = format_of(path)
        self.features = frozenset(features)
        self.schema = schema
        self.row_group = row_group
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._writer: Any = None
        self._fh: Any = None
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _table(self, results: Sequence[FrameResult]) -> pa.Table:
        table = to_arrow(results, self.features, vectors=self.format != "csv")
        return to_pyfeat(table) if self.schema == "pyfeat" else table

    def write(self, results: Sequence[FrameResult]) -> None:
        if not results:
            return
        table = self._table(results)
        self.rows += table.num_rows
        if self.format in ("csv", "jsonl"):
            if self._fh is None:
                self._fh = self.path.open("wb")
            self._fh.write(row_bytes(table, self.format, header=self.rows == table.num_rows))
            self._fh.flush()
        else:
            self._pending.append(table)
            if sum(t.num_rows for t in self._pending) >= self.row_group:
                self._flush_parquet()

    def _flush_parquet(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        self._pending = []
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table)

    def close(self) -> None:
        if self.format == "parquet":
            if self._writer is None and not self._pending:  # nothing written: still a valid, empty file
                self._pending.append(self._table([]))
            self._flush_parquet()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
