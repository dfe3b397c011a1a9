"""Bad input gets a clear InputError naming the file; odd formats decode to RGB uint8."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facelens.errors import InputError
from facelens.io import readers

from shared_data import SAMPLES, data_path


def test_missing_empty_text_and_truncated(tmp_path):
    with pytest.raises(InputError, match="nope.jpg: no such file"):
        readers.read_image(tmp_path / "nope.jpg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.png: empty file"):
        readers.read_image(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(InputError, match="notes.jpg: not a readable image"):
        readers.read_image(text)
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="cut.jpg: corrupt or truncated"):
        readers.read_image(cut)
    with pytest.raises(InputError, match="empty image data"):
        readers.read_image(b"")


def test_sixteen_bit_gray_rgba_and_palette(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    rgb = readers.read_image(tmp_path / "g16.png")
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert rgb[-1, -1, 0] == round(ramp[-1, -1] / 65535 * 255)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top half opaque red, bottom transparent -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = readers.read_image(tmp_path / "a.png")
    assert out[0, 0].tolist() == [255, 0, 0] and out[-1, -1].tolist() == [255, 255, 255]
    Image.fromarray(np.full((5, 7), 77, np.uint8)).save(tmp_path / "gray.jpg")
    assert readers.read_image(tmp_path / "gray.jpg").shape == (5, 7, 3)
    assert readers.read_image(data_path("identity", "32bit.png")).shape[2] == 3


def test_exif_rotation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert readers.read_image(tmp_path / "rot.jpg").shape == (40, 20, 3)


def test_huge_image_is_refused(tmp_path, monkeypatch):
    Image.new("RGB", (300, 300)).save(tmp_path / "big.png")
    monkeypatch.setattr(readers, "MAX_PIXELS", 10_000)
    with pytest.raises(InputError, match="big.png: 300x300 is over the 10,000-pixel limit"):
        readers.read_image(tmp_path / "big.png")


def test_bytes_and_arrays():
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    rgb = readers.read_image(data)
    assert rgb.shape == (512, 512, 3)
    assert np.array_equal(readers.as_rgb(rgb[..., ::-1], bgr=True), rgb)
    assert readers.as_rgb(np.zeros((4, 4), np.uint16)).shape == (4, 4, 3)
    with pytest.raises(InputError, match=r"shape \(4, 4, 2\)"):
        readers.as_rgb(np.zeros((4, 4, 2), np.uint8))


def test_list_inputs_recurses_and_keeps_named_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.jpg").write_bytes(b"1")
    (tmp_path / "a" / "y.mp4").write_bytes(b"1")
    (tmp_path / "a" / "notes.txt").write_text("skip me")
    found = readers.list_inputs([tmp_path / "a", tmp_path / "missing.png"])
    assert [p.name for p in found] == ["x.jpg", "y.mp4", "missing.png"]


def test_fifos_and_broken_links_in_a_folder_get_error_rows(tmp_path):
    from facelens import Analyzer

    folder = tmp_path / "inbox"
    folder.mkdir()
    os.mkfifo(folder / "pipe.jpg")  # would block a reader that opened it
    os.mkfifo(folder / "pipe.txt")  # not a media name: skipped like any other
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "clip.mp4").symlink_to(folder / "clip.mp4")
    found = readers.list_inputs([folder])
    assert [p.name for p in found] == ["clip.mp4", "gone.png", "loop.jpg", "pipe.jpg"]
    errors = {Path(r.source).name: r.error for r in Analyzer("landmarks").iter(folder)}
    assert errors == {
        "clip.mp4": f"{folder / 'clip.mp4'}: cannot be opened (Too many levels of symbolic links)",
        "gone.png": f"{folder / 'gone.png'}: dangling symbolic link",
        "loop.jpg": f"{folder / 'loop.jpg'}: cannot be opened (Too many levels of symbolic links)",
        "pipe.jpg": f"{folder / 'pipe.jpg'}: not a regular file (a FIFO, socket or device)",
    }
    with pytest.raises(InputError, match="is a folder"):
        readers.read_image(folder)


def test_video_frames_have_monotonic_timestamps():
    frames = list(readers.read_video(SAMPLES / "astronaut_pan.mp4"))
    info = readers.video_info(SAMPLES / "astronaut_pan.mp4")
    assert len(frames) == info.frames == 72
    ts = np.array([f.timestamp for f in frames])
    assert np.all(np.diff(ts) > 0)
    assert np.allclose(ts, np.arange(72) / info.fps, atol=1 / info.fps)


def test_truncated_video(tmp_path):
    data = data_path("video", "single_face.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:1000])
    with pytest.raises(InputError):
        list(readers.read_video(tmp_path / "cut.mp4"))
