"""`facelens clean` on a copy of the shared identity folders with planted faults; quarantine and undo."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from shared_data import data_path, load_rgb
from typer.testing import CliRunner

from facelens.cli import app
from facelens.scale.clean import hamming, near_pairs, phash

runner = CliRunner()
PEOPLE = ("amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart")

# Planted faults: finding -> the file (dataset-relative) that must be reported in it.
PLANTED = {
    "no_face": "amy/dogs.jpg",
    "multiple_faces": "bernadette/multi_face.jpg",
    "low_quality": "raj/raj2_blurred.png",
    "near_duplicates": "howard/howard1_copy.png",
    "identity_outliers": "penny/leonard1.png",
}
SPLIT = ("sheldon", "sheldon_2")  # one person split across two folders


def build_dataset(root: Path) -> None:
    """The 8 identity folders (40 crops) plus the planted faults."""
    for person in PEOPLE:
        shutil.copytree(data_path("identity", person), root / person)
    shutil.copy(data_path("detection", "dogs.jpg"), root / "amy" / "dogs.jpg")
    shutil.copy(data_path("detection", "multi_face.jpg"), root / "bernadette" / "multi_face.jpg")
    raj2 = cv2.imread(str(root / "raj" / "raj2.png"))
    cv2.imwrite(str(root / "raj" / "raj2_blurred.png"), cv2.GaussianBlur(raj2, (0, 0), 3))
    shutil.copy(root / "howard" / "howard1.png", root / "howard" / "howard1_copy.png")
    shutil.move(root / "leonard" / "leonard1.png", root / "penny" / "leonard1.png")
    (root / "sheldon_2").mkdir()
    for name in ("sheldon4.png", "sheldon5.png"):
        shutil.move(root / "sheldon" / name, root / "sheldon_2" / name)


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("radius", [0, 3, 6, 8])
def test_near_pairs_match_all_pairs(radius: int) -> None:
    """Multi-index lookup finds exactly the pairs that comparing every pair finds."""
    rng = np.random.default_rng(radius)
    base = rng.integers(0, 256, (60, 8), dtype=np.uint8)
    # Copies of the base hashes with 0-10 random bits flipped, so many pairs sit near the radius.
    bits = np.unpackbits(np.repeat(base, 5, axis=0), axis=1)
    for row, k in zip(bits, rng.integers(0, 11, len(bits))):
        row[rng.choice(64, k, replace=False)] ^= 1
    hashes = np.concatenate([base, np.packbits(bits, axis=1)])
    d = hamming(hashes, hashes)
    expected = {(i, j) for i, j in zip(*np.nonzero(d <= radius)) if i < j}
    index, bits = near_pairs(hashes, radius)
    got = {tuple(p) for p in index.tolist()}
    assert len(expected) >= 20 and got == expected
    np.testing.assert_array_equal(bits, d[index[:, 0], index[:, 1]])


def test_phash_near_copies_close_other_faces_far() -> None:
    rgb = load_rgb(data_path("identity", "raj", "raj2.png"))
    h = phash(rgb)[None]
    jpeg = cv2.imdecode(cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 50])[1], cv2.IMREAD_UNCHANGED)
    near = np.stack([phash(cv2.GaussianBlur(rgb, (0, 0), 3)), phash(cv2.resize(rgb, (100, 100))), phash(jpeg)])
    assert hamming(h, near).max() <= 6
    others = np.stack([phash(load_rgb(p)) for p in sorted(data_path("identity", "sheldon").glob("*.png"))])
    assert hamming(h, others).min() > 6


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    dataset, report = root / "dataset", root / "report"
    build_dataset(dataset)
    before = tree_hashes(dataset)
    result = runner.invoke(app, ["clean", str(dataset), "-o", str(report), "--workers", "2", "--apply", "quarantine"])
    return dataset, report, before, result


@pytest.mark.slow  # one clean run of a 44-image dataset
def test_every_planted_fault_found_with_at_most_two_false_flags(cleaned) -> None:
    dataset, report, _, result = cleaned
    assert result.exit_code == 0, result.output
    for finding, rel in PLANTED.items():
        table = pd.read_csv(report / f"{finding}.csv")
        column = table.rel if "rel" in table else pd.concat([table.path_a, table.path_b])
        assert rel in set(column), f"{rel} not in {finding}.csv"
    folders = pd.read_csv(report / "similar_folders.csv")
    pairs = {tuple(sorted(p)) for p in zip(folders.identity_a, folders.identity_b)}
    assert SPLIT in pairs
    flagged = set(pd.read_csv(report / "flagged.csv").rel)
    false_files = flagged - set(PLANTED.values())
    false_pairs = pairs - {SPLIT}
    assert len(false_files) + len(false_pairs) <= 2, (false_files, false_pairs)
    assert "howard/howard1.png" not in flagged  # a duplicate group keeps its best copy


@pytest.mark.slow  # one clean run of a 44-image dataset
def test_report_has_counts_thresholds_and_thumbnails(cleaned) -> None:
    _, report, _, _ = cleaned
    summary = json.loads((report / "summary.json").read_text())
    assert summary["images"] == 40 + 4 and summary["identities"] == 9
    assert summary["counts"]["similar_folders"] >= 1 and summary["thresholds"]["same_person"] == 0.6
    page = (report / "index.html").read_text()
    assert page.count("data:image/jpeg;base64,") >= len(PLANTED) and "outlier_k" in page and "dogs.jpg" in page


@pytest.mark.slow  # one clean run of a 44-image dataset
def test_quarantine_moves_flagged_files_and_undo_restores_bytes(cleaned) -> None:
    dataset, report, before, _ = cleaned
    log = json.loads((report / "quarantine.json").read_text())
    moved = {m["path"] for m in log["moves"]}
    assert set(PLANTED.values()) <= moved
    for rel in moved:
        assert not (dataset / rel).exists() and (report / "quarantine" / rel).exists()
    assert set(tree_hashes(dataset)) == set(before) - moved
    refused = runner.invoke(app, ["clean", str(dataset), "-o", str(report), "--apply", "quarantine"])
    assert refused.exit_code == 1 and "--undo" in refused.output

    result = runner.invoke(app, ["clean", "--undo", str(report)])
    assert result.exit_code == 0, result.output
    assert tree_hashes(dataset) == before
    assert not (report / "quarantine.json").exists() and list(report.glob("quarantine.undone-*.json"))
    assert runner.invoke(app, ["clean", "--undo", str(report)]).exit_code == 1


def _synthetic_table(rng: np.random.Generator) -> pd.DataFrame:
    """Three folders of four faces near their own centre; raj/raj1.png copied into penny/."""
    rows = []
    centres = {name: rng.normal(0, 0.15, 128) for name in ("penny", "raj", "amy")}
    for name, centre in centres.items():
        for k in range(4):
            rows.append((name, f"{name}/{name}{k}.png", centre + rng.normal(0, 0.01, 128), rng.integers(0, 256, 8, np.uint8)))
    genuine = rows[4]
    rows.append(("penny", "penny/raj1_copy.png", genuine[2].copy(), genuine[3].copy()))
    img = pd.DataFrame(rows, columns=["identity", "rel", "embedding", "phash"])
    return img.assign(error=None, faces=1, quality=0.8, sharpness=80.0, face_h=100.0, pose_Rx=0.0, pose_Ry=0.0,
                      whole_image=None)


def test_duplicate_across_folders_moves_only_the_copy_that_disagrees_with_its_folder() -> None:
    from facelens.scale.clean import Thresholds, find_problems

    findings, flagged = find_problems(_synthetic_table(np.random.default_rng(0)), Thresholds())
    dup = findings["near_duplicates"]
    assert len(dup) == 1 and bool(dup.across_identities[0])
    assert {dup.path_a[0], dup.path_b[0]} == {"raj/raj0.png", "penny/raj1_copy.png"}
    assert "penny/raj1_copy.png" in set(findings["identity_outliers"].rel)
    assert flagged == {"penny/raj1_copy.png": ["identity_outliers"]}


def test_worker_signals_are_those_of_the_decoded_image(tmp_path: Path) -> None:
    """The clean columns a worker adds (pHash, per-face sharpness, thumbnail) equal what the image
    gives when decoded again; an unreadable image gets nulls, and the empty schema matches."""
    from facelens import Analyzer
    from facelens.geometry.quality import sharpness
    from facelens.io.readers import read_image
    from facelens.scale.clean.signals import THUMB, image_signals
    from facelens.scale.local import file_table, rows_table

    analyzer = Analyzer("detect")
    photo = data_path("detection", "multi_face.jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photo.read_bytes()[:200])
    rows = file_table(analyzer, photo, extra=image_signals).to_pandas()
    rgb = read_image(photo)
    assert len(rows) >= 2 and rows.success.eq(1).all()
    assert set(rows.phash) == {phash(rgb).tobytes()}
    boxes = np.stack([rows.face_x, rows.face_y, rows.face_x + rows.face_w, rows.face_y + rows.face_h], 1)
    expected = sharpness(rgb, boxes.astype(np.float64).reshape(-1, 2, 2))
    np.testing.assert_allclose(rows.sharpness, expected)
    assert len(set(expected.round(3))) == len(rows)  # one value per face, not one per image
    thumb = cv2.imdecode(np.frombuffer(rows.thumb[0], np.uint8), cv2.IMREAD_COLOR)
    assert max(thumb.shape[:2]) == THUMB and rows.thumb.nunique() == 1
    bad = file_table(analyzer, broken, extra=image_signals)
    assert bad.column("error")[0].as_py() and bad.column("phash").null_count == bad.column("thumb").null_count == 1
    assert image_signals(None, rows_table(analyzer, [])).schema == bad.schema
