import cv2
import numpy as np

from facelens.geometry.align import ARCFACE_112, align, align_matrices
from facelens.geometry.landmarks68 import landmarks5


def test_template_points_land_on_template():
    # Draw five dots where a rotated, scaled, shifted template lies; they must land on the template.
    a, s, t = np.radians(25), 2.3, np.array([140.0, 90.0])
    rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = ARCFACE_112 @ rot.T + t
    img = np.zeros((480, 480, 3), np.uint8)
    for p in pts:
        cv2.circle(img, tuple(int(round(v * 16)) for v in p), 5 * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    crops = align(img, pts[None])
    assert crops.shape == (1, 112, 112, 3) and crops.dtype == np.uint8
    grey = crops[0, :, :, 0].astype(np.float64)
    for p in ARCFACE_112:
        x0, y0 = np.round(p).astype(int)
        win = grey[y0 - 5:y0 + 6, x0 - 5:x0 + 6]
        ys, xs = np.mgrid[y0 - 5:y0 + 6, x0 - 5:x0 + 6]
        centroid = np.array([(xs * win).sum(), (ys * win).sum()]) / win.sum()
        assert np.linalg.norm(centroid - p) < 1.0, (p, centroid)


def test_other_size_scales_template_and_nan_rows():
    pts = np.stack([ARCFACE_112 * 2 + 10, np.full((5, 2), np.nan)]).astype(np.float32)
    m = align_matrices(pts, size=224)
    np.testing.assert_allclose(m[0], [[1, 0, -10], [0, 1, -10]], atol=1e-3)
    assert np.isnan(m[1]).all()
    crops = align(np.zeros((300, 300, 3), np.uint8) + 7, pts, size=224)
    assert crops.shape == (2, 224, 224, 3) and (crops[0] == 7).all() and (crops[1] == 0).all()


def test_real_face_eyes_on_template(analyse):
    rgb, _, mesh = analyse("expression/neutral.jpg")
    pts = landmarks5(mesh)
    m = align_matrices(pts)[0]
    mapped = pts[0] @ m[:, :2].T + m[:, 2]
    assert np.linalg.norm(mapped[:2] - ARCFACE_112[:2], axis=1).max() < 2.0
