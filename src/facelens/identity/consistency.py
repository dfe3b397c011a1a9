"""Identity-consistency report of a (generated or edited) video against reference images.

Embedding: the Analyzer's identity embedder, dlib's 128-D ResNet descriptor by default
(`dlib_face_recognition_resnet_model_v1`) or a user-supplied ONNX model (`EmbedderSpec`). For
every tracked face in every analysed frame the report gives the cosine similarity to the mean
reference embedding (same person above the embedder's cosine threshold, 0.92 for dlib) and the
Euclidean distance to it (same person below the embedder's distance threshold, dlib's 0.6), the
frame-to-frame drift of each track's embedding (Euclidean distance between consecutive analysed
frames), and the share of face-frames judged not the same person. Embeddings are computed on
every analysed frame, by the video tracker (`embed_every=1`) that gives the tracks.

`facesim` adds the FaceSim metric as ConsisID's released evaluation code computes it
(`eval/get_facesim_fid.py`; FaceSim-Arc with an ArcFace model, FaceSim-Cur with CurricularFace):
16 frames sampled evenly over the declared frame count (`linspace(0, n - 1, 16)`), in each the
largest face (by box area; when none is found, again on the frame padded by 25% a side with grey),
the cosine similarity of its embedding to the reference's clipped at 0, and the mean over the
sampled frames that have a face (0.0 when none has). The reference is the largest face of the
first reference image. Where it may differ from a paper's number: facelens finds the face and its
5 points with BlazeFace and the face mesh, not InsightFace's SCRFD, so crops differ by a few pixels.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facelens.api import Analyzer, Source
from facelens.errors import InputError
from facelens.identity.verify import cosine, distances, embed, read_one
from facelens.io import readers
from facelens.models.embedder import EmbedderSpec

FACESIM_FRAMES = 16  # frames ConsisID's evaluation samples per video
FACESIM_PAD = 0.25  # its retry: the frame padded by this share of its size a side, grey (128)

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
    model: str  # embedder name (weights' source and sha256 prefix)
    cosine_threshold: float
    distance_threshold: float

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
                "share_below_similarity_threshold": _r((self.similarity[m] < self.cosine_threshold).mean()) if m.any() else None,
                "share_not_same_by_distance": _r((self.distance[m] >= self.distance_threshold).mean()) if m.any() else None,
                "mean_drift": _r(drift.mean()) if len(drift) else None,
                "max_drift": _r(drift.max()) if len(drift) else None,
            }

        everything = np.ones(len(self.frames), bool)
        return {
            "video": self.video, "references": self.references,
            "embedding": self.model,
            "similarity": "cosine to the mean reference embedding", "distance": "Euclidean to it",
            "cosine_threshold": self.cosine_threshold, "distance_threshold": self.distance_threshold,
            "frames_analysed": self.frames_analysed,
            "frames_with_face": int(len(np.unique(self.frames))),
            **stats(everything),
            "tracks": {str(t): stats(self.track_ids == t) for t in np.unique(self.track_ids).tolist()},
        }


def _r(x: float) -> float:
    return round(float(x), 4)


def reference_embedding(refs: list[Source], embedder: EmbedderSpec | None = None) -> np.ndarray:
    """Mean embedding of the largest face in each reference image."""
    analyzer = Analyzer("identity", max_faces=1, embedder=embedder)
    embs = [embed(r, analyzer=analyzer, whole_if_none=True).faces.embedding[0] for r in refs]
    if not embs:
        raise InputError("no reference image given")
    return np.mean(embs, 0)


def consistency(video: str | Path, refs: list[Source], every: int = 1,
                embedder: EmbedderSpec | None = None) -> Consistency:
    """Compare every tracked face in `video` (every `every`-th frame) with the reference identity.

    Faces, track ids and embeddings come from one pass of `Analyzer.video` with `embed_every=1`:
    each face's embedding is computed on its own frame (by default the tracker refreshes a track's
    embedding only every few seconds and copies it in between). `embedder`: a user-supplied ONNX
    model instead of dlib's descriptor.
    """
    ref = reference_embedding(refs, embedder)[None]
    analyzer = Analyzer("identity", embedder=embedder)
    e = analyzer.embedder
    tag = (f"{e.name} ({e.version})", e.cosine_threshold, e.threshold)
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
                           [str(r) for r in refs], analysed, *tag)
    emb = np.stack([r[3] for r in rows])
    tracks = np.array([r[2] for r in rows])
    drift = np.full(len(rows), np.nan)
    last: dict[int, int] = {}
    for i, t in enumerate(tracks.tolist()):
        if t in last:
            drift[i] = float(np.linalg.norm(emb[i] - emb[last[t]]))
        last[t] = i
    return Consistency(str(video), np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), tracks,
                       cosine(emb, ref)[:, 0], distances(emb, ref)[:, 0], drift, [str(r) for r in refs], analysed, *tag)


@dataclass
class FaceSim:
    """FaceSim of one video by ConsisID's protocol (see the module docstring)."""

    video: str
    reference: str
    model: str
    frames: np.ndarray  # (16,) sampled frame indices
    similarity: np.ndarray  # (16,) clipped cosine similarity of the frame's largest face; NaN: no face

    @property
    def score(self) -> float:
        """Mean over the sampled frames with a face; 0.0 when none has one (as ConsisID)."""
        found = self.similarity[np.isfinite(self.similarity)]
        return float(found.mean()) if len(found) else 0.0

    def summary(self) -> dict:
        found = np.isfinite(self.similarity)
        return {"protocol": "ConsisID eval/get_facesim_fid.py", "embedding": self.model, "reference": self.reference,
                "facesim": _r(self.score), "frames_sampled": int(len(self.frames)), "frames_with_face": int(found.sum()),
                "per_frame": [{"frame": int(f), "similarity": _r(s) if np.isfinite(s) else None}
                              for f, s in zip(self.frames.tolist(), self.similarity.tolist())]}


