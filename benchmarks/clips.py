"""Multi-person test clips composed from the shared videos (written to a scratch folder, never committed).

- `side_by_side`: WolfgangLanger_Pexels (left) and single_face (right, played forward then
  backward so that it has no cut), 720x360, two faces in every frame.
- `swap`: the same, with the halves swapping places at `SWAP_AT` (each person jumps to the
  other's side between two frames): a tracker that follows by position alone swaps identities.
- `cuts`: hard cuts between WolfgangLanger, single_face, no_face, walking_people (scaled to
  640x360) and back, 640x360; `CUTS` lists the first frame of each shot and its face count.

The benchmark (benchmarks/video.py) and the tests (tests/test_track_multi.py) both use these.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"
FPS = 24.0
HALF = 360  # each half of a side-by-side clip is 360x360
LEFT_X, RIGHT_X = 250, 110  # crop origins keeping each face inside its half
SIDE_FRAMES = 144
SWAP_AT = 72
# (source, first frame, frames, faces in the shot) of the cut clip
SHOTS = [("WolfgangLanger_Pexels.mp4", 0, 60, 1), ("single_face.mp4", 0, 50, 1), ("no_face.mp4", 0, 40, 0),
         ("walking_people.mp4", 0, 60, None), ("WolfgangLanger_Pexels.mp4", 300, 50, 1)]


def _frames(name: str, start: int = 0, count: int | None = None) -> list[np.ndarray]:
    """BGR frames [start, start + count) of a shared video."""
    cap = cv2.VideoCapture(str(DATA / name))
    out: list[np.ndarray] = []
    index = 0
    while count is None or len(out) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index >= start:
            out.append(frame)
        index += 1
    cap.release()
    return out


def _write(path: Path, frames: Iterator[np.ndarray] | list[np.ndarray]) -> Path:
    writer = None
    for f in frames:
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (f.shape[1], f.shape[0]))
        writer.write(f)
    assert writer is not None, f"no frames for {path}"
    writer.release()
    return path


def _halves() -> tuple[list[np.ndarray], list[np.ndarray]]:
    left = [f[:, LEFT_X:LEFT_X + HALF] for f in _frames("WolfgangLanger_Pexels.mp4", 0, SIDE_FRAMES)]
    right = _frames("single_face.mp4")
    right = (right + right[::-1] * 2)[:SIDE_FRAMES]
    return left, [f[:, RIGHT_X:RIGHT_X + HALF] for f in right]


def side_by_side(folder: Path) -> Path:
    left, right = _halves()
    return _write(folder / "side_by_side.mp4", [np.hstack([a, b]) for a, b in zip(left, right)])


def swap(folder: Path) -> Path:
    left, right = _halves()
    return _write(folder / "swap.mp4", [np.hstack([a, b] if i < SWAP_AT else [b, a])
                                        for i, (a, b) in enumerate(zip(left, right))])


def cut_starts() -> list[int]:
    """First frame of each shot of the cut clip."""
    return list(np.cumsum([0] + [n for _, _, n, _ in SHOTS[:-1]]))


def cuts(folder: Path) -> Path:
    def shots() -> Iterator[np.ndarray]:
        for name, start, n, _ in SHOTS:
            for f in _frames(name, start, n):
                yield cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA)
    return _write(folder / "cuts.mp4", shots())


def make_all(folder: Path) -> dict[str, Path]:
    """Write the three clips into `folder`; {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    return {"side_by_side": side_by_side(folder), "swap": swap(folder), "cuts": cuts(folder)}
