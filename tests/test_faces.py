import itertools

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


def test_largest_is_the_biggest_box():
    f = Faces(np.array([[0, 0, 10, 10], [0, 0, 30, 20], [5, 5, 20, 20]], np.float32), np.ones(3))
    assert f.largest() == 1
    with pytest.raises(ValueError):
        Faces.empty().largest()


def test_feature_parsing():
    assert parse_features(None) == frozenset(DEFAULT_FEATURES)
    assert "crops" in parse_features("all")
    assert parse_features("pose, emotion") == {"pose", "emotion"}
    assert parse_features("default,blendshapes") == frozenset(DEFAULT_FEATURES) | {"blendshapes"}
    with pytest.raises(FeatureError, match="unknown feature.*bogus"):
        parse_features("pose,bogus")


def test_int_index_past_the_end_raises():
    f = make(3)
    with pytest.raises(IndexError):
        f[3]
    with pytest.raises(IndexError):
        f[-4]
    assert f[-3].age.tolist() == [0.0]
    with pytest.raises(IndexError):
        Faces.empty()[0]


def test_iteration_yields_one_face_each_and_stops():
    f = make(3)
    items = list(itertools.islice(f, 10))  # bounded: an endless iteration fails instead of hanging
    assert [len(x) for x in items] == [1, 1, 1]
    assert [x.age.tolist() for x in items] == [[0.0], [1.0], [2.0]]
    assert list(Faces.empty()) == []


def test_results_slices_keep_table_conversion():
    from facelens import FrameResult, Results

    results = Results([FrameResult(f"img{i}.jpg", make(i % 2 + 1), width=64, height=64) for i in range(7)], {"landmarks"})
    head = results[:5]
    assert isinstance(head, Results) and len(head) == 5 and head.features == results.features
    assert head.to_pandas()["file"].tolist() == ["img0.jpg", "img1.jpg", "img1.jpg", "img2.jpg", "img3.jpg",
                                                 "img3.jpg", "img4.jpg"]
    assert head.to_arrow().num_rows == 7
    assert isinstance(results[0], FrameResult)


def test_option_errors_have_their_own_classes_and_stay_feature_errors(tmp_path):
    from facelens.errors import EngineError, SchemaError, SettingError
    from facelens.io.writers import format_of
    from facelens.scale import run_batch

    assert all(issubclass(e, FeatureError) and issubclass(e, ValueError) for e in (EngineError, SchemaError, SettingError))
    with pytest.raises(EngineError, match="unknown engine"):
        run_batch(None, [], tmp_path / "out.csv", engine="spark")
    with pytest.raises(SchemaError, match="unknown output format"):
        format_of(tmp_path / "out.xlsx")
