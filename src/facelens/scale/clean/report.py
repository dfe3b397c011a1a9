"""The report files of a clean run: one CSV per finding, flagged.csv, summary.json and index.html."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict
from pathlib import Path

import cv2
import pandas as pd

from facelens.errors import InputError
from facelens.io import storage
from facelens.scale.clean.paths import folder_files, join, path_name, read_rgb
from facelens.scale.clean.rules import CleanReport

THUMB = 96  # thumbnail size in the HTML report, pixels
MAX_SHOWN = 200  # rows per finding shown in the HTML report (the CSVs hold all)


def _thumb(path: Path | str) -> str:
    try:
        rgb = read_rgb(path)
    except InputError:
        return ""
    scale = THUMB / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=min(1.0, scale), fy=min(1.0, scale), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    src = "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""
    return f'<img src="{src}" alt="{html.escape(path_name(path))}" title="{html.escape(str(path))}">'


def _html_table(df: pd.DataFrame, dataset: Path | str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.head(MAX_SHOWN).iterrows():
        cells = []
        for c, v in row.items():
            if c in ("rel", "path_a", "path_b"):
                cells.append(f"<td>{_thumb(join(dataset, v))}<br>{html.escape(str(v))}</td>")
            elif c in ("identity_a", "identity_b"):
                thumbs = "".join(_thumb(p) for p in folder_files(join(dataset, v))[:3])
                cells.append(f"<td>{thumbs}<br>{html.escape(str(v))}</td>")
            else:
                cells.append(f"<td>{html.escape(f'{v:.3f}' if isinstance(v, float) else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>{len(df) - MAX_SHOWN} more in the CSV.</p>" if len(df) > MAX_SHOWN else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _rows(values: dict) -> str:
    """Name/value table rows."""
    return "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in values.items())


def write_report(r: CleanReport) -> None:
    for name, df in r.findings.items():
        df.to_csv(r.report / f"{name}.csv", index=False)
    pd.DataFrame([(rel, ";".join(why)) for rel, why in r.flagged.items()], columns=["rel", "findings"]).to_csv(
        r.report / "flagged.csv", index=False)
    where = r.dataset if storage.is_uri(r.dataset) else str(Path(r.dataset).resolve())
    summary = {"dataset": where, "images": r.images, "identities": r.identities,
               "counts": r.counts, "flagged_files": len(r.flagged), "embedder": r.embedder,
               "thresholds": asdict(r.thresholds)}
    (r.report / "summary.json").write_text(json.dumps(summary, indent=2))
    counts = "".join(f"<tr><td><a href='#{k}'>{k}</a></td><td>{v}</td></tr>" for k, v in r.counts.items())
    sections = "".join(f"<h2 id='{k}'>{k} ({len(df)})</h2>{_html_table(df, r.dataset)}" for k, df in r.findings.items())
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:13px}img{margin:2px}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>facelens clean: {html.escape(path_name(r.dataset))}"
            f"</title><style>{style}</style></head><body><h1>facelens clean: {html.escape(str(r.dataset))}</h1>"
            f"<p>{r.images} images in {r.identities} identity folders; {len(r.flagged)} files would be quarantined "
            f"(<code>--apply quarantine</code>).</p><h2>Counts</h2><table>{counts}</table>"
            f"<h2>Embedder</h2><table>{_rows(r.embedder)}</table><h2>Thresholds</h2>"
            f"<table>{_rows(asdict(r.thresholds))}</table>"
            f"{sections}</body></html>")
    (r.report / "index.html").write_text(page, encoding="utf-8")

