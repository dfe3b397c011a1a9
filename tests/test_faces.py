import numpy as np
import pytest

from facelens import Faces
from facelens.features import DEFAULT_FEATURES, parse_features
from facelens.errors import FeatureError


def make(n: int) -> Faces:
    boxes = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    return Faces(boxes, np.linspace(0.5, 1, n, dtype=np.float32), age=np.arange(n, dtype=np.float32))


def test_indexing_keeps_type_and_fields():
    f = make(4)
    assert isinstance(f[0], Faces) and len(f[0]) == 1
    sub = f[f.scores > 0.6]
    assert len(sub) == 3 and sub.age.tolist() == [1.0, 2.0, 3.0]
    assert f[-1].age.tolist() == [3.0]
    assert f[1:3].mesh is None


def test_shapes_are_validated_with_clear_message():
    with pytest.raises(ValueError, match=r"Faces.mesh: expected shape \(N, 478, 3\) with N=2"):
        Faces(np.zeros((2, 4)), np.zeros(2), mesh=np.zeros((2, 468, 3)))


def test_xywh():
    f = Faces(np.array([[10, 20, 40, 80]], np.float32), np.ones(1))
    assert f.xywh.tolist() == [[10, 20, 30, 60]]


def test_feature_parsing():
    assert parse_features(None) == frozenset(DEFAULT_FEATURES)
    assert "crops" in parse_features("all")
    assert parse_features("pose, emotion") == {"pose", "emotion"}
    with pytest.raises(FeatureError, match="unknown feature.*bogus"):
        parse_features("pose,bogus")
