import cv2
import numpy as np

from facelens.geometry.pose import head_pose
from facelens.geometry.quality import quality


def score(analyse, name, transform=None):
    rgb, det, mesh = analyse(name, transform=transform)
    assert len(mesh) >= 1
    R, T = head_pose(mesh, rgb.shape[1::-1])
    return quality(rgb, det.boxes, mesh, R, det.scores, T)


def test_range_and_nan(analyse):
    rgb, det, mesh = analyse("expression/neutral.jpg")
    R, T = head_pose(mesh, rgb.shape[1::-1])
    q = quality(rgb, det.boxes, mesh, R, det.scores, T)
    assert q.shape == (len(mesh),) and ((q > 0) & (q <= 1)).all()
    assert q[0] > 0.8  # sharp, large, frontal, confident
    q2 = quality(rgb, det.boxes, mesh, np.full_like(R, np.nan), det.scores)
    assert np.isnan(q2).all()


def test_blur_and_small_faces_score_lower(analyse):
    for name in ("expression/neutral.jpg", "misc/astronaut.png"):
        q = score(analyse, name)[0]
        blurred = score(analyse, name, lambda im: cv2.GaussianBlur(im, (0, 0), 2.0))[0]
        tiny = score(analyse, name, lambda im: cv2.resize(im, (im.shape[1] // 6, im.shape[0] // 6), interpolation=cv2.INTER_AREA))[0]
        assert blurred < q - 0.1, (name, q, blurred)
        assert tiny < q - 0.1, (name, q, tiny)


def test_turned_face_scores_lower_than_frontal_pose():
    rgb = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
    mesh = np.zeros((2, 478, 3), np.float32)
    mesh[:, :, :2] = np.random.default_rng(1).uniform(40, 160, (2, 478, 2))
    mesh[:, 0, :2], mesh[:, 1, :2] = 40, 160
    boxes = np.array([[40, 40, 160, 160]] * 2, np.float32)
    R = np.radians([[0, 0, 0], [0, 50, 0]])
    q = quality(rgb, boxes, mesh, R, np.array([0.9, 0.9]))
    assert q[1] < q[0]
