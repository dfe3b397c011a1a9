"""User-supplied ONNX embedders: reading the model, errors on bad models, plumbing through verify,
the gallery, consistency and FaceSim. The networks here are tiny fixed random projections of the
aligned crop, built in the test, so no non-commercial weights are needed."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from shared_data import SAMPLES, data_path  # noqa: E402
from tiny_embedders import DIM, projection  # noqa: E402

from facelens.api import Analyzer  # noqa: E402
from facelens.errors import FeatureError  # noqa: E402
from facelens.identity.gallery import Gallery, GalleryError  # noqa: E402
from facelens.identity.verify import FaceRows, verify  # noqa: E402
from facelens.models.embedder import EmbedderError, EmbedderSpec, OnnxFaceEmbedder  # noqa: E402


def read(path: Path) -> np.ndarray:
    from facelens.io.readers import read_image

    return read_image(path)


@pytest.fixture(scope="module")
def astronaut_rgb() -> np.ndarray:
    return read(SAMPLES / "astronaut.jpg")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return projection(tmp_path_factory.mktemp("emb") / "tiny.onnx")


def test_reads_size_and_layout_and_normalises(tmp_path: Path, tiny: Path, astronaut_rgb: np.ndarray) -> None:
    nhwc = projection(tmp_path / "nhwc.onnx", layout="NHWC")
    faces = Analyzer("landmarks").faces(astronaut_rgb)
    outs = []
    for path in (tiny, nhwc):
        e = OnnxFaceEmbedder(EmbedderSpec(path))
        assert e.input_size == 112
        out = e(astronaut_rgb, faces.boxes, faces.landmarks5)
        assert out.shape == (1, DIM)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
        outs.append(out)
    assert OnnxFaceEmbedder(EmbedderSpec(tiny)).layout == "NCHW" and OnnxFaceEmbedder(EmbedderSpec(nhwc)).layout == "NHWC"
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)  # same projection, other layout: same vector
    again = pickle.loads(pickle.dumps(OnnxFaceEmbedder(EmbedderSpec(tiny))))(astronaut_rgb, faces.boxes, faces.landmarks5)
    np.testing.assert_allclose(again, outs[0], atol=1e-6)


def test_norms_change_the_input(tiny: Path, astronaut_rgb: np.ndarray) -> None:
    f = Analyzer("landmarks").faces(astronaut_rgb)
    a = OnnxFaceEmbedder(EmbedderSpec(tiny, norm="arcface"))(astronaut_rgb, f.boxes, f.landmarks5)
    b = OnnxFaceEmbedder(EmbedderSpec(tiny, norm="imagenet"))(astronaut_rgb, f.boxes, f.landmarks5)
    assert float(np.abs(a - b).max()) > 1e-3


def test_dynamic_side_needs_input_size(tmp_path: Path, astronaut_rgb: np.ndarray) -> None:
    path = projection(tmp_path / "dyn.onnx", side="s")
    with pytest.raises(EmbedderError, match="dynamic; give input_size"):
        OnnxFaceEmbedder(EmbedderSpec(path))
    e = OnnxFaceEmbedder(EmbedderSpec(path, input_size=112))
    f = Analyzer("landmarks").faces(astronaut_rgb)
    assert e(astronaut_rgb, f.boxes, f.landmarks5).shape == (1, DIM)


def test_bad_models_give_one_line_errors(tmp_path: Path, tiny: Path) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    flat = tmp_path / "flat.onnx"
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "flat",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 588])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 588])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(flat))
    cases = [(tmp_path / "missing.onnx", "no such file"), (text, "not a loadable ONNX model"),
             (flat, "expected a 4-D image input")]
    for path, message in cases:
        with pytest.raises(EmbedderError, match=message) as info:
            OnnxFaceEmbedder(EmbedderSpec(path))
        assert "\n" not in str(info.value)
    with pytest.raises(EmbedderError, match="input_size 160 but the model takes 112x112"):
        OnnxFaceEmbedder(EmbedderSpec(tiny, input_size=160))
    with pytest.raises(EmbedderError, match="unknown embedder norm"):
        EmbedderSpec.from_options(tiny, norm="zscore")
    with pytest.raises(EmbedderError, match="unknown embedder preset"):
        EmbedderSpec.from_options(tiny, preset="facenet")


def test_cli_bad_embedder_is_one_line_exit_2(tmp_path: Path) -> None:
    img = str(SAMPLES / "astronaut.jpg")
    for args in (["verify", img, img, "--embedder", str(tmp_path / "missing.onnx")],
                 ["analyze", img, "-o", str(tmp_path / "o.csv"), "--embedder", str(tmp_path / "missing.onnx")],
                 ["verify", img, img, "--embedder-norm", "0-1"]):
        r = subprocess.run([sys.executable, "-m", "facelens.cli", *args], capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and "error:" in r.stderr
    assert not (tmp_path / "o.csv").exists()


def test_pipeline_embeds_with_the_user_model(tiny: Path, astronaut_rgb: np.ndarray) -> None:
    with pytest.raises(FeatureError, match="identity feature"):
        Analyzer("landmarks", embedder=tiny)
    faces = Analyzer("identity", embedder=tiny).faces(astronaut_rgb)
    assert faces.embedding.shape == (1, DIM)
    np.testing.assert_allclose(np.linalg.norm(faces.embedding, axis=1), 1.0, rtol=1e-5)
    analyzer = pickle.loads(pickle.dumps(Analyzer("identity", embedder=tiny)))  # batch workers get it pickled
    np.testing.assert_allclose(analyzer.faces(astronaut_rgb).embedding, faces.embedding, atol=1e-6)


def test_verify_uses_the_embedders_threshold(tiny: Path) -> None:
    img = SAMPLES / "astronaut.jpg"
    analyzer = Analyzer("identity", embedder=EmbedderSpec(tiny, threshold=0.5))
    v = verify(img, img, analyzer=analyzer)
    assert v.model == "tiny.onnx" and v.same
    assert v.threshold == pytest.approx(1.0)  # cosine 0.5 <-> unit-vector distance sqrt(2 - 2 * 0.5)
    assert v.similarity == pytest.approx(1.0, abs=1e-4) and v.distance < 1e-3
    assert verify(img, img).model == "dlib_face_recognition_resnet_model_v1"


def _rows(version: str, dim: int) -> FaceRows:
    rng = np.random.default_rng(1)
    return FaceRows(["a.jpg", "b.jpg"], np.zeros(2, int), np.zeros((2, 4), np.float32),
                    rng.standard_normal((2, dim)).astype(np.float32), np.full(2, -1), np.zeros(2, bool),
                    model=version.split()[0], model_version=version, threshold=1.0)


def test_gallery_records_and_refuses_to_mix_embedders(tmp_path: Path) -> None:
    g = Gallery(tmp_path / "g")
    assert g.model_version is None and len(g) == 0
    g.add("ann", _rows("tiny.onnx sha256:aaaa", DIM))
    assert g.model_version == "tiny.onnx sha256:aaaa"
    with pytest.raises(GalleryError, match="holds embeddings of tiny.onnx sha256:aaaa"):
        g.add("bob", _rows("other.onnx sha256:bbbb", DIM))
    other = _rows("other.onnx sha256:bbbb", DIM)
    with pytest.raises(GalleryError, match="use the same embedder"):
        g.search(other.embeddings, model_version=other.model_version)
    same = _rows("tiny.onnx sha256:aaaa", DIM)
    hits = g.search(same.embeddings, k=1, model_version=same.model_version, threshold=same.threshold)
    assert hits[0][0].name == "ann" and hits[0][0].distance < 1e-5 and hits[0][0].same
    assert len(Gallery(tmp_path / "g")) == 2  # reopened: the table, its dimension and model persist


def test_consistency_and_facesim_with_a_user_embedder(tmp_path: Path, tiny: Path) -> None:
    from facelens.identity.consistency import consistency, facesim, write_report

    video, ref = SAMPLES / "astronaut_pan.mp4", SAMPLES / "astronaut.jpg"
    spec = EmbedderSpec(tiny)
    report = consistency(video, [ref], every=6, embedder=spec)
    sim = facesim(video, ref, embedder=spec)
    summary = write_report(report, tmp_path / "rep", sim)
    assert summary["embedding"].startswith("tiny.onnx (sha256:") and summary["cosine_threshold"] == 0.3
    assert len(sim.frames) == 16 and sim.frames[0] == 0 and np.isfinite(sim.similarity).all()
    assert summary["facesim"]["frames_with_face"] == 16
    assert 0.5 < sim.score <= 1.0  # the same face, panned and zoomed
    assert np.all(sim.similarity >= 0)  # clipped at 0, as the protocol does


def test_facesim_of_a_faceless_video_is_zero() -> None:
    from facelens.identity.consistency import facesim

    sim = facesim(data_path("video/no_face.mp4"), SAMPLES / "astronaut.jpg")
    assert sim.score == 0.0 and not np.isfinite(sim.similarity).any()
    assert sim.summary()["frames_with_face"] == 0


def test_server_uses_the_embedder_and_keeps_galleries_apart(tmp_path: Path, tiny: Path) -> None:
    from fastapi.testclient import TestClient

    from facelens.server.app import create_app
    from facelens.server.settings import Settings

    jpg = (SAMPLES / "astronaut.jpg").read_bytes()
    files = {"a": ("a.jpg", jpg, "image/jpeg"), "b": ("b.jpg", jpg, "image/jpeg")}
    settings = Settings(workers=1, preload=False, gallery=str(tmp_path / "g"), embedder=str(tiny))
    with TestClient(create_app(settings)) as c:
        v = c.post("/api/v1/verify", files=files).json()
        assert v["same"] and v["threshold"] == pytest.approx(np.sqrt(2 - 2 * 0.3), abs=1e-4)
        assert c.post("/api/v1/gallery/people/ann", files={"file": ("a.jpg", jpg, "image/jpeg")}).status_code == 200
        hits = c.post("/api/v1/gallery/search", files={"file": ("q.jpg", jpg, "image/jpeg")}).json()
        assert hits[0]["matches"][0]["name"] == "ann" and hits[0]["matches"][0]["same"]
    with TestClient(create_app(Settings(workers=1, preload=False, gallery=str(tmp_path / "g")))) as c:  # dlib
        r = c.post("/api/v1/gallery/search", files={"file": ("q.jpg", jpg, "image/jpeg")})
        assert r.status_code == 422 and "holds embeddings of" in r.json()["detail"]


def test_a_real_network_through_embedder_separates_people() -> None:
    """dlib's descriptor net (shipped as ONNX) given as a user embedder: ArcFace-template crops at
    its 150 px input, dlib's input scaling. Not dlib's own chips, so the figures are not dlib's,
    but the same person must come out clearly closer than another (measured: same-person cosines
    0.962-0.968, Obama to Biden 0.908-0.928; dlib's cosines run high, its own threshold is 0.92)."""
    from facelens.identity.verify import cosine
    from facelens.models.runtime import asset_path

    analyzer = Analyzer("identity", max_faces=1, embedder=EmbedderSpec(asset_path("dlib_resnet_onnx"), norm="dlib"))
    names = ["obama", "obama2", "obama3", "biden"]
    emb = np.stack([analyzer.faces(read(data_path(f"identity/{n}.jpg"))).embedding[0] for n in names])
    sim = cosine(emb, emb)
    same = [sim[0, 1], sim[0, 2], sim[1, 2]]
    other = [sim[i, 3] for i in range(3)]
    assert min(same) - max(other) > 0.02, (same, other)
