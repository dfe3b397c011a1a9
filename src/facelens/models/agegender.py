"""Age and gender: face-api's `age_gender_model` (TinyXception, MIT), rebuilt as ONNX.

face-api feeds the square around its 68-point face box, padded to a square and resized to
112 x 112, as `(rgb - mean) / 255`. We cut the same square from the mesh
(`geometry.align.upright_square_matrices`: centred on the mesh's bounding box, turned upright by
the eye line, `CROP_SIDE` times the box's larger side, `CROP_SHIFT` of it towards the chin; both
chosen on the tuning half of the UTKFace dev chips). The network runs on the crop and its mirror image in one batch and the two outputs are
averaged (age in years). Then the fitted maps in `age_gender_calibration.json` (tuning half
only; `tools/fit_age_gender.py`) apply: a monotone piecewise-linear map of the age, an age
standard deviation that grows with the age, and a logistic regression of the male label on the
male logits of the two views (weights and bias; chosen among Platt, temperature, Beta, isotonic
and histogram binning by cross-validated ECE on the tuning half) so that `male_prob` is calibrated.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from facelens.geometry.align import upright_square_matrices, warp
from facelens.models.runtime import HEAD_BATCH, Model, asset_path, sigmoid

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
    male_logit : (N,) `log(male_prob / (1 - male_prob))`; frames of one person combine by
        averaging these (`facelens.track.aggregate_age_gender`).
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
    gender_weights: np.ndarray  # (2,) on the male logits of the crop and of its mirror, both > 0
    gender_bias: float

    def age(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, self.age_knots, self.age_values).astype(np.float32)

    def age_sd(self, age: np.ndarray) -> np.ndarray:
        return np.maximum(self.sd_intercept + self.sd_slope * age, 1.0).astype(np.float32)

    def male_logit(self, view_logits: np.ndarray) -> np.ndarray:
        """Calibrated male logit (N,) from the network's logits on the two views (2,N)."""
        return (self.gender_weights @ view_logits + self.gender_bias).astype(np.float32)


@functools.cache
def calibration() -> Calibration:
    """The shipped calibration (assets/age_gender_calibration.json, sha256-checked)."""
    d = json.loads(asset_path("age_gender_calibration").read_text())
    return Calibration(np.asarray(d["age_knots"], np.float32), np.asarray(d["age_values"], np.float32),
                       float(d["sd_intercept"]), float(d["sd_slope"]),
                       np.asarray(d["gender_weights"], np.float64), float(d["gender_bias"]))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class AgeGender:
    """`AgeGender()(rgb, mesh (N,478,3)) -> AgeGenderEstimate` of the N faces."""

    def __init__(self) -> None:
        self.model = Model("age_gender", max_batch=HEAD_BATCH)

    def views(self, rgb: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network outputs on the crop (row 0) and its mirror (row 1): (age years (2,N), male logit (2,N))."""
        crops = warp(rgb, upright_square_matrices(mesh, SIZE, CROP_SIDE, CROP_SHIFT), SIZE)
        both = np.concatenate([crops, crops[:, :, ::-1]])
        x = np.ascontiguousarray(((both.astype(np.float32) - MEAN_RGB) / 255.0).transpose(0, 3, 1, 2))
        age, gender = self.model(x)
        n = len(mesh)
        return np.asarray(age)[:, 0].reshape(2, n), _logit(np.asarray(gender)[:, 0]).reshape(2, n)

    def __call__(self, rgb: np.ndarray, mesh: np.ndarray) -> AgeGenderEstimate:
        """Calibrated age, its standard deviation and the male probability of each face."""
        if len(mesh) == 0:
            empty = np.zeros(0, np.float32)
            return AgeGenderEstimate(empty, empty, empty, empty)
        raw_age, view_logits = self.views(rgb, mesh)
        cal = calibration()
        age = cal.age(raw_age.mean(0))
        logit = cal.male_logit(view_logits)
        return AgeGenderEstimate(age, cal.age_sd(age), sigmoid(logit).astype(np.float32), logit)
