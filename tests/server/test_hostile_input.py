"""Uploads a careful attacker would send: each gets a clear 4xx or a correct answer, never a 500,
a server path, a foreign decoder, a spreadsheet formula or more frames than the limit."""

from __future__ import annotations

import base64
import io
import struct
from pathlib import Path

import cv2
import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import EpsImagePlugin, Image

from facelens.server.media import upload_name

from shared_data import data_path


def lying_avi(path: Path, frames: int, declared: int) -> bytes:
    """An MJPEG AVI of `frames` frames whose avih, strh and dmlh headers say `declared`."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 4 * i, np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    for tag, offset in ((b"avih", 16), (b"strh", 32), (b"dmlh", 0)):  # dwTotalFrames, dwLength, dwTotalFrames
        at = data.find(tag)
        assert at >= 0, tag
        struct.pack_into("<I", data, at + 8 + offset, declared)
    path.write_bytes(data)
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == declared  # the lie is what the container reports
    cap.release()
    return bytes(data)


def test_video_frame_limit_holds_when_the_header_lies(make_client, poll_job, tmp_path):
    clip = lying_avi(tmp_path / "lie.avi", frames=40, declared=5)
    with make_client(max_video_frames=10) as c:
        r = c.post("/api/v1/analyze/video?features=landmarks", files={"file": ("lie.avi", clip)})
        assert r.status_code == 202 and r.json()["frames_total"] == 5
        job = poll_job(c, r.json()["id"])
        assert job["status"] == "failed" and job["frames_done"] == 10, job
        assert job["error"] == "lie.avi: more than 10 frames to analyse (the file declared 5); over the limit, stopped"
        at_limit = c.post("/api/v1/analyze/video?features=landmarks&every=4", files={"file": ("lie.avi", clip)})
        job = poll_job(c, at_limit.json()["id"])  # 40 frames, every 4th: 10, at the limit
        assert job["status"] == "done" and job["frames_done"] == 10, job


def test_gallery_stores_the_upload_name_never_a_server_path(make_client, tmp_path, monkeypatch):
    workdir = tmp_path / "server-workdir"
    workdir.mkdir()
    (workdir / "obama.jpg").write_bytes(b"a file the server happens to have")
    monkeypatch.chdir(workdir)
    photo = data_path("identity", "obama.jpg").read_bytes()
    with make_client(gallery=str(tmp_path / "gallery")) as c:
        assert c.post("/api/v1/gallery/people/obama", files={"file": ("obama.jpg", photo)}).status_code == 200
        assert c.post("/api/v1/gallery/people/obama", files={"file": ("../../x\\y\\obama2.jpg", photo)}).status_code == 200
        hits = c.post("/api/v1/gallery/search?k=2", files={"file": ("q.jpg", photo)}).json()
    assert sorted(m["file"] for m in hits[0]["matches"]) == ["obama.jpg", "obama2.jpg"]


def test_upload_display_names():
    class Upload:
        def __init__(self, filename):
            self.filename = filename

    assert upload_name(Upload("/etc/passwd"), "upload") == "passwd"
    assert upload_name(Upload("C:\\Users\\me\\a.jpg"), "upload") == "a.jpg"
    assert upload_name(Upload("a\r\nSet-Cookie: x.jpg"), "upload") == "aSet-Cookie: x.jpg"
    assert upload_name(Upload(".."), "upload") == "upload" and upload_name(Upload(None), "upload") == "upload"
    long = upload_name(Upload("x" * 400 + ".mp4"), "upload")
    assert len(long) == 255 and long.endswith(".mp4")


EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 32 32
%%EndComments
newpath 0 0 moveto 32 32 lineto stroke
showpage
%%EOF
"""


def encoded(fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 80)).save(buf, fmt, **params)
    return buf.getvalue()


