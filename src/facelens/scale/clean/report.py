"""The report files of a clean run: one CSV per finding, flagged.csv, summary.json and index.html."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from facelens.io import storage
from facelens.scale.clean.paths import join, path_name
from facelens.scale.clean.rules import CleanReport

MAX_SHOWN = 200  # rows per finding shown in the HTML report (the CSVs hold all)
FOLDER_SHOWN = 3  # images shown for each folder of a similar-folders pair
PATH_COLUMNS = ("rel", "path_a", "path_b")
FOLDER_COLUMNS = ("identity_a", "identity_b")


def _samples(images: pd.DataFrame) -> dict[str, list[str]]:
    """The first `FOLDER_SHOWN` images (dataset-relative paths) of each identity folder."""
    return {identity: sorted(rels)[:FOLDER_SHOWN] for identity, rels in images.groupby("identity").rel}


def shown_images(findings: Mapping[str, pd.DataFrame], images: pd.DataFrame) -> set[str]:
    """Dataset-relative paths of every image the HTML report shows a thumbnail of: those in the
    first `MAX_SHOWN` rows of each finding, and the samples of each similar folder."""
    samples = _samples(images)
    shown: set[str] = set()
    for df in findings.values():
        head = df.head(MAX_SHOWN)
        for c in head.columns:
            if c in PATH_COLUMNS:
                shown.update(head[c])
            elif c in FOLDER_COLUMNS:
                shown.update(r for identity in head[c] for r in samples.get(identity, []))
    return shown


def _thumb(jpeg: bytes | None, path: Path | str) -> str:
    if not jpeg:
        return ""
    src = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    return f'<img src="{src}" alt="{html.escape(path_name(path))}" title="{html.escape(str(path))}">'


def _html_table(df: pd.DataFrame, dataset: Path | str, samples: dict[str, list[str]], thumbs: Mapping[str, bytes]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.head(MAX_SHOWN).iterrows():
        cells = []
        for c, v in row.items():
            if c in PATH_COLUMNS:
                cells.append(f"<td>{_thumb(thumbs.get(v), join(dataset, v))}<br>{html.escape(str(v))}</td>")
            elif c in FOLDER_COLUMNS:
                shown = "".join(_thumb(thumbs.get(r), join(dataset, r)) for r in samples.get(v, []))
                cells.append(f"<td>{shown}<br>{html.escape(str(v))}</td>")
            else:
                cells.append(f"<td>{html.escape(f'{v:.3f}' if isinstance(v, float) else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>{len(df) - MAX_SHOWN} more in the CSV.</p>" if len(df) > MAX_SHOWN else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _rows(values: dict) -> str:
    """Name/value table rows."""
    return "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in values.items())


def write_report(r: CleanReport, images: pd.DataFrame, thumbs: Mapping[str, bytes]) -> None:
    """Write the report files of `r`; `images` is the dataset listing (identity, rel) and `thumbs`
    the JPEG thumbnails by dataset-relative path (`signals.thumbnail`, made on the workers) of at
    least the images `shown_images` names."""
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
    samples = _samples(images)
    sections = "".join(f"<h2 id='{k}'>{k} ({len(df)})</h2>{_html_table(df, r.dataset, samples, thumbs)}"
                       for k, df in r.findings.items())
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