def largest_face_embedding(analyzer: Analyzer, rgb: np.ndarray) -> np.ndarray | None:
    """Embedding of the largest detected face of `rgb`, retried on a grey-padded copy; None if no face."""
    faces = analyzer.faces(rgb)
    if len(faces) == 0:
        h, w = rgb.shape[:2]
        py, px = int(h * FACESIM_PAD), int(w * FACESIM_PAD)
        faces = analyzer.faces(cv2.copyMakeBorder(rgb, py, py, px, px, cv2.BORDER_CONSTANT, value=(128, 128, 128)))
    if len(faces) == 0:
        return None
    return faces.embedding[faces.largest()]


def facesim(video: str | Path, ref: Source, embedder: EmbedderSpec | None = None,
            frames: int = FACESIM_FRAMES) -> FaceSim:
    """FaceSim of `video` against the largest face of `ref` (ConsisID's protocol; with an ArcFace
    `embedder` this is FaceSim-Arc, with CurricularFace FaceSim-Cur)."""
    analyzer = Analyzer("identity", embedder=embedder)
    name, rgb = read_one(ref)
    ref_emb = largest_face_embedding(analyzer, rgb)
    if ref_emb is None:
        raise InputError(f"{name}: no face in the reference image")
    count = readers.video_info(video).frames
    if count <= 0:
        raise InputError(f"{video}: the container declares no frame count")
    wanted = np.linspace(0, count - 1, frames).astype(int)
    sims = np.full(len(wanted), np.nan)
    for frame in readers.read_video(video):
        for k in np.flatnonzero(wanted == frame.index):
            emb = largest_face_embedding(analyzer, frame.rgb)
            if emb is not None:
                sims[k] = max(0.0, float(cosine(emb[None], ref_emb[None])[0, 0]))
        if frame.index >= wanted[-1]:
            break
    return FaceSim(str(video), name, f"{analyzer.embedder.name} ({analyzer.embedder.version})", wanted, sims)


def write_report(report: Consistency, folder: Path, sim: FaceSim | None = None) -> dict:
    """Write summary.json (with a "facesim" section when `sim` is given), frames.csv and
    similarity.png into `folder`; returns the summary."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    summary = report.summary()
    if sim is not None:
        summary["facesim"] = sim.summary()
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
    a1.axhline(report.cosine_threshold, color="r", ls="--", label=f"threshold {report.cosine_threshold}")
    a2.axhline(report.distance_threshold, color="r", ls="--", label=f"threshold {report.distance_threshold:.3g}")
    a1.set_ylabel("cosine similarity")
    a2.set_ylabel("embedding distance")
    a2.set_xlabel("time (s)")
    a1.set_title(f"identity consistency of {Path(report.video).name} ({report.model})")
    a1.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
