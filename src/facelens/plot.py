"""Per-track timelines (`facelens plot`) of emotion probabilities, head pose, AUs and blendshapes.

One column of panels per track (the longest `max_tracks` tracks), one row per kind of feature
present in the table: emotions as stacked probabilities, pose as pitch/yaw/roll in degrees, and
the action units and blendshapes that vary most over the video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facelens.errors import InputError
from facelens.faces import EMOTIONS
from facelens.models.blendshapes import BLENDSHAPE_COLUMNS

MAX_TRACKS = 4
N_SERIES = 6  # the AUs (and blendshapes) with the largest spread are drawn
EMOTION_COLOURS = ("#9e9e9e", "#f2b705", "#3b6fb6", "#8e44ad", "#16a085", "#6b8e23", "#d62728")


def _rows(table: pd.DataFrame) -> list[str]:
    rows = []
    if all(f"emotion_{e}" in table.columns for e in EMOTIONS):
        rows.append("emotion")
    if {"pose_Rx", "pose_Ry", "pose_Rz"} <= set(table.columns):
        rows.append("pose")
    if _au_columns(table):
        rows.append("aus")
    if set(BLENDSHAPE_COLUMNS) & set(table.columns):
        rows.append("blendshapes")
    return rows


def _au_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("AU") and c.endswith("_r")]


def _top_varying(table: pd.DataFrame, columns: list[str], n: int) -> list[str]:
    spread = table[columns].std().fillna(0.0)
    return sorted(spread.sort_values(ascending=False).index[:n])


def plot_timeline(table: pd.DataFrame, out: str | Path, max_tracks: int = MAX_TRACKS) -> Path:
    """Draw per-track timelines of `table` (a facelens video table) to the image file `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "track_id" not in table.columns or table["track_id"].notna().sum() == 0:
        raise InputError("no tracked faces in the table: plot needs a video analysed by facelens")
    faces = table[table["track_id"].notna()]
    rows = _rows(faces)
    if not rows:
        raise InputError("the table has no emotion, pose, AU or blendshape columns to plot (analyse with those features)")
    groups = sorted(faces.groupby(["file", "track_id"]), key=lambda kv: -len(kv[1]))[:max_tracks]
    aus = _top_varying(faces, _au_columns(faces), N_SERIES) if "aus" in rows else []
    shapes = _top_varying(faces, [c for c in BLENDSHAPE_COLUMNS if c in faces.columns], N_SERIES) \
        if "blendshapes" in rows else []
    fig, axes = plt.subplots(len(rows), len(groups), figsize=(5.5 * len(groups) + 1.8, 2.3 * len(rows) + 0.6),
                             squeeze=False, sharex="col", constrained_layout=True)
    for col, ((file, track), g) in enumerate(groups):
        g = g.sort_values("timestamp")
        t = g["timestamp"].to_numpy(float)
        axes[0, col].set_title(f"{Path(str(file)).name}  track {int(track)}  ({len(g)} frames)", fontsize=10)
        for row, kind in enumerate(rows):
            ax = axes[row, col]
            if kind == "emotion":
                probs = np.nan_to_num(g[[f"emotion_{e}" for e in EMOTIONS]].to_numpy(float)).T
                ax.stackplot(t, probs, labels=EMOTIONS, colors=EMOTION_COLOURS, linewidth=0)
                ax.set_ylim(0, 1)
                ax.set_ylabel("emotion probability")
            elif kind == "pose":
                for c, name in zip(("pose_Rx", "pose_Ry", "pose_Rz"), ("pitch", "yaw", "roll")):
                    ax.plot(t, np.degrees(g[c].to_numpy(float)), label=name, linewidth=1.2)
                ax.axhline(0, color="0.7", linewidth=0.6)
                ax.set_ylabel("head pose (°)")
            elif kind == "aus":
                for c in aus:
                    ax.plot(t, g[c].to_numpy(float), label=c[:-2], linewidth=1.1)
                ax.set_ylim(0, 5)
                ax.set_ylabel("AU estimate (0-5)")
            else:
                for c in shapes:
                    ax.plot(t, g[c].to_numpy(float), label=c, linewidth=1.1)
                ax.set_ylim(0, 1)
                ax.set_ylabel("blendshape score")
            ax.grid(alpha=0.3)
            if col == len(groups) - 1:
                ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        axes[-1, col].set_xlabel("time (s)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
