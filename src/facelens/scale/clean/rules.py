"""The finding rules: thresholds, per-folder identity centres, duplicates, and what a quarantine would move."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facelens.identity.verify import distances
from facelens.models.dlib_models import DLIB_THRESHOLD
from facelens.scale.clean.hashing import near_pairs

FINDINGS = ("unreadable", "no_face", "multiple_faces", "low_quality", "near_duplicates", "identity_outliers",
            "similar_folders")
DUPLICATE_COLUMNS = ["path_a", "path_b", "hash_bits", "embedding_distance", "across_identities"]


# A near-duplicate's embedding distance as a fraction of the same-person distance: dlib's 0.4 of
# 0.6, carried over to other embedders (a ratio, not a figure measured for them).
DUPLICATE_FRACTION = 0.4 / DLIB_THRESHOLD


@dataclass
class Thresholds:
    """Every threshold `clean_dataset` uses (written into the report); the distances are dlib's
    (`Thresholds.following` gives another embedder's)."""

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

    @classmethod
    def following(cls, same_person: float) -> Thresholds:
        """The thresholds of an embedder whose same-person distance is `same_person`: the outlier
        floor and the similar-folder distance are that distance, the near-duplicate distance is
        `DUPLICATE_FRACTION` of it (dlib's 0.6 gives exactly the defaults)."""
        return cls(dup_embedding=DUPLICATE_FRACTION * same_person, outlier_min=same_person, same_person=same_person)


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
    embedder: dict[str, Any] = field(default_factory=dict)  # what made the embeddings (`embedder_record`)

    @property
    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.findings.items()}


def embedder_record(embedder: Any) -> dict[str, Any]:
    """Name, weights' sha256 and same-person thresholds (cosine, distance) of an analyzer's embedder."""
    return {"name": embedder.name, "sha256": embedder.sha256, "cosine_threshold": embedder.cosine_threshold,
            "distance_threshold": embedder.threshold}


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
    scored["distance"] = np.array([float(distances(e[None], centres[i][None])[0, 0])
                                   for e, i in zip(scored.embedding, scored.identity)], np.float64)
    scored["threshold"] = scored.identity.map(limits).astype(np.float64)  # float even when no folder is scored
    return centres, scored


def _duplicates(img: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Pairs of images within `dup_hash_bits` pHash bits, confirmed by embedding distance."""
    have = img[img.phash.notna()].reset_index(drop=True)
    if len(have) < 2:
        return pd.DataFrame(columns=DUPLICATE_COLUMNS)
    hashes = np.stack(have.phash.to_numpy())
    pairs = []
    index, bits = near_pairs(hashes, th.dup_hash_bits)
    for (i, j), b in zip(index.tolist(), bits.tolist()):
        ea, eb = have.embedding[i], have.embedding[j]
        dist = float(distances(ea[None], eb[None])[0, 0]) if ea is not None and eb is not None else np.nan
        if np.isnan(dist) or dist <= th.dup_embedding:
            pairs.append((have.rel[i], have.rel[j], b, dist, have.identity[i] != have.identity[j]))
    return pd.DataFrame(pairs, columns=DUPLICATE_COLUMNS)


def _duplicate_groups(pairs: pd.DataFrame) -> list[list[str]]:
    """Connected groups of the near-duplicate pairs (union-find over the paths)."""
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
    return list(groups.values())


def _settle_duplicates(groups: list[list[str]], img: pd.DataFrame, scored: pd.DataFrame,
                       flagged: dict[str, list[str]]) -> None:
    """Update `flagged` for each near-duplicate group, in place.

    Within one folder the best copy stays (quality, then path order) and the rest go. A group
    spanning folders holds one picture under several names, so at most one copy goes: the one
    that disagrees with its folder (an identity outlier, the farthest beyond its threshold); the
    others stay in place, and the pair is left in near_duplicates.csv (across_identities) to review.
    """
    quality = img.set_index("rel").quality.fillna(-1.0)
    identity = img.set_index("rel").identity
    excess = (scored.distance / scored.threshold).set_axis(scored.rel)
    for members in groups:
        if identity.reindex(members).nunique() <= 1:
            keep = sorted(members, key=lambda r: (-quality.get(r, -1.0), r))[0]
            for rel in sorted(set(members) - {keep}):
                flagged.setdefault(rel, []).append("near_duplicates")
            continue
        worst = max(members, key=lambda r: (excess.get(r, 0.0), r))
        for rel in members:
            if rel != worst or excess.get(rel, 0.0) <= 1.0:
                flagged.pop(rel, None)


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
    _settle_duplicates(_duplicate_groups(out["near_duplicates"]), img, scored, flagged)
    return {k: v.reset_index(drop=True) for k, v in out.items()}, dict(sorted(flagged.items()))


