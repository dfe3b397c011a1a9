"""REST endpoints with FastAPI's TestClient: results match the library, bad inputs get clear 4xx JSON."""

from __future__ import annotations

import base64
import io
import json
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from facelens import Analyzer
from facelens.features import DEFAULT_FEATURES
from facelens.io.readers import read_image
from facelens.models.runtime import manifest
from facelens.schema import columns

from shared_data import SAMPLES, data_path


def post_image(client, path, query: str = "", name: str | None = None):
    return client.post(f"/api/v1/analyze{query}", files={"file": (name or path.name, path.read_bytes(), "image/jpeg")})


def test_health_and_models(client):
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["workers"] == 2 and health["free_workers"] == 2
    assert health["default_features"] == list(DEFAULT_FEATURES)
    models = client.get("/api/v1/models").json()
    assert [m["name"] for m in models] == list(manifest())
    for m in models:
        assert m["licence"] and len(m["sha256"]) == 64
    by_name = {m["name"]: m for m in models}
    assert by_name["dlib_face_recognition_resnet"]["version"] == "0.3.0"
    assert "non-commercial" in by_name["dlib_shape_predictor_68"]["licence"]


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/api/v1/analyze", "/api/v1/analyze/video", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/result",
        "/api/v1/verify", "/api/v1/health", "/api/v1/models", "/api/v1/gallery", "/api/v1/gallery/people/{name}",
        "/api/v1/gallery/search",
    }
    assert "X-API-Key" in json.dumps(spec["components"]["securitySchemes"])
    assert set(spec["paths"]["/api/v1/analyze"]["post"]["responses"]) >= {"200", "400", "413", "415", "422"}


def test_analyze_matches_the_library(client):
    path = data_path("detection", "multi_face.jpg")
    r = post_image(client, path)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["faces"] == 5 and (body["width"], body["height"]) == (1000, 667)
    assert body["columns"] == columns(DEFAULT_FEATURES)  # the CLI's CSV columns; no vectors
    assert body["overlay"] is None
    rows = pd.DataFrame(body["rows"])
    assert (rows.success == 1).all() and rows.file.eq("multi_face.jpg").all()
    expected = Analyzer().faces(read_image(path))
    np.testing.assert_allclose(rows[["face_x", "face_y", "face_w", "face_h"]].to_numpy(), expected.xywh, atol=1e-3)
    np.testing.assert_allclose(rows.pose_Ry.to_numpy(), expected.pose_R[:, 1], atol=1e-4)
    assert rows.emotion.tolist() == expected.emotion_label


def test_analyze_features_vectors_and_overlay(client):
    path = data_path("detection", "single_face.jpg")
    few = post_image(client, path, "?features=landmarks,pose").json()
    assert few["columns"] == columns({"landmarks", "pose"}) and few["features"] == ["landmarks", "pose"]
    full = post_image(client, path, "?features=all&vectors=true&overlay=true").json()
    row = full["rows"][0]
    assert len(row["embedding"]) == 128 and len(row["mesh"]) == 478 * 3
    assert full["overlay"].startswith("data:image/jpeg;base64,")
    drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(full["overlay"].split(",", 1)[1]))))
    original = read_image(path)
    assert drawn.shape == original.shape
    x, y, w, h = (int(row[k]) for k in ("face_x", "face_y", "face_w", "face_h"))
    changed = np.abs(drawn.astype(int) - original).sum(2) > 60
    assert changed[y : y + h, x : x + w].mean() > 0.02  # landmarks, axes and gaze drawn on the face
    assert changed.mean() < 0.2


def test_no_face_and_rgba_images(client):
    body = post_image(client, data_path("detection", "no-face.jpg")).json()
    assert body["faces"] == 0 and len(body["rows"]) == 1 and body["rows"][0]["success"] == 0
    assert body["rows"][0]["face_x"] is None  # NaN / missing become null
    rgba = post_image(client, data_path("identity", "32bit.png"), name="32bit.png")
    assert rgba.status_code == 200 and rgba.json()["faces"] == 1


