"""Identity-consistency report of a (generated or edited) video against reference images.

Embedding: dlib's 128-D ResNet face descriptor (`dlib_face_recognition_resnet_model_v1`, the
Analyzer's "identity" feature). For every tracked face in every analysed frame the report gives
the cosine similarity to the mean reference descriptor (FaceSim-style; same person above
`COSINE_THRESHOLD` = 0.92) and the Euclidean distance to it (same person below dlib's 0.6),
the frame-to-frame drift of each track's descriptor (Euclidean distance between consecutive
analysed frames), and the share of face-frames judged not the same person. Descriptors are
computed on every analysed frame, by the video tracker (`embed_every=1`) that gives the tracks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelens.api import Analyzer, Source
from facelens.errors import InputError
from facelens.identity.verify import COSINE_THRESHOLD, EMBEDDING_MODEL, THRESHOLD, cosine, distances, embed

log = logging.getLogger(__name__)


@dataclass
class Consistency:
    """Per face-frame arrays of one video (face axis first) and the reference."""

    video: str
    frames: np.ndarray  # (N,) frame index
    timestamps: np.ndarray  # (N,) seconds
    track_ids: np.ndarray  # (N,)
    similarity: np.ndarray  # (N,) cosine to the mean reference descriptor
    distance: np.ndarray  # (N,) Euclidean distance to it
    drift: np.ndarray  # (N,) Euclidean distance to the same track's previous face-frame (NaN first)
    references: list[str]
    frames_analysed: int

    def summary(self) -> dict:
        """Summary figures: overall and per track."""
        def stats(m: np.ndarray) -> dict:
            drift = self.drift[m][np.isfinite(self.drift[m])]
            return {
                "face_frames": int(m.sum()),
                "mean_similarity": _r(self.similarity[m].mean()) if m.any() else None,
                "min_similarity": _r(self.similarity[m].min()) if m.any() else None,
                "mean_distance": _r(self.distance[m].mean()) if m.any() else None,
                "max_distance": _r(self.distance[m].max()) if m.any() else None,
                "share_below_similarity_threshold": _r((self.similarity[m] < COSINE_THRESHOLD).mean()) if m.any() else None,
                "share_not_same_by_distance": _r((self.distance[m] >= THRESHOLD).mean()) if m.any() else None,
                "mean_drift": _r(drift.mean()) if len(drift) else None,
                "max_drift": _r(drift.max()) if len(drift) else None,
            }

        everything = np.ones(len(self.frames), bool)
        return {
            "video": self.video, "references": self.references,
            "embedding": f"{EMBEDDING_MODEL} (dlib 128-D ResNet descriptor)",
            "similarity": "cosine to the mean reference descriptor", "distance": "Euclidean to it",
            "cosine_threshold": COSINE_THRESHOLD, "distance_threshold": THRESHOLD,
            "frames_analysed": self.frames_analysed,
            "frames_with_face": int(len(np.unique(self.frames))),
            **stats(everything),
            "tracks": {str(t): stats(self.track_ids == t) for t in np.unique(self.track_ids).tolist()},
        }


def _r(x: float) -> float:
    return round(float(x), 4)


def reference_embedding(refs: list[Source]) -> np.ndarray:
    """Mean descriptor of the largest face in each reference image."""
    analyzer = Analyzer("identity", max_faces=1)
    embs = [embed(r, analyzer=analyzer).faces.embedding[0] for r in refs]
    if not embs:
        raise InputError("no reference image given")
    return np.mean(embs, 0)


def consistency(video: str | Path, refs: list[Source], every: int = 1) -> Consistency:
    """Compare every tracked face in `video` (every `every`-th frame) with the reference identity.

    Faces, track ids and descriptors come from one pass of `Analyzer.video` with `embed_every=1`:
    each face's descriptor is computed on its own frame (by default the tracker refreshes a track's
    descriptor only every few seconds and copies it in between).
    """
    ref = reference_embedding(refs)[None]
    analyzer = Analyzer("identity")
    rows: list[tuple[int, float, int, np.ndarray]] = []
    analysed = 0
    for result in analyzer.video(video, every=every, embed_every=1):
        if result.error:  # e.g. a video shorter than its header says: keep the frames read so far
            log.warning("%s", result.error)
            if analysed == 0:
                raise InputError(result.error)
            continue
        analysed += 1
        f = result.faces
        if len(f) == 0:
            continue
        for t, e in zip(f.track_id.tolist(), f.embedding):
            if np.isfinite(e).all():
                rows.append((result.frame, result.timestamp, int(t), e))
    if not rows:
        empty = np.zeros(0)
        return Consistency(str(video), empty.astype(int), empty, empty.astype(int), empty, empty, empty,
                           [str(r) for r in refs], analysed)
    emb = np.stack([r[3] for r in rows])
    tracks = np.array([r[2] for r in rows])
    drift = np.full(len(rows), np.nan)
    last: dict[int, int] = {}
    for i, t in enumerate(tracks.tolist()):
        if t in last:
            drift[i] = float(np.linalg.norm(emb[i] - emb[last[t]]))
        last[t] = i
    return Consistency(str(video), np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), tracks,
                       cosine(emb, ref)[:, 0], distances(emb, ref)[:, 0], drift, [str(r) for r in refs], analysed)


def write_report(report: Consistency, folder: Path) -> dict:
    """Write summary.json, frames.csv and similarity.png into `folder`; returns the summary."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    summary = report.summary()
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    with open(folder / "frames.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "timestamp", "track_id", "similarity", "distance", "drift"])
        for i in range(len(report.frames)):
            w.writerow([int(report.frames[i]), f"{report.timestamps[i]:.3f}", int(report.track_ids[i]),
                        f"{report.similarity[i]:.4f}", f"{report.distance[i]:.4f}",
                        "" if not np.isfinite(report.drift[i]) else f"{report.drift[i]:.4f}"])
    plot(report, folder / "similarity.png")
    return summary


def plot(report: Consistency, path: Path) -> None:
    """Similarity and distance over time per track, with both thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    for t in np.unique(report.track_ids).tolist():
        m = report.track_ids == t
        a1.plot(report.timestamps[m], report.similarity[m], ".-", label=f"track {t}")
        a2.plot(report.timestamps[m], report.distance[m], ".-", label=f"track {t}")
    a1.axhline(COSINE_THRESHOLD, color="r", ls="--", label=f"threshold {COSINE_THRESHOLD}")
    a2.axhline(THRESHOLD, color="r", ls="--", label=f"threshold {THRESHOLD}")
    a1.set_ylabel("cosine similarity")
    a2.set_ylabel("dlib distance")
    a2.set_xlabel("time (s)")
    a1.set_title(f"identity consistency of {Path(report.video).name} ({EMBEDDING_MODEL})")
    a1.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
