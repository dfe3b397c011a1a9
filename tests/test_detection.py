"""Detection on real photos: counts, recall on hand-drawn VOC boxes, no false positives."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from facelens.models.blazeface import BlazeFace, anchors, SPECS
from facelens.track import iou_matrix

from shared_data import data_path, load_rgb


def test_anchor_counts_match_the_networks():
    assert len(anchors(SPECS["short"])) == 896
    assert len(anchors(SPECS["full"])) == 2304


@pytest.mark.parametrize("name,count", [
    ("detection/multi_face.jpg", 5), ("detection/single_face.jpg", 1), ("detection/no-face.jpg", 0),
    ("detection/dogs.jpg", 0), ("misc/astronaut.png", 1),
])
def test_face_counts(fast_analyzer, name, count):
    faces = fast_analyzer.faces(load_rgb(data_path(*name.split("/"))))
    assert len(faces) == count


def voc_boxes() -> dict[str, np.ndarray]:
    truth: dict[str, list] = {}
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(data_path("detection", xml)).getroot().iter("image"):
            for b in image.iter("box"):
                if b.get("ignore") == "1":
                    continue
                x, y, w, h = (float(b.get(k)) for k in ("left", "top", "width", "height"))
                truth.setdefault(image.get("file"), []).append([x, y, x + w, y + h])
    return {k: np.array(v) for k, v in truth.items()}


def detection_recall(detector, iou_thr: float = 0.4) -> tuple[float, int]:
    """Recall on the VOC boxes and unmatched detections of `detector(rgb) -> Detections`."""
    hits = total = false_pos = 0
    for name, truth in voc_boxes().items():
        found = detector(load_rgb(data_path("detection", name))).boxes
        total += len(truth)
        iou = iou_matrix(truth, found) if len(found) else np.zeros((len(truth), 0))
        used: set[int] = set()
        for row in iou:
            order = [j for j in np.argsort(-row) if j not in used and row[j] >= iou_thr]
            if order:
                used.add(order[0])
                hits += 1
        false_pos += len(found) - len(used)
    return hits / total, false_pos


def test_voc_recall_at_iou_04():
    recall, _ = detection_recall(BlazeFace("full"))
    assert recall >= 0.90, f"recall {recall:.3f} on the 43 VOC boxes"


def test_voc_recall_through_the_analyzer(fast_analyzer):
    """What users get: the analyzer also detects on a padded copy of images up to 512 px."""
    recall, false_pos = detection_recall(fast_analyzer.detect_faces)
    assert recall >= 0.90 and false_pos == 0, (recall, false_pos)


def test_merge_drops_a_partial_face_inside_a_whole_one():
    from facelens.pipeline import merge_detections as _merge
    from facelens.models.blazeface import Detections

    kps = np.zeros((1, 6, 2), np.float32)
    partial = Detections(np.array([[0, 29, 70, 106]], np.float32), np.array([0.64], np.float32), kps)
    whole = Detections(np.array([[0, 0, 141, 142], [200, 0, 300, 100]], np.float32),
                       np.array([0.84, 0.6], np.float32), np.zeros((2, 6, 2), np.float32))
    merged = _merge(partial, whole)
    np.testing.assert_array_equal(merged.boxes, whole.boxes)
    # The partial box goes even though its IoU with the whole face is only 0.27.
    assert iou_matrix(partial.boxes, whole.boxes[:1])[0, 0] < 0.3


def test_tight_crop_gets_a_whole_face_box(fast_analyzer):
    rgb = load_rgb(data_path("identity", "howard", "howard2.png"))
    faces = fast_analyzer.faces(rgb)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces.boxes[0]
    assert (x2 - x1) * (y2 - y1) >= 0.6 * rgb.shape[0] * rgb.shape[1], faces.boxes[0]


def test_short_range_detector_finds_close_faces():
    assert len(BlazeFace("short")(load_rgb(data_path("misc", "astronaut.png"))).boxes) == 1


def test_max_faces_keeps_the_largest_in_detector_order(fast_analyzer):
    """As documented on `Analyzer`: the N largest boxes, in the order the detector gave them."""
    from facelens import Analyzer

    rgb = load_rgb(data_path("detection", "multi_face.jpg"))
    every = fast_analyzer.faces(rgb)
    capped = Analyzer("landmarks", max_faces=2).faces(rgb)
    area = (every.boxes[:, 2] - every.boxes[:, 0]) * (every.boxes[:, 3] - every.boxes[:, 1])
    largest = np.sort(np.argsort(-area)[:2])
    np.testing.assert_allclose(capped.boxes, every.boxes[largest], atol=1e-4)
