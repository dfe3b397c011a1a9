"""Age and gender: face-api's `age_gender_model` (TinyXception, MIT), rebuilt as ONNX.

face-api feeds the square around its 68-point face box, padded to a square and resized to
112 x 112, as `(rgb - mean) / 255`. We cut the same square from the mesh
(`geometry.align.upright_square_matrices`: centred on the mesh's bounding box, turned upright by
the eye line, `CROP_SIDE` times the box's larger side, `CROP_SHIFT` of it towards the chin; both
chosen on the tuning half of the UTKFace dev chips). The network runs on the crop and its mirror image in one batch and the two outputs are
averaged (age in years; gender as logits). Then the fitted maps in `age_gender_calibration.json`
(tuning half only; `tools/fit_age_gender.py`) apply: a monotone piecewise-linear map of the age,
an age standard deviation that grows with the age, and a Platt scaling of the male logit so that
`male_prob` is calibrated.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from facelens.geometry.align import upright_square_matrices, warp
from facelens.models.runtime import Model, asset_path

SIZE = 112
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)
CROP_SIDE = 0.95
CROP_SHIFT = 0.03


@dataclass(frozen=True)
class AgeGenderEstimate:
    """Per-face estimates, face axis first.

    age : (N,) years, calibrated.
    age_sd : (N,) years, the spread of the calibrated age's error at that age (tuning split).
    male_prob : (N,) calibrated probability that the face is male.
    male_logit : (N,) `log(male_prob / (1 - male_prob))`; independent views of one person
        combine by summing these (less `(n - 1)` times the prior logit, which is ~0 here).
    """

    age: np.ndarray
    age_sd: np.ndarray
    male_prob: np.ndarray
    male_logit: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """Fitted maps from the raw (flip-averaged) network outputs to calibrated ones."""

    age_knots: np.ndarray  # (K,) raw ages, increasing
    age_values: np.ndarray  # (K,) calibrated ages, non-decreasing
    sd_intercept: float
    sd_slope: float
    platt_scale: float
    platt_bias: float

    def age(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, self.age_knots, self.age_values).astype(np.float32)

    def age_sd(self, age: np.ndarray) -> np.ndarray:
        return np.maximum(self.sd_intercept + self.sd_slope * age, 1.0).astype(np.float32)

    def male_logit(self, raw_logit: np.ndarray) -> np.ndarray:
        return (self.platt_scale * raw_logit + self.platt_bias).astype(np.float32)


@functools.cache
def calibration() -> Calibration:
    """The shipped calibration (assets/age_gender_calibration.json, sha256-checked)."""
    d = json.loads(asset_path("age_gender_calibration").read_text())
    return Calibration(np.asarray(d["age_knots"], np.float32), np.asarray(d["age_values"], np.float32),
                       float(d["sd_intercept"]), float(d["sd_slope"]), float(d["platt_scale"]), float(d["platt_bias"]))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class AgeGender:
    """`AgeGender()(rgb, mesh (N,478,3)) -> (age years (N,), male probability (N,))`; `estimate` for more."""

    def __init__(self) -> None:
        self.model = Model("age_gender")

    def raw(self, rgb: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flip-averaged network outputs before calibration: (age years (N,), male logit (N,))."""
        crops = warp(rgb, upright_square_matrices(mesh, SIZE, CROP_SIDE, CROP_SHIFT), SIZE)
        both = np.concatenate([crops, crops[:, :, ::-1]])
        x = np.ascontiguousarray(((both.astype(np.float32) - MEAN_RGB) / 255.0).transpose(0, 3, 1, 2))
        age, gender = self.model(x)
        n = len(mesh)
        logit = _logit(np.asarray(gender)[:, 0])
        return np.asarray(age)[:, 0].reshape(2, n).mean(0), logit.reshape(2, n).mean(0)

    def estimate(self, rgb: np.ndarray, mesh: np.ndarray) -> AgeGenderEstimate:
        """Calibrated age, its standard deviation and the male probability of each face."""
        if len(mesh) == 0:
            empty = np.zeros(0, np.float32)
            return AgeGenderEstimate(empty, empty, empty, empty)
        raw_age, raw_logit = self.raw(rgb, mesh)
        cal = calibration()
        age = cal.age(raw_age)
        logit = cal.male_logit(raw_logit)
        return AgeGenderEstimate(age, cal.age_sd(age), (1 / (1 + np.exp(-logit))).astype(np.float32), logit)

    def __call__(self, rgb: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        est = self.estimate(rgb, mesh)
        return est.age, est.male_prob
