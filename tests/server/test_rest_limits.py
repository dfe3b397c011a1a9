"""Limits, API key, timeouts, job expiry and settings: every refusal is a JSON 4xx and the server goes on."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from typer.testing import CliRunner

from facelens.errors import FeatureError
from facelens.server.settings import Settings
from facelens.server.commands import is_loopback

from shared_data import SAMPLES, data_path

ASTRONAUT = SAMPLES / "astronaut.jpg"


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buf, "PNG")
    return buf.getvalue()


def test_oversize_uploads_get_413(make_client):
    with make_client(max_upload_mb=0.05, max_pixels=1_000_000) as c:
        big = ASTRONAUT.read_bytes()
        assert len(big) > 0.05 * 1024 * 1024
        by_length = c.post("/api/v1/analyze", files={"file": ("a.jpg", big)})
        assert by_length.status_code == 413 and "0.05 MB upload limit" in by_length.json()["detail"]

        def chunks():  # no Content-Length: the limit is enforced while the body streams in
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
            for _ in range(10):
                yield b"\0" * 10_000
            yield b"\r\n--b--\r\n"

        streamed = c.post("/api/v1/analyze", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert streamed.status_code == 413 and "upload limit" in streamed.json()["detail"]
        pixels = c.post("/api/v1/analyze", files={"file": ("wide.png", png(1200, 1000))})
        assert pixels.status_code == 413 and "1200x1000 image is over the 1,000,000-pixel limit" in pixels.json()["detail"]
        video = c.post("/api/v1/analyze/video", files={"file": ("big.mp4", b"\0" * 60_000)})
        assert video.status_code == 413
        small = c.post("/api/v1/analyze?features=landmarks", files={"file": ("small.png", png(300, 200))})
        assert small.status_code == 200 and small.json()["faces"] == 0


def test_video_frame_and_pixel_limits(make_client):
    clip = data_path("video", "single_face.mp4").read_bytes()
    with make_client(max_video_frames=10) as c:
        r = c.post("/api/v1/analyze/video", files={"file": ("clip.mp4", clip)})
        assert r.status_code == 413 and "72 frames to analyse is over the limit of 10" in r.json()["detail"]
        assert c.post("/api/v1/analyze/video?every=0", files={"file": ("clip.mp4", clip)}).status_code == 422
    with make_client(max_pixels=10_000) as c:
        r = c.post("/api/v1/analyze/video", files={"file": ("clip.mp4", clip)})
        assert r.status_code == 413 and "pixel limit" in r.json()["detail"]


def test_api_key_is_required_on_every_api_call(make_client):
    with make_client(api_key="s3cret") as c:
        calls = [("get", "/api/v1/health", {}), ("get", "/api/v1/models", {}), ("get", "/api/v1/jobs/x", {}),
                 ("get", "/api/v1/jobs/x/result", {}), ("delete", "/api/v1/jobs/x", {}),
                 ("post", "/api/v1/analyze", {"files": {"file": ("a.jpg", ASTRONAUT.read_bytes())}}),
                 ("post", "/api/v1/analyze/video", {"files": {"file": ("a.mp4", b"x")}}),
                 ("post", "/api/v1/verify", {"files": {"a": ("a.jpg", b"x"), "b": ("b.jpg", b"x")}})]
        for method, url, kwargs in calls:
            for headers in ({}, {"X-API-Key": "wrong"}):
                r = getattr(c, method)(url, headers=headers, **kwargs)
                assert r.status_code == 401, (method, url, r.text)
                assert r.json()["detail"] == "missing or wrong X-API-Key header"
        key = {"X-API-Key": "s3cret"}
        assert c.get("/api/v1/health", headers=key).status_code == 200
        r = c.post("/api/v1/analyze?features=landmarks", headers=key, files={"file": ("a.jpg", ASTRONAUT.read_bytes())})
        assert r.status_code == 200 and r.json()["faces"] == 1
        assert c.get("/").status_code == 200  # the page itself holds no data


def test_timeout_gives_504_and_the_analyzer_comes_back(make_client):
    with make_client(timeout_s=0.01) as c:
        r = c.post("/api/v1/analyze", files={"file": ("a.jpg", data_path("detection", "multi_face.jpg").read_bytes())})
        assert r.status_code == 504 and "did not finish within 0.01 s" in r.json()["detail"]
        deadline = time.monotonic() + 30
        while c.get("/api/v1/health").json()["free_workers"] != 1:  # the abandoned thread returns it
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_finished_jobs_expire(make_client, poll_job):
    with make_client(job_ttl_s=0.3) as c:
        clip = data_path("video", "single_face.mp4").read_bytes()
        job = c.post("/api/v1/analyze/video?every=35&features=landmarks", files={"file": ("c.mp4", clip)}).json()
        assert poll_job(c, job["id"])["status"] == "done"
        jobs = c.app.state.service.jobs
        time.sleep(0.8)
        assert job["id"] not in jobs._jobs  # swept without being asked for: results do not linger in memory
        gone = c.get(f"/api/v1/jobs/{job['id']}")
        assert gone.status_code == 404 and "expired" in gone.json()["detail"]


def test_unexpected_failure_is_a_500_json_and_the_server_goes_on(make_client, monkeypatch):
    from facelens.server.service import Service

    with make_client() as c:
        real = Service.analyze

        def broken(self, *args, **kwargs):
            raise RuntimeError("model exploded")

        monkeypatch.setattr(Service, "analyze", broken)
        r = c.post("/api/v1/analyze", files={"file": ("a.jpg", ASTRONAUT.read_bytes())})
        assert r.status_code == 500 and "RuntimeError" in r.json()["detail"] and "exploded" not in r.text
        monkeypatch.setattr(Service, "analyze", real)
        assert c.post("/api/v1/analyze?features=landmarks", files={"file": ("a.jpg", ASTRONAUT.read_bytes())}).status_code == 200


def test_settings_from_environment():
    env = {"FACELENS_MAX_UPLOAD_MB": "2.5", "FACELENS_MAX_PIXELS": "1000", "FACELENS_API_KEY": "k",
           "FACELENS_WORKERS": "3", "FACELENS_JOB_TTL_S": "10"}
    s = Settings.from_env(env, workers=1)
    assert (s.max_upload_mb, s.max_upload_bytes, s.max_pixels, s.api_key, s.workers, s.job_ttl_s) == \
        (2.5, 2_621_440, 1000, "k", 1, 10.0)
    assert Settings.from_env({}).api_key is None
    with pytest.raises(FeatureError, match="FACELENS_WORKERS='many'"):
        Settings.from_env({"FACELENS_WORKERS": "many"})
    with pytest.raises(FeatureError, match="timeout_s must be positive"):
        Settings.from_env({}, timeout_s=0)


def test_loopback_server_refuses_other_host_names():
    from fastapi.testclient import TestClient

    from facelens.server.commands import build_app

    settings = Settings(workers=1, preload=False)
    with TestClient(build_app(settings, "127.0.0.1"), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/v1/health").status_code == 200
        assert c.get("/api/v1/health", headers={"Host": "localhost:8000"}).status_code == 200
        rebound = c.get("/api/v1/health", headers={"Host": "attacker.example:8000"})  # DNS rebinding
        assert rebound.status_code == 400
    with TestClient(build_app(settings, "0.0.0.0"), base_url="http://lab-server.example") as c:
        assert c.get("/api/v1/health").status_code == 200  # served beyond loopback: any name


def test_serve_command_checks_settings_and_binds_loopback_by_default(monkeypatch):
    from facelens.cli import app

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    monkeypatch.setenv("FACELENS_MAX_PIXELS", "lots")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2 and "FACELENS_MAX_PIXELS='lots'" in result.output
    help_text = CliRunner().invoke(app, ["serve", "--help"]).output
    assert "127.0.0.1" in help_text and "--max-upload-mb" in help_text


def test_a_failing_job_reports_its_error(make_client, poll_job, monkeypatch):
    from facelens.api import Analyzer
    from facelens.errors import InputError

    def broken(self, path, **kwargs):
        raise InputError(f"{path}: decoder gave up at frame 3")
        yield  # a generator, like the real one

    monkeypatch.setattr(Analyzer, "video", broken)
    with make_client() as c:
        clip = data_path("video", "single_face.mp4").read_bytes()
        job = c.post("/api/v1/analyze/video", files={"file": ("clip.mp4", clip)}).json()
        failed = poll_job(c, job["id"])
        assert failed["status"] == "failed" and failed["error"] == "clip.mp4: decoder gave up at frame 3"
        assert failed["result"] is None and failed["finished"] is not None
        r = c.get(f"/api/v1/jobs/{job['id']}/result")
        assert r.status_code == 422 and "decoder gave up" in r.json()["detail"]
