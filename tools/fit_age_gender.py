"""Fit src/facelens/models/assets/age_gender_calibration.json on the tuning half of the UTKFace dev chips.

The raw outputs are those of `AgeGender.views` (face-api's network on the mesh-based upright crop
and on its mirror image) for the largest face facelens finds on each chip. Only the tuning half
(`utkface_held_back` is False) is read; `benchmarks/age_gender.py` measures the held-back half.

- age: isotonic regression (pool-adjacent-violators) of the true age on the flip-averaged raw
  age, stored as the knots of a monotone piecewise-linear map;
- age_sd: `a + b * age`, least squares on `|error| * sqrt(pi / 2)` (the mean absolute value of a
  normal error is its standard deviation times sqrt(2 / pi));
- gender: the calibration method with the lowest cross-validated ECE (`ece`, 10 equal-width bins
  of confidence on [0.5, 1]; out-of-fold predictions of 5-fold splits, averaged over 200 random
  splits) among: none, temperature, Platt scaling of the flip-averaged logit, Platt scaling of the
  two views' logits (a logistic regression on both), Beta calibration, isotonic regression and
  10-bin histogram binning; then refitted on the whole tuning half. The shipped map is linear in
  the two views' logits, so a winner outside that family stops the script.

Usage: python tools/fit_age_gender.py [--data ../shared/data] [--out ...json]
Needs facelens (PYTHONPATH=src) and the shared data; prints the comparison and tuning figures.
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
    """Raw age (flip-averaged), the two views' male logits (N,2) and labels of every tuning chip with a face."""
    analyzer, heads = Analyzer(["mesh"]), AgeGender()
    rows = []
    for path in sorted(folder.glob("*.jpg")):
        if utkface_held_back(path.name):
            continue
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        faces = analyzer.faces(rgb)
        if len(faces) == 0:
            continue
        i = faces.largest()
        age, logits = heads.views(rgb, faces.mesh[i:i + 1])
        rows.append((age.mean(), *logits[:, 0], *utkface_labels(path.name)[:2]))
    a = np.array(rows, np.float64)
    return {"raw_age": a[:, 0], "view_logits": a[:, 1:3], "age": a[:, 3], "male": 1.0 - a[:, 4]}


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


def logistic(X: np.ndarray, y: np.ndarray, iters: int = 50) -> np.ndarray:
    """Weights maximising the likelihood of y under sigmoid(X @ w) (Newton's method)."""
    w = np.zeros(X.shape[1])
    for _ in range(iters):
        p = sigmoid(X @ w)
        hess = X.T @ (X * (p * (1 - p))[:, None]) + 1e-9 * np.eye(len(w))
        w -= np.linalg.solve(hess, X.T @ (p - y))
    return w


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# Gender calibration candidates: name -> features of the view logits (N,2) for a logistic fit.
LINEAR = {
    "temperature": lambda v: v.mean(1, keepdims=True),
    "platt": lambda v: np.stack([v.mean(1), np.ones(len(v))], 1),
    "platt_views": lambda v: np.stack([v[:, 0], v[:, 1], np.ones(len(v))], 1),
    "beta": lambda v: np.stack([-np.logaddexp(0, -v.mean(1)), np.logaddexp(0, v.mean(1)), np.ones(len(v))], 1),
}
METHODS = ("none", *LINEAR, "isotonic", "histogram10")


def fit_gender(method: str, v: np.ndarray, male: np.ndarray):
    """Fit one calibration method on view logits `v` (N,2); return `predict(v) -> male probability`."""
    z = v.mean(1)
    if method == "none":
        return lambda t: sigmoid(t.mean(1))
    if method in LINEAR:
        w = logistic(LINEAR[method](v), male)
        return lambda t: sigmoid(LINEAR[method](t) @ w)
    if method == "isotonic":
        knots, values = isotonic(z, male)
        return lambda t: np.clip(np.interp(t.mean(1), knots, values), 0.01, 0.99)
    edges = np.quantile(z, np.linspace(0, 1, 11))[1:-1]  # histogram10: equal-count bins, smoothed rates
    b = np.searchsorted(edges, z)
    rate = np.array([(male[b == k].sum() + 1) / ((b == k).sum() + 2) for k in range(10)])
    return lambda t: rate[np.searchsorted(edges, t.mean(1))]


