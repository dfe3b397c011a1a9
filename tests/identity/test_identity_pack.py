"""Conditioning packs: files, shapes, and mesh region masks."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from shared_data import data_path
from typer.testing import CliRunner

from facelens.cli import app
from facelens.identity.regions import REGIONS

MASKS = ("face_oval", "right_brow", "left_brow", "right_eye", "left_eye", "nose", "lips", "inner_mouth")


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    image = data_path("misc", "astronaut.png")
    out = tmp_path_factory.mktemp("pack")
    res = CliRunner().invoke(app, ["pack", str(image), "-o", str(out)])
    assert res.exit_code == 0, res.output
    h, w = cv2.imread(str(image)).shape[:2]
    return out / "astronaut" / "face_0", (h, w)


def test_files_and_shapes(packed) -> None:
    face, (h, w) = packed
    assert cv2.imread(str(face / "crop.png")).shape == (112, 112, 3)
    info = json.loads((face / "landmarks.json").read_text())
    assert np.array(info["landmarks5"]).shape == (5, 2) and np.array(info["landmarks68"]).shape == (68, 2)
    assert info["image_size"] == [w, h] and len(info["box"]) == 4
    for name in ("landmark_map.png", "pose_map.png"):
        img = cv2.imread(str(face / name))
        assert img.shape == (h, w, 3)
        assert 0 < (img.max(2) > 0).mean() < 0.2  # drawing on a black background
    emb = np.load(face / "embedding.npy")
    assert emb.shape == (128,) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert set(REGIONS) == set(MASKS)
    for name in MASKS:
        m = cv2.imread(str(face / "masks" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert m.shape == (h, w) and m.dtype == np.uint8 and set(np.unique(m)) <= {0, 255} and m.any(), name


def test_masks_nest(packed) -> None:
    face, _ = packed
    mask = {n: cv2.imread(str(face / "masks" / f"{n}.png"), cv2.IMREAD_UNCHANGED) > 0 for n in MASKS}
    oval = mask["face_oval"]
    for part in MASKS[1:]:
        assert (mask[part] & oval).sum() / mask[part].sum() >= 0.99, part
    assert not (mask["lips"] & mask["inner_mouth"]).any()
    assert not (mask["right_eye"] & mask["left_eye"]).any()
    # The 68-point lip landmarks fall in the lips + inner mouth mask, within 2 px: the mask follows
    # the mesh's lip contour, the 68 points the 300-W convention.
    pts = np.array(json.loads((face / "landmarks.json").read_text())["landmarks68"])[48:68].round().astype(int)
    mouth = cv2.dilate((mask["lips"] | mask["inner_mouth"]).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert mouth[pts[:, 1], pts[:, 0]].all()
