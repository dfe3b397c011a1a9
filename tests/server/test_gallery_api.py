"""Gallery endpoints over a gallery in a temp folder: add, list, search, remove, bad names."""

from __future__ import annotations

from shared_data import data_path


def upload(path):
    return {"file": (path.name, path.read_bytes(), "image/jpeg")}


def test_gallery_add_search_remove(make_client, tmp_path):
    with make_client(gallery=str(tmp_path / "gallery")) as c:
        assert c.get("/api/v1/gallery").json() == {"names": {}, "faces": 0}
        for name, file in [("obama", "obama.jpg"), ("obama", "obama2.jpg"), ("biden", "biden.jpg")]:
            r = c.post(f"/api/v1/gallery/people/{name}", files=upload(data_path("identity", file)))
            assert r.status_code == 200 and r.json()["faces"] == 1, r.text
        assert c.get("/api/v1/gallery").json() == {"names": {"biden": 1, "obama": 2}, "faces": 3}

        hits = c.post("/api/v1/gallery/search?k=2", files=upload(data_path("identity", "obama3.jpg"))).json()
        assert len(hits) == 1 and [m["name"] for m in hits[0]["matches"]] == ["obama", "obama"]
        assert hits[0]["matches"][0]["same"] and hits[0]["matches"][0]["file"] in ("obama.jpg", "obama2.jpg")
        group = c.post("/api/v1/gallery/search?k=1", files=upload(data_path("detection", "multi_face.jpg"))).json()
        assert len(group) == 5 and not any(h["matches"][0]["same"] for h in group)

        noface = c.post("/api/v1/gallery/people/nobody", files=upload(data_path("detection", "no-face.jpg")))
        assert noface.status_code == 422 and "no face" in noface.json()["detail"]
        bad_name = c.post("/api/v1/gallery/people/bad;name", files=upload(data_path("identity", "biden.jpg")))
        assert bad_name.status_code == 422 and "invalid name" in bad_name.json()["detail"]
        assert c.post("/api/v1/gallery/search?k=0", files=upload(data_path("identity", "biden.jpg"))).status_code == 422

        gone = c.delete("/api/v1/gallery/people/obama")
        assert gone.status_code == 200 and gone.json() == {"name": "obama", "faces": 2, "total": 1}
        assert c.delete("/api/v1/gallery/people/obama").status_code == 404
        assert c.get("/api/v1/gallery").json() == {"names": {"biden": 1}, "faces": 1}