@pytest.mark.parametrize("payload, status, words", [
    (b"", 400, "empty upload"),
    (b"just some text, no picture", 415, "not an image"),
    ("truncated", 422, "corrupt or truncated"),
])
def test_bad_uploads(client, payload, status, words):
    if payload == "truncated":
        data = (SAMPLES / "astronaut.jpg").read_bytes()
        payload = data[: len(data) // 3]
    r = client.post("/api/v1/analyze", files={"file": ("bad.jpg", payload, "image/jpeg")})
    assert r.status_code == status
    assert words in r.json()["detail"] and "bad.jpg" in r.json()["detail"]


def test_bad_requests_then_still_serving(client):
    missing = client.post("/api/v1/analyze")
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "file"]
    raw = client.post("/api/v1/analyze", content=b"\xff\xd8 not multipart", headers={"Content-Type": "image/jpeg"})
    assert raw.status_code == 422
    unknown = post_image(client, SAMPLES / "astronaut.jpg", "?features=landmarks,tail")
    assert unknown.status_code == 422 and "unknown feature(s) tail" in unknown.json()["detail"]
    crops = post_image(client, SAMPLES / "astronaut.jpg", "?features=crops")
    assert crops.status_code == 422 and "crops" in crops.json()["detail"]
    assert client.get("/api/v1/nowhere").status_code == 404
    assert client.get("/api/v1/jobs/0123").status_code == 404
    off = client.get("/api/v1/gallery")
    assert off.status_code == 404 and "--gallery" in off.json()["detail"]
    ok = post_image(client, SAMPLES / "astronaut.jpg")
    assert ok.status_code == 200 and ok.json()["faces"] == 1
    assert client.get("/api/v1/health").json()["free_workers"] == 2


def verify_pair(client, a, b):
    return client.post("/api/v1/verify", files={"a": (a.name, a.read_bytes()), "b": (b.name, b.read_bytes())})


def test_verify_same_and_different(client):
    same = verify_pair(client, data_path("identity", "obama.jpg"), data_path("identity", "obama2.jpg")).json()
    other = verify_pair(client, data_path("identity", "obama.jpg"), data_path("identity", "biden.jpg")).json()
    assert same["same"] and same["distance"] < same["threshold"] == 0.6
    assert not other["same"] and other["distance"] > 0.6
    assert len(same["boxes"]) == 2 and same["faces_found"] == [1, 1] and same["whole_image"] == [False, False]
    group = verify_pair(client, data_path("detection", "multi_face.jpg"), data_path("detection", "multi_face.jpg")).json()
    assert group["faces_found"] == [5, 5] and group["face_a"] == group["face_b"] and group["distance"] < 1e-3


def test_verify_matches_the_identity_library(client):
    from facelens.identity.verify import verify

    a, b = data_path("identity", "obama.jpg"), data_path("identity", "obama3.jpg")
    expected = verify(a, b)
    got = verify_pair(client, a, b).json()
    assert got["same"] == expected.same and got["distance"] == pytest.approx(expected.distance, abs=1e-3)
    assert got["boxes"] == [expected.box_a, expected.box_b]


def test_verify_bad_inputs(client, tmp_path):
    crop = tmp_path / "blank.png"  # no face to detect: embedded whole
    cv2.imwrite(str(crop), np.full((150, 150, 3), 128, np.uint8))
    whole = verify_pair(client, crop, data_path("identity", "stuart", "stuart1.png")).json()
    assert whole["whole_image"] == [True, False] and whole["faces_found"][0] == 0
    notimage = client.post("/api/v1/verify", files={"a": ("a.jpg", b"nope"), "b": ("b.jpg", b"nope")})
    assert notimage.status_code == 415 and "a.jpg" in notimage.json()["detail"]
    empty = client.post("/api/v1/verify", files={"a": ("a.jpg", b""), "b": ("b.jpg", crop.read_bytes())})
    assert empty.status_code == 400
    one = client.post("/api/v1/verify", files={"a": ("a.jpg", crop.read_bytes())})
    assert one.status_code == 422


