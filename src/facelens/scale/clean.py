"""Find what is wrong in a face dataset laid out as one folder per identity, and quarantine it.

`clean_dataset(DATASET, REPORT)` analyses every image with a batch engine (resumably, into
REPORT/faces.parquet), then finds:

| finding           | rule (defaults in `Thresholds`)                                                         |
|-------------------|------------------------------------------------------------------------------------------|
| unreadable        | the image could not be decoded                                                          |
| no_face           | no face detected, and the whole image, embedded as one face, is not within the same-person distance (0.6) of its folder's centre (tight crops the detector misses pass) |
| multiple_faces    | two or more faces at least `second_face_ratio` (0.6) of the largest face's height        |
| low_quality       | largest face: `Faces.quality` < 0.5, sharpness < 40 (blur), height < 40 px, abs(yaw) > 50 deg or abs(pitch) > 35 deg |
| near_duplicates   | pHash Hamming distance <= 6 of 63 bits AND embedding distance <= 0.4 (pHash alone when an image has no embedding) |
| identity_outliers | distance to the folder centre > max(median + 3 * 1.4826 * MAD, 0.6), in folders with >= 3 usable faces |
| similar_folders   | two folders whose centres are closer than 0.6 (dlib's same-person distance)              |

Sharpness is `geometry.quality.sharpness` (variance of the Laplacian at 112 x 112 grey) over the
face box: the sharp crops of the shared identity set measure 56 and up, the same crops blurred
(Gaussian, sigma 2 px) about 32, sigma 3 px about 12. `Faces.quality` alone does not separate a
blurred large face (0.53 for sigma 3 px) from a sharp profile (0.60).

Embeddings are dlib's 128-D descriptors (Euclidean distances; 0.6 is dlib's documented
same-person threshold). A folder's centre starts as the coordinate median of its usable faces
(one face, not low quality), then is the mean of those within the outlier threshold. MAD is the
median absolute deviation of the member distances; 1.4826 * MAD estimates their standard
deviation, so k = 3 flags faces three robust standard deviations out; the floor of 0.6 keeps
tight folders (MAD near 0) from flagging their own members.

`quarantine(REPORT)` moves flagged files (keeping the best of each duplicate group; similar
folders are only reported) into REPORT/quarantine/ and logs each move with its sha256 in
REPORT/quarantine.json; `undo(REPORT)` moves them back byte for byte. Nothing is deleted.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from facelens.api import Analyzer
from facelens.errors import FacelensError, InputError
from facelens.geometry.quality import sharpness
from facelens.identity.verify import distances
from facelens.io import readers, storage
from facelens.models.dlib_models import DLIB_THRESHOLD
from facelens.models.runtime import file_sha256
from facelens.scale import Finished, RunStats, run_batch

log = logging.getLogger(__name__)

FINDINGS = ("unreadable", "no_face", "multiple_faces", "low_quality", "near_duplicates", "identity_outliers",
            "similar_folders")
QUARANTINE_LOG = "quarantine.json"
THUMB = 96  # thumbnail size in the HTML report, pixels
MAX_SHOWN = 200  # rows per finding shown in the HTML report (the CSVs hold all)
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


class CleanError(FacelensError):
    """A dataset, report or quarantine log is not in the state the operation needs."""


@dataclass
class Thresholds:
    """Every threshold `clean_dataset` uses (written into the report)."""

    min_quality: float = 0.5
    min_sharpness: float = 40.0
    min_face_px: float = 40.0
    max_yaw_deg: float = 50.0
    max_pitch_deg: float = 35.0
    second_face_ratio: float = 0.6
    dup_hash_bits: int = 6
    dup_embedding: float = 0.4
    outlier_k: float = 3.0
    outlier_min: float = DLIB_THRESHOLD
    same_person: float = DLIB_THRESHOLD
    min_folder: int = 3


@dataclass
class CleanReport:
    """Findings as tables (one per name in `FINDINGS`) and where they were written."""

    dataset: Path | str  # a folder, or a URI prefix (`facelens.io.storage`)
    report: Path
    images: int
    identities: int
    findings: dict[str, pd.DataFrame]
    thresholds: Thresholds
    flagged: dict[str, list[str]] = field(default_factory=dict)  # files quarantine would move -> findings

    @property
    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.findings.items()}


# Perceptual hash.
def phash(rgb: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hash as 8 bytes: grey 32x32, 8x8 lowest frequencies without DC,
    each bit = coefficient above their median (63 bits used, the last bit is always 0)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    dct = cv2.dct(cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA))[:8, :8].flatten()[1:]
    bits = np.append(dct > np.median(dct), False)
    return np.packbits(bits)


def _bit_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances of packed hashes, broadcast over all but the last (byte) axis."""
    return _POPCOUNT[a ^ b].sum(-1, dtype=np.int32)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,8), (M,8) packed hashes -> (N,M) Hamming distances."""
    return _bit_differences(a[:, None, :], b[None, :, :])


def _flip_masks(width: int, bits: int) -> np.ndarray:
    """All `width`-bit integers with at most `bits` bits set."""
    masks = [0]
    for k in range(1, bits + 1):
        masks += [sum(1 << b for b in combo) for combo in itertools.combinations(range(width), k)]
    return np.array(masks, np.uint64)


def near_pairs(hashes: np.ndarray, radius: int, chunks: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(P, 2) index pairs i < j of (N, 8) packed 64-bit hashes at most `radius` bits apart, and
    their (P,) Hamming distances.

    Multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012): split the 64 bits into `chunks`
    parts; two hashes within `radius` bits agree within radius // chunks bits on at least one
    part (pigeonhole), so each part is looked up in a sorted table under every flip of that many
    bits, and only those candidates get the full Hamming distance. Near-linear in N for spread-out
    hashes, where comparing all pairs is quadratic.
    """
    n = len(hashes)
    codes = np.frombuffer(np.ascontiguousarray(hashes, np.uint8).tobytes(), ">u8").astype(np.uint64)
    bounds = np.linspace(0, 64, chunks + 1).astype(int)
    found = []
    for lo_bit, hi_bit in zip(bounds[:-1], bounds[1:]):
        width = int(hi_bit - lo_bit)
        keys = (codes >> np.uint64(lo_bit)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        table = keys[order]
        for mask in _flip_masks(width, radius // chunks):
            query = keys ^ mask
            start = np.searchsorted(table, query, "left")
            count = np.searchsorted(table, query, "right") - start
            if not count.any():
                continue
            i = np.repeat(np.arange(n), count)
            offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
            j = order[np.repeat(start, count) + offset]
            keep = i < j
            found.append(i[keep].astype(np.int64) * n + j[keep])
    if not found:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int32)
    flat = np.unique(np.concatenate(found))
    i, j = flat // n, flat % n
    dist = _bit_differences(hashes[i], hashes[j])
    keep = dist <= radius
    return np.stack([i[keep], j[keep]], 1), dist[keep]


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file, or an object by URI, as RGB."""
    if storage.is_uri(path):
        return readers.read_image(storage.read_bytes(str(path)), name=str(path))
    return readers.read_image(path)


def _join(dataset: Path | str, rel: str) -> Path | str:
    return storage.join(dataset, rel) if storage.is_uri(dataset) else Path(dataset) / rel


def image_signals(path: str, box: np.ndarray | None) -> tuple[np.ndarray | None, float]:
    """pHash of an image and the sharpness (`geometry.quality.sharpness`) of its face box (x1, y1, x2, y2)."""
    try:
        rgb = read_rgb(path)
    except InputError:
        return None, np.nan
    if box is None or not np.isfinite(box).all():
        return phash(rgb), np.nan
    return phash(rgb), float(sharpness(rgb, np.asarray(box, np.float64).reshape(1, 2, 2))[0])


# Listing.
def list_dataset(dataset: Path | str, exclude: Path | None = None) -> pd.DataFrame:
    """Images of a one-folder-per-identity dataset (a folder or a URI prefix): columns identity, path, rel.

    Images directly in `dataset` (no identity folder) and anything under `exclude` are skipped.
    """
    if storage.is_uri(dataset):
        return _list_remote_dataset(str(dataset))
    if not dataset.is_dir():
        raise InputError(f"{dataset}: not a folder")
    rows = []
    skip = exclude.resolve() if exclude else None
    for folder in sorted(p for p in dataset.iterdir() if p.is_dir()):
        if skip and folder.resolve() == skip:
            continue
        for path in readers.list_inputs([folder]):
            if readers.is_video(path) or (skip and skip in path.resolve().parents):
                continue
            rows.append((folder.name, str(path), path.relative_to(dataset).as_posix()))
    loose = [p for p in dataset.iterdir() if p.is_file() and p.suffix.lower() in readers.IMAGE_EXTS]
    if loose:
        log.warning("%s: %d image(s) outside identity folders are not checked", dataset, len(loose))
    return pd.DataFrame(rows, columns=["identity", "path", "rel"])


def _list_remote_dataset(prefix: str) -> pd.DataFrame:
    prefix = storage.public(prefix).rstrip("/") + "/"
    rels = [uri[len(prefix):] for uri in storage.list_files(prefix, readers.IMAGE_EXTS)]
    loose = [r for r in rels if "/" not in r]
    if loose:
        log.warning("%s: %d image(s) outside identity folders are not checked", prefix, len(loose))
    rows = [(rel.split("/", 1)[0], prefix + rel, rel) for rel in rels if "/" in rel]
    return pd.DataFrame(rows, columns=["identity", "path", "rel"])


# Analysis.
def _analyse(images: pd.DataFrame, report: Path, engine: str, workers: int | None, address: str | None,
             on_start: Callable[[RunStats], None] | None,
             on_file: Callable[[Finished, RunStats], None] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Face rows of every image, and whole-image embeddings of images with no face detected."""
    kw = dict(engine=engine, workers=workers, address=address, on_start=on_start, on_file=on_file)
    paths = images.path.tolist()
    run_batch(Analyzer("identity,quality,pose"), paths, report / "faces.parquet", **kw)
    faces = _rows(report / "faces.parquet", paths)
    seen = set(faces.file[(faces.success == 1) | faces.error.notna()])
    missing = [p for p in paths if p not in seen]
    whole = pd.DataFrame(columns=["file", "embedding"])
    if missing:
        run_batch(Analyzer("identity", detect=False), missing, report / "whole_image.parquet", **kw)
        whole = _rows(report / "whole_image.parquet", missing)
    return faces, whole


def _rows(out: Path, paths: list[str]) -> pd.DataFrame:
    df = pq.read_table(out).to_pandas()
    return df[df.file.isin(set(paths))].reset_index(drop=True)


def _per_image(images: pd.DataFrame, faces: pd.DataFrame, whole: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """One row per image: faces counted, largest face's quality/size/pose/embedding, whole-image embedding."""
    out = images.copy()
    ok = faces[faces.success == 1]
    errors = faces.dropna(subset=["error"]).groupby("file").error.first()
    out["error"] = out.path.map(errors)
    largest = ok.loc[ok.groupby("file").face_h.idxmax()].set_index("file") if len(ok) else ok.set_index("file")
    big = ok.face_h >= th.second_face_ratio * ok.file.map(largest.face_h)
    out["faces"] = out.path.map(ok[big].groupby("file").size()).fillna(0).astype(int)
    for col in ("quality", "face_x", "face_y", "face_w", "face_h", "pose_Rx", "pose_Ry"):
        out[col] = out.path.map(largest[col]).astype(float)
    wholes = whole.set_index("file").embedding if len(whole) else pd.Series(dtype=object)
    out["embedding"] = _arrays(out.path.map(largest.embedding))
    out["whole_image"] = _arrays(out.path.map(wholes))
    return out


def _arrays(values: pd.Series) -> list[np.ndarray | None]:
    """Vectors as float64 arrays, missing ones as None (pandas maps them to NaN)."""
    return [np.asarray(v, np.float64) if isinstance(v, (np.ndarray, list)) else None for v in values]


def _low_quality_reasons(row: pd.Series, th: Thresholds) -> str:
    reasons = []
    if row.quality < th.min_quality:
        reasons.append(f"quality {row.quality:.2f}")
    if row.sharpness < th.min_sharpness:
        reasons.append(f"blur: sharpness {row.sharpness:.0f}")
    if row.face_h < th.min_face_px:
        reasons.append(f"face {row.face_h:.0f} px")
    if abs(np.degrees(row.pose_Ry)) > th.max_yaw_deg:
        reasons.append(f"yaw {np.degrees(row.pose_Ry):.0f} deg")
    if abs(np.degrees(row.pose_Rx)) > th.max_pitch_deg:
        reasons.append(f"pitch {np.degrees(row.pose_Rx):.0f} deg")
    return ", ".join(reasons)


def _centres(img: pd.DataFrame, th: Thresholds) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Robust identity centres per folder, and every face's distance to its folder's centre."""
    centres: dict[str, np.ndarray] = {}
    rows = []
    usable = img[(img.faces == 1) & (img.low_quality == "") & img.embedding.notna()]
    for identity, members in usable.groupby("identity"):
        emb = np.stack(members.embedding.to_numpy())
        if len(emb) < th.min_folder:
            centres[identity] = emb.mean(0)
            continue
        d = distances(emb, np.median(emb, 0)[None])[:, 0]
        mad = float(np.median(np.abs(d - np.median(d))))
        limit = max(float(np.median(d)) + th.outlier_k * 1.4826 * mad, th.outlier_min)
        centres[identity] = emb[d <= limit].mean(0)
        rows.append((identity, limit))
    limits = dict(rows)
    scored = img[img.embedding.notna() & img.identity.isin(limits)].copy()
    scored["distance"] = [float(distances(e[None], centres[i][None])[0, 0]) for e, i in zip(scored.embedding, scored.identity)]
    scored["threshold"] = scored.identity.map(limits)
    return centres, scored


def _duplicates(img: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Pairs of images within `dup_hash_bits` pHash bits, confirmed by embedding distance."""
    have = img[img.phash.notna()].reset_index(drop=True)
    if len(have) < 2:
        return pd.DataFrame(columns=["path_a", "path_b", "hash_bits", "embedding_distance"])
    hashes = np.stack(have.phash.to_numpy())
    pairs = []
    index, bits = near_pairs(hashes, th.dup_hash_bits)
    for (i, j), b in zip(index.tolist(), bits.tolist()):
        ea, eb = have.embedding[i], have.embedding[j]
        dist = float(distances(ea[None], eb[None])[0, 0]) if ea is not None and eb is not None else np.nan
        if np.isnan(dist) or dist <= th.dup_embedding:
            pairs.append((have.rel[i], have.rel[j], b, dist))
    return pd.DataFrame(pairs, columns=["path_a", "path_b", "hash_bits", "embedding_distance"])


def _duplicate_losers(pairs: pd.DataFrame, img: pd.DataFrame) -> set[str]:
    """In each group of near-duplicates keep the best (quality, then path order); the rest go."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in zip(pairs.path_a, pairs.path_b):
        parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    quality = img.set_index("rel").quality.fillna(-1.0)
    losers = set()
    for members in groups.values():
        keep = sorted(members, key=lambda r: (-quality.get(r, -1.0), r))[0]
        losers |= set(members) - {keep}
    return losers


def _with_signals(img: pd.DataFrame) -> pd.DataFrame:
    """Add pHash and face sharpness columns (images decoded again, on threads)."""
    boxes = [None if np.isnan(x) else np.array([x, y, x + w, y + h])
             for x, y, w, h in zip(img.face_x, img.face_y, img.face_w, img.face_h)]
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        signals = list(pool.map(image_signals, img.path, boxes))
    return img.assign(phash=[h for h, _ in signals], sharpness=[v for _, v in signals])


def find_problems(img: pd.DataFrame, th: Thresholds) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]]]:
    """Every finding table from the per-image table, and the dataset-relative paths a quarantine
    would move with their findings."""
    detected = img.faces > 0
    img["low_quality"] = [_low_quality_reasons(r, th) if d else "" for d, (_, r) in zip(detected, img.iterrows())]
    centres, scored = _centres(img, th)
    out: dict[str, pd.DataFrame] = {}
    out["unreadable"] = img.loc[img.error.notna(), ["identity", "rel", "error"]]
    nf = img[~detected & img.error.isna()].copy()
    nf["whole_image_distance"] = [
        float(distances(e[None], centres[i][None])[0, 0]) if e is not None and i in centres else np.nan
        for e, i in zip(nf.whole_image, nf.identity)]
    out["no_face"] = nf.loc[~(nf.whole_image_distance < th.same_person), ["identity", "rel", "whole_image_distance"]]
    out["multiple_faces"] = img.loc[img.faces >= 2, ["identity", "rel", "faces"]]
    out["low_quality"] = img.loc[img.low_quality != "", ["identity", "rel", "low_quality", "quality", "sharpness", "face_h"]].rename(
        columns={"low_quality": "reasons"})
    out["near_duplicates"] = _duplicates(img, th)
    out["identity_outliers"] = scored.loc[scored.distance > scored.threshold, ["identity", "rel", "distance", "threshold"]]
    names = sorted(centres)
    pairs = []
    if names:
        d = distances(np.stack([centres[n] for n in names]), np.stack([centres[n] for n in names]))
        counts = img[img.embedding.notna()].groupby("identity").size()
        pairs = [(names[i], names[j], float(d[i, j]), int(counts[names[i]]), int(counts[names[j]]))
                 for i in range(len(names)) for j in range(i + 1, len(names)) if d[i, j] < th.same_person]
    out["similar_folders"] = pd.DataFrame(pairs, columns=["identity_a", "identity_b", "centre_distance", "faces_a", "faces_b"])
    flagged: dict[str, list[str]] = {}
    for name in ("unreadable", "no_face", "multiple_faces", "low_quality", "identity_outliers"):
        for rel in out[name].rel:
            flagged.setdefault(rel, []).append(name)
    for rel in _duplicate_losers(out["near_duplicates"], img):
        flagged.setdefault(rel, []).append("near_duplicates")
    return {k: v.reset_index(drop=True) for k, v in out.items()}, dict(sorted(flagged.items()))


def clean_dataset(dataset: str | Path, report: str | Path, *, engine: str = "local", workers: int | None = None,
                  address: str | None = None, thresholds: Thresholds | None = None,
                  on_start: Callable[[RunStats], None] | None = None,
                  on_file: Callable[[Finished, RunStats], None] | None = None) -> CleanReport:
    """Analyse `dataset` (one folder per identity) and write CSVs, summary.json and index.html to `report`.

    The analysis is resumable: REPORT/faces.parquet keeps a manifest, so a re-run only analyses
    new images. `engine`, `workers` and `address` are those of `facelens.scale.run_batch`.
    """
    dataset, report = (dataset if storage.is_uri(dataset) else Path(dataset)), Path(report)
    th = thresholds or Thresholds()
    images = list_dataset(dataset, exclude=report)
    if images.empty:
        raise InputError(f"{dataset}: no images in identity folders (expected DATASET/<identity>/<image>)")
    report.mkdir(parents=True, exist_ok=True)
    if engine == "ray":
        from facelens.scale.ray_engine import ray_runtime

        with ray_runtime(address, workers):
            faces, whole = _analyse(images, report, engine, workers, address, on_start, on_file)
    else:
        faces, whole = _analyse(images, report, engine, workers, address, on_start, on_file)
    img = _with_signals(_per_image(images, faces, whole, th))
    findings, flagged = find_problems(img, th)
    result = CleanReport(dataset, report, len(images), images.identity.nunique(), findings, th, flagged)
    _write_report(result)
    return result


# Report files.
def _thumb(path: Path | str) -> str:
    try:
        rgb = read_rgb(path)
    except InputError:
        return ""
    scale = THUMB / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=min(1.0, scale), fy=min(1.0, scale), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    src = "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""
    return f'<img src="{src}" alt="{html.escape(_name(path))}" title="{html.escape(str(path))}">'


def _name(path: Path | str) -> str:
    return storage.name(path) if storage.is_uri(path) else Path(path).name


def _folder_files(folder: Path | str) -> list[Path | str]:
    if storage.is_uri(folder):
        return list(storage.list_files(str(folder), readers.IMAGE_EXTS))
    return sorted(p for p in Path(folder).glob("*") if p.is_file())


def _html_table(df: pd.DataFrame, dataset: Path | str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.head(MAX_SHOWN).iterrows():
        cells = []
        for c, v in row.items():
            if c in ("rel", "path_a", "path_b"):
                cells.append(f"<td>{_thumb(_join(dataset, v))}<br>{html.escape(str(v))}</td>")
            elif c in ("identity_a", "identity_b"):
                thumbs = "".join(_thumb(p) for p in _folder_files(_join(dataset, v))[:3])
                cells.append(f"<td>{thumbs}<br>{html.escape(str(v))}</td>")
            else:
                cells.append(f"<td>{html.escape(f'{v:.3f}' if isinstance(v, float) else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>{len(df) - MAX_SHOWN} more in the CSV.</p>" if len(df) > MAX_SHOWN else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _write_report(r: CleanReport) -> None:
    for name, df in r.findings.items():
        df.to_csv(r.report / f"{name}.csv", index=False)
    pd.DataFrame([(rel, ";".join(why)) for rel, why in r.flagged.items()], columns=["rel", "findings"]).to_csv(
        r.report / "flagged.csv", index=False)
    where = r.dataset if storage.is_uri(r.dataset) else str(Path(r.dataset).resolve())
    summary = {"dataset": where, "images": r.images, "identities": r.identities,
               "counts": r.counts, "flagged_files": len(r.flagged), "thresholds": asdict(r.thresholds)}
    (r.report / "summary.json").write_text(json.dumps(summary, indent=2))
    counts = "".join(f"<tr><td><a href='#{k}'>{k}</a></td><td>{v}</td></tr>" for k, v in r.counts.items())
    thresholds = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in asdict(r.thresholds).items())
    sections = "".join(f"<h2 id='{k}'>{k} ({len(df)})</h2>{_html_table(df, r.dataset)}" for k, df in r.findings.items())
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:13px}img{margin:2px}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>facelens clean: {html.escape(_name(r.dataset))}"
            f"</title><style>{style}</style></head><body><h1>facelens clean: {html.escape(str(r.dataset))}</h1>"
            f"<p>{r.images} images in {r.identities} identity folders; {len(r.flagged)} files would be quarantined "
            f"(<code>--apply quarantine</code>).</p><h2>Counts</h2><table>{counts}</table>"
            f"<h2>Thresholds</h2><table>{thresholds}</table>{sections}</body></html>")
    (r.report / "index.html").write_text(page, encoding="utf-8")


# Quarantine.
def check_no_quarantine(report: Path) -> None:
    """Raise `CleanError` while an earlier quarantine of this report is in place."""
    if (report / QUARANTINE_LOG).exists():
        raise CleanError(f"{report / QUARANTINE_LOG} records a quarantine still in place; "
                         f"run `facelens clean --undo {report}` first")


def quarantine(result: CleanReport) -> list[dict[str, Any]]:
    """Move every flagged file to REPORT/quarantine/<same relative path>; log the moves.

    Refuses while an earlier quarantine of this report is still in place (undo it first).
    """
    if storage.is_uri(result.dataset):
        raise CleanError(f"{result.dataset}: quarantine moves files of a local dataset; this one is in object storage "
                         "(the report lists what to move)")
    check_no_quarantine(result.report)
    moves = []
    for rel, reasons in result.flagged.items():
        moves.append({"path": rel, "quarantined": f"quarantine/{rel}", "sha256": file_sha256(result.dataset / rel),
                      "reasons": reasons})
    entry = {"dataset": str(result.dataset.resolve()), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "moves": moves}
    (result.report / QUARANTINE_LOG).write_text(json.dumps(entry, indent=2))
    for move in moves:
        dst = result.report / move["quarantined"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(result.dataset / move["path"], dst)
    return moves


def undo(report: str | Path) -> int:
    """Move every quarantined file back where it was (checked by sha256); returns how many.

    The log is kept, renamed quarantine.undone-<time>.json, and emptied quarantine folders removed.
    """
    report = Path(report)
    log_path = report / QUARANTINE_LOG
    if not log_path.exists():
        raise CleanError(f"{report}: no {QUARANTINE_LOG}; nothing to undo")
    entry = json.loads(log_path.read_text())
    dataset = Path(entry["dataset"])
    for move in entry["moves"]:
        src, dst = report / move["quarantined"], dataset / move["path"]
        if dst.exists():
            raise CleanError(f"{dst} exists again; move it away, then undo")
        if not src.exists() or file_sha256(src) != move["sha256"]:
            raise CleanError(f"{src} is missing or changed since it was quarantined")
    for move in entry["moves"]:
        dst = dataset / move["path"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(report / move["quarantined"], dst)
    log_path.rename(report / f"quarantine.undone-{time.strftime('%Y%m%dT%H%M%S')}.json")
    for folder in sorted((report / "quarantine").rglob("*"), key=lambda p: -len(p.parts)) + [report / "quarantine"]:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return len(entry["moves"])
