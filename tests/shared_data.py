"""Paths to the real labelled data in ../shared/data (read in place, never copied) and the samples."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SAMPLES = ROOT / "src" / "facelens" / "samples"


def data_path(*parts: str) -> Path:
    """A file under ../shared/data; the test skips, saying why, when the data is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def load_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


UTKFACE = DATA / "age_gender" / "utkface_dev"
RACES = ("white", "black", "asian", "indian", "other")  # UTKFace's race codes 0-4


def utkface_labels(name: str) -> tuple[int, int, int]:
    """(age, female (0/1), race code) from a UTKFace file name AGE_GENDER_RACE_DATE...jpg."""
    age, gender, race = name.split("_")[:3]
    return int(age), int(gender), int(race)


def utkface_held_back(name: str) -> bool:
    """The fixed held-back half of the UTKFace dev chips: chosen by a hash of the file name.

    Anything tuned (crop, calibration) is fitted on the other half only.
    """
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2 == 0
