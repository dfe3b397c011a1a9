"""Concurrent uploads against a live uvicorn on 127.0.0.1: no errors, identical answers, pool intact."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from shared_data import data_path


def test_eight_concurrent_uploads_mixed_with_bad_ones(live_server):
    photo = data_path("detection", "multi_face.jpg").read_bytes()
    pair = {"a": ("a.jpg", data_path("identity", "obama.jpg").read_bytes()),
            "b": ("b.jpg", data_path("identity", "obama2.jpg").read_bytes())}

    def call(i: int) -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=120) as http:
            if i % 4 == 3:
                return http.post("/api/v1/analyze", files={"file": ("bad.jpg", b"not an image")})
            if i % 4 == 2:
                return http.post("/api/v1/verify", files=pair)
            return http.post("/api/v1/analyze", files={"file": ("multi_face.jpg", photo)})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(call, range(16)))
    analyses = [r for i, r in enumerate(responses) if i % 4 in (0, 1)]
    assert all(r.status_code == 200 for r in analyses), [r.text for r in analyses if r.status_code != 200]
    assert all(r.json()["faces"] == 5 for r in analyses)
    first = analyses[0].json()["rows"]
    assert all(r.json()["rows"] == first for r in analyses)  # concurrency changes nothing in the numbers
    verifies = [responses[i] for i in range(2, 16, 4)]
    assert all(r.status_code == 200 and r.json()["same"] for r in verifies)
    assert len({r.json()["distance"] for r in verifies}) == 1
    assert all(responses[i].status_code == 415 for i in range(3, 16, 4))
    health = httpx.get(live_server + "/api/v1/health").json()
    assert health["free_workers"] == health["workers"] == 2
