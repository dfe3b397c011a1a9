"""Shared fixtures: real photos from ../shared/data run through detector, mesh and irises once."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def analyse(data_dir):
    """analyse(relpath, mirror=False, transform=None) -> (rgb, detections, mesh (N, 478, 3))."""
    import cv2

    from facelens import Analyzer
    from facelens.models import facemesh as fm

    analyzer = Analyzer("landmarks")

    def run(rgb):
        det = analyzer.detector(rgb)
        rois = [fm.roi_from_detection(b, k) for b, k in zip(det.boxes, det.keypoints)]
        return det, analyzer.mesh_from_rois(rgb, rois, refine=True)[0]

    @functools.lru_cache(maxsize=None)
    def load(relpath: str, mirror: bool = False) -> np.ndarray:
        path = data_dir / relpath
        if not path.exists():
            pytest.skip(f"missing shared data file {path}")
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(rgb[:, ::-1]) if mirror else rgb

    @functools.lru_cache(maxsize=None)
    def cached(relpath: str, mirror: bool = False):
        rgb = load(relpath, mirror)
        det, mesh = run(rgb)
        return rgb, det, mesh

    def analyse_(relpath: str, mirror: bool = False, transform=None):
        if transform is None:
            return cached(relpath, mirror)
        rgb = transform(load(relpath, mirror))
        return (rgb, *run(rgb))

    return analyse_
