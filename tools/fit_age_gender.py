"""Fit src/facelens/models/assets/age_gender_calibration.json on the tuning half of the UTKFace dev chips.

The raw outputs are those of `AgeGender.raw` (face-api's network on the mesh-based upright crop,
averaged with its mirror image) for the largest face facelens finds on each chip. Fitted on the
tuning half only (`utkface_held_back` is False), then checked on the held-back half:

- age: isotonic regression (pool-adjacent-violators) of the true age on the raw age, stored as the
  knots of a monotone piecewise-linear map;
- age_sd: `a + b * age`, least squares on `|error| * sqrt(pi / 2)` (the mean absolute value of a
  normal error is its standard deviation times sqrt(2 / pi));
- gender: Platt scaling of the raw male logit (a 1-D logistic regression, Newton's method).

Usage: python tools/fit_age_gender.py [--data ../shared/data] [--out ...json]
Needs facelens (PYTHONPATH=src) and the shared data; prints tuning and held-back figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from facelens import Analyzer
from facelens.models.agegender import AgeGender

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from shared_data import utkface_held_back, utkface_labels  # noqa: E402  (one definition of the split)

OUT = ROOT / "src/facelens/models/assets/age_gender_calibration.json"


def raw_outputs(folder: Path) -> dict[str, np.ndarray]:
    """Raw age, raw male logit, labels and split of every chip where a face is found."""
    analyzer, heads = Analyzer(["mesh"]), AgeGender()
    rows = []
    for path in sorted(folder.glob("*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        faces = analyzer.faces(rgb)
        if len(faces) == 0:
            continue
        i = faces.largest()
        age, logit = heads.raw(rgb, faces.mesh[i:i + 1])
        rows.append((age[0], logit[0], *utkface_labels(path.name), utkface_held_back(path.name)))
    a = np.array(rows, np.float64)
    return {"raw_age": a[:, 0], "raw_logit": a[:, 1], "age": a[:, 2], "female": a[:, 3], "held": a[:, 5] > 0}


def isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (block mean of x, block mean of y) of the non-decreasing least-squares fit of y on x."""
    order = np.argsort(x)
    blocks: list[list[float]] = []  # [sum x, sum y, count]
    for xi, yi in zip(x[order], y[order]):
        blocks.append([xi, yi, 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            sx, sy, n = blocks.pop()
            blocks[-1] = [blocks[-1][0] + sx, blocks[-1][1] + sy, blocks[-1][2] + n]
    b = np.array(blocks)
    return b[:, 0] / b[:, 2], b[:, 1] / b[:, 2]


def platt(z: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """(scale, bias) maximising the likelihood of y under sigmoid(scale * z + bias)."""
    w = np.zeros(2)
    X = np.stack([z, np.ones_like(z)], 1)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-X @ w))
        grad = X.T @ (p - y)
        hess = X.T @ (X * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        w -= np.linalg.solve(hess, grad)
    return float(w[0]), float(w[1])


def ece(p_male: np.ndarray, male: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the predicted gender's confidence, equal-width bins on [0.5, 1]."""
    conf = np.maximum(p_male, 1 - p_male)
    hit = (p_male >= 0.5) == (male > 0)
    idx = np.minimum(((conf - 0.5) * 2 * bins).astype(int), bins - 1)
    return float(sum(abs(hit[idx == b].mean() - conf[idx == b].mean()) * (idx == b).mean()
                     for b in range(bins) if (idx == b).any()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    d = raw_outputs(args.data / "age_gender" / "utkface_dev")
    tune, held = ~d["held"], d["held"]
    male = 1.0 - d["female"]

    knots, values = isotonic(d["raw_age"][tune], d["age"][tune])
    age = np.interp(d["raw_age"], knots, values)
    err = np.abs(age - d["age"])
    A = np.stack([np.ones(tune.sum()), age[tune]], 1)
    sd_a, sd_b = np.linalg.lstsq(A, err[tune] * np.sqrt(np.pi / 2), rcond=None)[0]
    sd = np.maximum(sd_a + sd_b * age, 1.0)
    scale, bias = platt(d["raw_logit"][tune], male[tune])
    p_raw = 1 / (1 + np.exp(-d["raw_logit"]))
    p = 1 / (1 + np.exp(-(scale * d["raw_logit"] + bias)))

    for name, m in (("tuning", tune), ("held-back", held)):
        print(f"{name:9s} n={m.sum():3d}  age MAE raw {np.abs(d['raw_age'] - d['age'])[m].mean():.2f} -> "
              f"calibrated {err[m].mean():.2f}  |error| <= sd {np.mean(err[m] <= sd[m]):.2f}  "
              f"gender acc {np.mean((p[m] >= 0.5) == (male[m] > 0)):.3f}  "
              f"ECE raw {ece(p_raw[m], male[m]):.3f} -> Platt {ece(p[m], male[m]):.3f}")
    fit = {"fitted_on": "UTKFace dev chips, tuning half (tests/shared_data.py utkface_held_back is False)",
           "n": int(tune.sum()), "age_knots": np.round(knots, 3).tolist(), "age_values": np.round(values, 3).tolist(),
           "sd_intercept": round(float(sd_a), 4), "sd_slope": round(float(sd_b), 4),
           "platt_scale": round(scale, 4), "platt_bias": round(bias, 4)}
    args.out.write_text(json.dumps(fit, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
