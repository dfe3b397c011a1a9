"""The ONNX rebuild of dlib's descriptor net against dlib itself, on the shared identity faces."""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import data_path, load_rgb

from facelens.models.dlib_models import DLIB_THRESHOLD, DlibEmbedder, OnnxEmbedder

PEOPLE = ("amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart")


@pytest.fixture(scope="module")
def descriptors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dlib and ONNX descriptors of the 40 face-api crops (whole crop as the box), and labels."""
    root = data_path("identity")
    files = [f for p in PEOPLE for f in sorted((root / p).glob("*.png"))]
    dlib_net, onnx_net = DlibEmbedder(), OnnxEmbedder()
    ref, ours = [], []
    for f in files:
        rgb = load_rgb(f)
        box = np.array([[0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1]], np.float32)
        ref.append(dlib_net(rgb, box)[0])
        ours.append(onnx_net(rgb, box)[0])
    return np.array(ref), np.array(ours), np.array([f.parent.name for f in files])


def test_close_to_dlib(descriptors) -> None:
    ref, ours, _ = descriptors
    dist = np.linalg.norm(ref - ours, axis=1)
    assert dist.max() < 0.08  # measured 0.045 (descriptor norms ~1.47; same-person threshold 0.6)
    pair_ref = np.linalg.norm(ref[:, None] - ref[None], axis=2)
    pair_ours = np.linalg.norm(ours[:, None] - ours[None], axis=2)
    assert np.abs(pair_ref - pair_ours).max() < 0.03  # measured 0.013


def test_same_pair_decisions(descriptors) -> None:
    ref, ours, labels = descriptors
    iu = np.triu_indices(len(labels), 1)
    same = (labels[:, None] == labels[None])[iu]
    acc = [float(((np.linalg.norm(e[:, None] - e[None], axis=2)[iu] < DLIB_THRESHOLD) == same).mean())
           for e in (ref, ours)]
    assert acc[1] >= acc[0] - 0.005 and acc[1] > 0.98


def test_batch_matches_single() -> None:
    rgb = load_rgb(data_path("identity", "amy", "amy1.png"))
    box = np.array([[0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1]], np.float32)
    net = OnnxEmbedder()
    np.testing.assert_allclose(net(rgb, np.repeat(box, 3, 0)), np.repeat(net(rgb, box), 3, 0), atol=1e-5)
    assert net(rgb, box[:0]).shape == (0, 128)