def post_video(client, path, query: str = "?every=5", name: str | None = None):
    return client.post(f"/api/v1/analyze/video{query}", files={"file": (name or path.name, path.read_bytes(), "video/mp4")})


def test_video_job_progress_result_and_downloads(client, poll_job):
    start = post_video(client, data_path("video", "single_face.mp4"))
    assert start.status_code == 202, start.text
    job = start.json()
    assert job["status"] in ("queued", "running") and job["frames_total"] == 15 and job["result"] is None
    done = poll_job(client, job["id"])
    assert done["status"] == "done", done["error"]
    assert not list(Path(tempfile.gettempdir()).glob("facelens-job-*"))  # the upload is deleted once the job ends
    assert done["frames_done"] == 15 and done["progress"] == 1.0 and done["expires_at"] > done["finished"]
    rows = pd.DataFrame(done["result"]["rows"])
    assert done["result"]["columns"] == columns(DEFAULT_FEATURES)
    assert rows.frame.tolist() == list(range(0, 72, 5)) and (rows.success == 1).all()
    assert rows.track_id.nunique() == 1 and rows.file.eq("single_face.mp4").all()
    assert rows.timestamp.is_monotonic_increasing

    csv = client.get(f"/api/v1/jobs/{job['id']}/result?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="single_face.csv"' in csv.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(csv.content))
    assert list(table.columns) == columns(DEFAULT_FEATURES) and len(table) == 15
    np.testing.assert_allclose(table.face_x, rows.face_x, rtol=1e-5)
    parquet = pq.read_table(io.BytesIO(client.get(f"/api/v1/jobs/{job['id']}/result?format=parquet").content))
    assert parquet.num_rows == 15 and len(parquet.column("embedding")[0]) == 128
    as_json = client.get(f"/api/v1/jobs/{job['id']}/result?format=json").json()
    assert len(as_json["rows"]) == 15 and len(as_json["rows"][0]["embedding"]) == 128
    assert client.get(f"/api/v1/jobs/{job['id']}/result?format=xlsx").status_code == 422

    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 404


def test_video_job_waits_for_a_free_analyzer(client):
    pool = client.app.state.service.pool
    with pool.borrow(frozenset()), pool.borrow(frozenset()):  # every analyzer busy: the job stays queued
        job = post_video(client, data_path("video", "single_face.mp4"), "?every=35&features=landmarks").json()
        assert client.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "queued"
        early = client.get(f"/api/v1/jobs/{job['id']}/result")
        assert early.status_code == 409 and "not ready" in early.json()["detail"]
        assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 409


def test_download_name_is_safe_in_a_header(client, poll_job):
    clip = data_path("video", "single_face.mp4").read_bytes()
    job = client.post("/api/v1/analyze/video?every=35&features=landmarks",
                      files={"file": ('bad "name"; é.mp4', clip, "video/mp4")}).json()
    assert job["file"].endswith("é.mp4") and poll_job(client, job["id"])["status"] == "done"
    r = client.get(f"/api/v1/jobs/{job['id']}/result")
    assert r.status_code == 200
    assert re.fullmatch(r'attachment; filename="bad_[\w.-]*_\.csv"', r.headers["content-disposition"], re.ASCII)


@pytest.mark.parametrize("name, payload, status", [
    ("clip.mp4", b"", 400),
    ("photo.jpg", b"\xff\xd8\xff\xe0 a jpeg, not a video", 415),
    ("clip.mp4", b"\x00\x00\x00\x18ftypmp42 garbage that is not a video" * 20, 422),
])
def test_bad_video_uploads(client, name, payload, status):
    r = client.post("/api/v1/analyze/video", files={"file": (name, payload, "video/mp4")})
    assert r.status_code == status, r.text
    assert name in r.json()["detail"] and "/tmp" not in r.json()["detail"]


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"overlay\">" in page.text
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200


def test_docs_page_is_served_without_a_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
