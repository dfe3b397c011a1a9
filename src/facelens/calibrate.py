"""Per-track neutral calibration and temporal smoothing of expression estimates in video.

Both work on the rows of one track (faces carry `track_id`) and are off by default.

Calibration (`calibrate=True`) subtracts each person's resting face, as OpenFace's dynamic AU
models do by subtracting a person's running median: for every AU and blendshape column,
value - baseline, clipped at 0, where baseline is the median of the track's last `window` values
(this frame included), shrunk towards 0 while the track is young: baseline = median * n / (n +
prior) after n frames. A face that keeps one expression for most of the window reads as neutral;
the first frames of a track stay close to the uncalibrated values. Emotion probabilities are not
calibrated.

Smoothing (`smooth=tau` seconds) is a causal exponential moving average per track over AUs,
blendshapes and emotion probabilities, applied after calibration, with weight
1 - exp(-dt / tau) for the new value after dt seconds: frames skipped (`every`) or missed weigh the
new value more.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from facelens.faces import Faces

CALIBRATED = ("aus", "blendshapes")
SMOOTHED = ("aus", "blendshapes", "emotion")
WINDOW = 300  # frames of history per track (~12 s at 25 fps)
PRIOR = 25  # frames until the median baseline counts half


@dataclass
class _TrackState:
    history: dict[str, deque] = field(default_factory=dict)
    smoothed: dict[str, np.ndarray] = field(default_factory=dict)
    t: float | None = None


class TrackFilter:
    """`TrackFilter(calibrate, smooth)(faces, timestamp) -> faces` for one video, frame by frame."""

    def __init__(self, calibrate: bool = False, smooth: float = 0.0, window: int = WINDOW, prior: int = PRIOR) -> None:
        if smooth < 0:
            raise ValueError(f"smooth must be a time constant in seconds >= 0, not {smooth}")
        self.calibrate, self.smooth, self.window, self.prior = calibrate, smooth, window, prior
        self.tracks: dict[int, _TrackState] = {}

    @property
    def active(self) -> bool:
        return self.calibrate or self.smooth > 0

    def _calibrated(self, state: _TrackState, name: str, value: np.ndarray) -> np.ndarray:
        hist = state.history.setdefault(name, deque(maxlen=self.window))
        hist.append(value)
        n = len(hist)
        baseline = np.median(np.stack(hist), axis=0) * (n / (n + self.prior))
        return np.maximum(value - baseline, 0.0)

    def _smoothed(self, state: _TrackState, name: str, value: np.ndarray, t: float) -> np.ndarray:
        prev = state.smoothed.get(name)
        if prev is not None and state.t is not None:
            w = 1.0 - np.exp(-max(t - state.t, 0.0) / self.smooth)
            value = prev + w * (value - prev)
        state.smoothed[name] = value
        return value

    def __call__(self, faces: Faces, timestamp: float) -> Faces:
        if not self.active or faces.track_id is None or len(faces) == 0:
            return faces
        arrays = {n: getattr(faces, n).astype(np.float32, copy=True) for n in SMOOTHED if getattr(faces, n) is not None}
        for row, tid in enumerate(faces.track_id.tolist()):
            state = self.tracks.setdefault(int(tid), _TrackState())
            for name, arr in arrays.items():
                value = arr[row].astype(np.float64)
                if self.calibrate and name in CALIBRATED and np.isfinite(value).all():
                    value = self._calibrated(state, name, value)
                if self.smooth > 0 and np.isfinite(value).all():
                    value = self._smoothed(state, name, value, timestamp)
                arr[row] = value
            state.t = timestamp
        return faces.with_(**arrays)