def test_uploads_reach_only_the_listed_decoders(make_client, monkeypatch):
    launched = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: launched.append(a) or Image.new("RGB", (32, 32)))
    assert Image.open(io.BytesIO(EPS)).size == (32, 32)  # Pillow alone would take it for an image
    with make_client() as c:
        for name, data in [("drawing.eps", EPS), ("icon.ico", encoded("ICO")), ("photo.jpg", EPS)]:
            r = c.post("/api/v1/analyze?features=landmarks", files={"file": (name, data)})
            assert r.status_code == 415, (name, r.text)
            assert r.json()["detail"] == f"{name}: not an image in a format the server accepts " \
                                         "(JPEG, PNG, WebP, BMP, TIFF or GIF)"
        for name, fmt in [("a.webp", "WEBP"), ("a.bmp", "BMP"), ("a.tif", "TIFF"), ("a.gif", "GIF"), ("a.png", "PNG")]:
            r = c.post("/api/v1/analyze?features=landmarks", files={"file": (name, encoded(fmt))})
            assert r.status_code == 200 and r.json()["width"] == 32, (name, r.text)
        assert "JPEG, PNG, WebP, BMP, TIFF or GIF" in str(c.get("/openapi.json").json())
    assert launched == []


def local_port(response: httpx.Response) -> int:
    return response.extensions["network_stream"].get_extra_info("socket").getsockname()[1]


@pytest.mark.parametrize("size", [(39999, 1), (1, 39999)])
def test_extreme_aspect_ratio_with_overlay(live_server, size):
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(buf, "PNG")
    with httpx.Client(base_url=live_server, timeout=120) as http:
        r = http.post("/api/v1/analyze?overlay=true&features=landmarks", files={"file": ("strip.png", buf.getvalue())})
        assert r.status_code == 200, r.text
        jpeg = base64.b64decode(r.json()["overlay"].split(",", 1)[1])
        assert Image.open(io.BytesIO(jpeg)).size == ((1600, 1) if size[0] > 1 else (1, 1600))
        assert http.get("/api/v1/health").status_code == 200


def test_an_internal_error_keeps_the_connection(live_server, monkeypatch):
    from facelens.server.service import Service

    def broken(self, *args, **kwargs):
        raise RuntimeError("model exploded")

    photo = data_path("identity", "obama.jpg").read_bytes()
    with httpx.Client(base_url=live_server, timeout=120) as http:
        first = http.get("/api/v1/health")
        monkeypatch.setattr(Service, "analyze", broken)
        failed = http.post("/api/v1/analyze", files={"file": ("a.jpg", photo)})
        assert failed.status_code == 500 and "RuntimeError" in failed.json()["detail"]
        monkeypatch.undo()
        after = http.get("/api/v1/health")
        assert after.status_code == 200
        assert local_port(first) == local_port(failed) == local_port(after)  # one keep-alive connection throughout


def test_csv_result_neutralises_formula_names(client, poll_job):
    clip = data_path("video", "single_face.mp4").read_bytes()
    job = client.post("/api/v1/analyze/video?every=35&features=landmarks",
                      files={"file": ("=SUM(1,2)+cmd.mp4", clip, "video/mp4")}).json()
    assert poll_job(client, job["id"])["status"] == "done"
    r = client.get(f"/api/v1/jobs/{job['id']}/result?format=csv")
    df = pd.read_csv(io.StringIO(r.text))
    assert set(df.file) == {"'=SUM(1,2)+cmd.mp4"} and len(df) == 3
    assert '"\'=SUM(1,2)+cmd.mp4"' in r.text.splitlines()[1]
    as_json = client.get(f"/api/v1/jobs/{job['id']}/result?format=json").json()
    assert {row["file"] for row in as_json["rows"]} == {"=SUM(1,2)+cmd.mp4"}  # JSON keeps the name as it is


def test_api_key_is_checked_before_the_body_is_read(make_client, monkeypatch):
    from starlette.requests import Request

    parsed = []
    real = Request.form

    def counting(self, *args, **kwargs):
        parsed.append(self.url.path)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Request, "form", counting)
    photo = data_path("identity", "obama.jpg").read_bytes()
    with make_client(api_key="s3cret") as c:
        r = c.post("/api/v1/analyze?features=landmarks", files={"file": ("a.jpg", photo)})
        assert r.status_code == 401 and parsed == []
        ok = c.post("/api/v1/analyze?features=landmarks", files={"file": ("a.jpg", photo)}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200 and parsed == ["/api/v1/analyze"]