def cross_validate(v: np.ndarray, male: np.ndarray, repeats: int = 200, folds: int = 5) -> dict[str, tuple[float, float]]:
    """{method: (mean ECE, mean log-loss)} of out-of-fold predictions over `repeats` random `folds`-fold splits."""
    rng = np.random.default_rng(0)
    scores: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    for _ in range(repeats):
        parts = np.array_split(rng.permutation(len(v)), folds)
        oof = {m: np.zeros(len(v)) for m in METHODS}
        for part in parts:
            train = np.setdiff1d(np.arange(len(v)), part)
            for m in METHODS:
                oof[m][part] = fit_gender(m, v[train], male[train])(v[part])
        for m in METHODS:
            p = np.clip(oof[m], 1e-4, 1 - 1e-4)
            scores[m].append((ece(p, male), float(-np.mean(male * np.log(p) + (1 - male) * np.log(1 - p)))))
    return {m: tuple(np.mean(scores[m], 0).tolist()) for m in METHODS}


def view_weights(method: str, v: np.ndarray, male: np.ndarray) -> tuple[list[float], float]:
    """The chosen method refitted on all of `v` as (weights on the two view logits, bias)."""
    if method == "none":
        return [0.5, 0.5], 0.0
    if method not in ("temperature", "platt", "platt_views"):
        raise SystemExit(f"{method} won the comparison but is not linear in the view logits; "
                         "facelens.models.agegender.Calibration would need it")
    w = logistic(LINEAR[method](v), male)
    if method == "platt_views":
        return [float(w[0]), float(w[1])], float(w[2])
    return [float(w[0]) / 2, float(w[0]) / 2], float(w[1]) if method == "platt" else 0.0


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
    male, v = d["male"], d["view_logits"]

    knots, values = isotonic(d["raw_age"], d["age"])
    age = np.interp(d["raw_age"], knots, values)
    err = np.abs(age - d["age"])
    A = np.stack([np.ones(len(age)), age], 1)
    sd_a, sd_b = np.linalg.lstsq(A, err * np.sqrt(np.pi / 2), rcond=None)[0]
    sd = np.maximum(sd_a + sd_b * age, 1.0)

    cv = cross_validate(v, male)
    chosen = min(cv, key=lambda m: cv[m][0])
    print(f"gender calibration on the tuning half (n={len(v)}), 5-fold x 200, out-of-fold:")
    for m, (e, ll) in cv.items():
        print(f"  {m:12s} ECE {e:.4f}  log-loss {ll:.4f}{'  <- chosen' if m == chosen else ''}")
    weights, bias = view_weights(chosen, v, male)
    p = sigmoid(v @ np.array(weights) + bias)
    print(f"tuning n={len(v)}  age MAE raw {np.abs(d['raw_age'] - d['age']).mean():.2f} -> calibrated {err.mean():.2f}  "
          f"|error| <= age_sd {np.mean(err <= sd):.2f}  gender acc {np.mean((p >= 0.5) == (male > 0)):.3f}  "
          f"ECE (in-sample) {ece(p, male):.3f}")
    fit = {"fitted_on": "UTKFace dev chips, tuning half (tests/shared_data.py utkface_held_back is False)",
           "n": len(v), "age_knots": np.round(knots, 3).tolist(), "age_values": np.round(values, 3).tolist(),
           "sd_intercept": round(float(sd_a), 4), "sd_slope": round(float(sd_b), 4),
           "gender_method": chosen, "gender_cv": {m: [round(e, 4), round(ll, 4)] for m, (e, ll) in cv.items()},
           "gender_weights": [round(w, 4) for w in weights], "gender_bias": round(bias, 4)}
    args.out.write_text(json.dumps(fit, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
