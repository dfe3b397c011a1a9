"""Detection on real photos: counts, recall on hand-drawn VOC boxes, no false positives."""

import xml.etree.ElementTree as ET

import cv2
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


@pytest.mark.parametrize("mode", ["standard", "full"])
def test_voc_recall_through_the_analyzer(mode):
    """What users get (after the mesh presence check): BlazeFace also on a padded copy of images up
    to 512 px, and FaceBoxes in standard."""
    from facelens import Analyzer

    recall, false_pos = detection_recall(Analyzer("landmarks", detector=mode).faces)
    assert recall == 1.0 and false_pos == 0, (recall, false_pos)


def test_faceboxes_boxes_match_hand_drawn_boxes_after_mapping():
    """FaceBoxes alone, its boxes mapped to BlazeFace's convention, on the 43 VOC boxes at IoU >= 0.5."""
    from facelens.detection import FaceDetector, to_blazeface_boxes
    from facelens.models.blazeface import Detections

    det = FaceDetector("standard")

    def faceboxes_only(rgb):
        boxes, scores = det.faceboxes_search(rgb, (2.0,))
        h, w = rgb.shape[:2]
        return Detections(to_blazeface_boxes(boxes, w, h), scores, np.zeros((len(boxes), 6, 2)))

    recall, false_pos = detection_recall(faceboxes_only, 0.5)
    assert recall >= 0.95 and false_pos <= 2, (recall, false_pos)


def test_merge_drops_a_partial_face_inside_a_whole_one():
    from facelens.detection import merge as _merge
    from facelens.models.blazeface import Detections

    kps = np.zeros((1, 6, 2), np.float32)
    partial = Detections(np.array([[0, 29, 70, 106]], np.float32), np.array([0.64], np.float32), kps)
    whole = Detections(np.array([[0, 0, 141, 142], [200, 0, 300, 100]], np.float32),
                       np.array([0.84, 0.6], np.float32), np.zeros((2, 6, 2), np.float32))
    merged = _merge(partial, whole)
    np.testing.assert_array_equal(merged.boxes, whole.boxes)
    # The partial box goes even though its IoU with the whole face is only 0.27.
    assert iou_matrix(partial.boxes, whole.boxes[:1])[0, 0] < 0.3


def test_an_unsure_blazeface_box_yields_to_a_better_faceboxes_box():
    from facelens.detection import BLAZEFACE_SURE, add_faceboxes
    from facelens.models.blazeface import Detections

    kps = np.arange(24, dtype=np.float32).reshape(2, 6, 2)
    blaze = Detections(np.array([[0, 0, 30, 30], [100, 100, 200, 200]], np.float32),
                       np.array([BLAZEFACE_SURE - 0.1, BLAZEFACE_SURE + 0.1], np.float32), kps)
    unsure = Detections(blaze.boxes, np.full(2, BLAZEFACE_SURE - 0.1, np.float32), kps)
    boxes = np.array([[2, 4, 26, 34], [104, 96, 196, 206], [400, 400, 440, 440]], np.float32)
    out = add_faceboxes(blaze, boxes, np.array([0.9, 0.99, 0.8], np.float32))
    np.testing.assert_array_equal(out.boxes[0], boxes[0])  # unsure BlazeFace box: FaceBoxes' box
    np.testing.assert_array_equal(out.boxes[1], blaze.boxes[1])  # sure BlazeFace box stays
    np.testing.assert_array_equal(out.boxes[2], boxes[2])  # a face only FaceBoxes found is added
    np.testing.assert_array_equal(out.keypoints[:2], kps)  # BlazeFace's keypoints and scores stay
    np.testing.assert_array_equal(out.scores[:2], blaze.scores)
    assert np.isnan(out.keypoints[2]).all() and len(out.boxes) == 3
    lower = add_faceboxes(blaze, boxes[:1], np.array([BLAZEFACE_SURE - 0.2], np.float32))
    np.testing.assert_array_equal(lower.boxes, blaze.boxes)  # a lower-scoring FaceBoxes box changes nothing
    part = add_faceboxes(unsure, np.array([[100, 100, 130, 125]], np.float32), np.array([0.99], np.float32))
    np.testing.assert_array_equal(part.boxes, blaze.boxes)  # nor does a part of the face (an eye) inside it


def test_of_two_better_faceboxes_boxes_the_one_over_the_face_wins_a_tie():
    """A cut face can get a whole-face and a chin box at the same score; order must not decide."""
    from facelens.detection import BLAZEFACE_SURE, add_faceboxes
    from facelens.models.blazeface import Detections

    unsure = Detections(np.array([[975, 400, 1024, 460]], np.float32), np.array([BLAZEFACE_SURE - 0.2], np.float32),
                        np.zeros((1, 6, 2), np.float32))
    face, chin = np.array([991, 395, 1024, 454], np.float32), np.array([994, 430, 1024, 456], np.float32)
    for boxes in (np.stack([chin, face]), np.stack([face, chin])):
        out = add_faceboxes(unsure, boxes, np.array([0.99, 0.99], np.float32))
        np.testing.assert_array_equal(out.boxes[0], face)


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


# Detection modes: FaceBoxes for small, cut-off, grey faces; tiles; tiny and odd inputs.

def test_unknown_detector_is_refused():
    from facelens import Analyzer
    from facelens.errors import FeatureError

    with pytest.raises(FeatureError, match="standard"):
        Analyzer(detector="retinaface")


def test_tiles_cover_the_image_with_overlap():
    from facelens.detection import TILE, TILE_OVERLAP, tiles

    assert tiles(800, 600) == [(0, 0, 800, 600)]
    windows = tiles(3000, 1100)
    covered = np.zeros((1100, 3000), bool)
    for x1, y1, x2, y2 in windows:
        assert x2 - x1 <= TILE and y2 - y1 <= TILE and x1 >= 0 and y1 >= 0 and x2 <= 3000 and y2 <= 1100
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    xs = sorted({w[0] for w in windows})
    assert all(b - a <= TILE - TILE_OVERLAP for a, b in zip(xs, xs[1:]))


def test_tile_edges_inside_the_image_drop_cut_boxes_but_image_borders_keep_them():
    from facelens.detection import interior_edge_hits

    boxes = np.array([[0, 10, 30, 40], [990, 10, 1024, 40], [400, 0, 440, 30], [400, 990, 440, 1024]], np.float32)
    # Left-top tile of a 2000x2000 image: its left and top edges are the image's, right and bottom are not.
    np.testing.assert_array_equal(interior_edge_hits(boxes, (0, 0, 1024, 1024), 2000, 2000), [False, True, False, True])
    # The same boxes in a middle tile: every edge is inside the image.
    np.testing.assert_array_equal(interior_edge_hits(boxes, (500, 500, 1524, 1524), 3000, 3000), [True, True, True, True])


def test_a_face_across_a_tile_edge_is_found_once():
    """A face straddling the seam of two tiles: found whole, once, from the tile that holds it."""
    from facelens.detection import FaceDetector, TILE

    face = load_rgb(data_path("misc", "astronaut.png"))[40:260, 130:350]
    canvas = np.full((700, 2 * TILE - 200, 3), 128, np.uint8)
    x = TILE - 100 - 110  # the face's centre sits on the first tile's right edge, at scale 1
    canvas[200:420, x:x + 220] = face
    det = FaceDetector("standard")
    boxes, _ = det.faceboxes_search(canvas, (1.0,))
    assert len(boxes) == 1, boxes
    cx = (boxes[0, 0] + boxes[0, 2]) / 2
    assert x + 60 < cx < x + 160, boxes


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3, 3), (7, 5, 3), (16, 400, 3), (400, 16, 3)])
@pytest.mark.parametrize("mode", ["standard", "thorough"])
def test_tiny_and_thin_images_give_no_faces_without_error(shape, mode):
    from facelens import Analyzer

    faces = Analyzer("landmarks", detector=mode).faces(np.full(shape, 90, np.uint8))
    assert len(faces) == 0


def test_bad_input_is_an_error_row_in_every_mode():
    from facelens import Analyzer

    for mode in ("standard", "thorough"):
        results = list(Analyzer("landmarks", detector=mode).iter(b"not an image"))
        assert len(results) == 1 and results[0].error and len(results[0].faces) == 0


def test_face_cut_by_the_image_border_is_found():
    """Astronaut moved so 40% of her face is outside the left border: standard finds the visible part."""
    from facelens import Analyzer

    rgb = load_rgb(data_path("misc", "astronaut.png"))
    whole = Analyzer("landmarks", detector="full").faces(rgb).boxes[0]
    cut = int(whole[0] + 0.4 * (whole[2] - whole[0]))
    shifted = np.ascontiguousarray(rgb[:, cut:])
    truth = (whole - [cut, 0, cut, 0]).clip(0)[None]
    faces = Analyzer("landmarks").faces(shifted)
    assert len(faces) == 1 and iou_matrix(truth, faces.boxes)[0, 0] >= 0.5, (truth, faces.boxes)
    assert not np.isnan(faces.keypoints).any()


def test_multiface_has_six_faces_and_no_face_photos_none(fast_analyzer):
    assert len(fast_analyzer.faces(load_rgb(data_path("wild", "multiface.jpg")))) == 6
    for name in ("dogs.jpg", "no-face.jpg"):
        assert len(fast_analyzer.faces(load_rgb(data_path("detection", name)))) == 0, name


def test_box_only_roi_gives_the_same_mesh_as_the_keypoint_roi(fast_analyzer):
    """A FaceBoxes box alone (upright ROI, then the mesh's own ROI) lands the 68 points where
    BlazeFace's keypoint ROI does, within 3% of the eye distance."""
    from facelens.detection import to_blazeface_boxes
    from facelens.geometry.landmarks68 import landmarks68
    from facelens.models import facemesh as fm

    rgb = load_rgb(data_path("misc", "astronaut.png"))
    det = fast_analyzer.detector.blazeface(rgb)
    boxes, _ = fast_analyzer.detector.faceboxes_search(rgb, (1.0,))
    box = to_blazeface_boxes(boxes, rgb.shape[1], rgb.shape[0])[0]
    a = landmarks68(fast_analyzer.mesh_from_rois(rgb, [fm.roi_from_detection(det.boxes[0], det.keypoints[0])], True)[0])[0]
    b = landmarks68(fast_analyzer.mesh_from_rois(rgb, [fm.roi_from_detection(box, np.full((6, 2), np.nan))], True)[0])[0]
    assert np.linalg.norm(a - b, axis=1).mean() / np.linalg.norm(a[36] - a[45]) < 0.03


def _composite_recall(mode: str, n: int, size: tuple[int, int] = (640, 480), per_scene: int = 6) -> float:
    import composites
    from facelens import Analyzer
    from facelens.models.blazeface import BlazeFace

    data_path("detection", "training.xml")
    blazeface = BlazeFace("full")
    faces = [f for f in composites.person_faces() + composites.counted_faces(lambda im: blazeface(im).boxes)
             if composites.split_of(f.path) == "held"]
    analyzer = Analyzer("landmarks", detector=mode)
    hits = []
    for scene in composites.scenes(faces, composites.backgrounds(), n, seed=7, size=size, per_scene=per_scene):
        m = composites.match(scene, analyzer.faces(scene.image).boxes)
        hits += m.hit[scene.sizes >= 20].tolist()
    return float(np.mean(hits))


def _recorded_searches(detector) -> list:  # noqa: ANN001
    """The scales of each `faceboxes_search` the detector makes from now on (it still searches)."""
    calls, search = [], detector.faceboxes_search
    detector.faceboxes_search = lambda rgb, scales, **kw: calls.append(scales) or search(rgb, scales, **kw)
    return calls


def test_standard_searches_photos_again_finer_for_small_faces_but_not_video_frames():
    from facelens.detection import FaceDetector

    detector = FaceDetector("standard")
    calls = _recorded_searches(detector)
    detector(np.zeros((768, 1024, 3), np.uint8))
    assert len(calls) == 2 and calls[0][0] < 1.2 and calls[1][0] > 2.9
    calls.clear()
    detector(np.zeros((480, 640, 3), np.uint8))  # first at the 2x cap, then finer still
    assert len(calls) == 2 and calls[1][0] > 1.4 * calls[0][0]
    calls.clear()
    detector(np.zeros((768, 1024, 3), np.uint8), small_faces=False)
    assert len(calls) == 1


def test_thorough_adds_the_finer_search_only_where_its_own_scales_stop_short_of_it():
    """Over 4 MP thorough searches at ~1 MP only (its 2x and 3x would exceed THOROUGH_MAX_PIXELS):
    dev composites upscaled 3x (3072x2304), faces >= 20 px 0.950 -> 0.980 with the finer search."""
    from facelens.detection import FaceDetector

    detector = FaceDetector("thorough")
    calls = _recorded_searches(detector)
    detector.mtcnn = lambda rgb: (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    detector(np.zeros((768, 1024, 3), np.uint8))
    assert calls == [detector.scales(1024, 768)] and max(calls[0]) == 3.0
    calls.clear()
    detector(np.zeros((2304, 3072, 3), np.uint8))
    assert len(calls) == 2 and len(calls[0]) == 1 and calls[1][0] > 2.5 * calls[0][0]


def test_the_finer_search_adds_faces_too_small_for_the_first_search_at_its_scale():
    """The cut-off is in the first search's input pixels: a 100 px face of a 2048x1536 photo is 49 px
    there (kept), a 60 px face of a 1024x768 photo 66 px (left to the first search)."""
    from facelens.detection import FaceDetector

    detector = FaceDetector("standard")
    box = np.array([[10.0, 10.0, 0.0, 0.0]], np.float32)
    none = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    for (w, h), side, kept in (((2048, 1536), 100, True), ((1024, 768), 60, False)):
        detector.faceboxes_search = lambda rgb, scales, **kw: (box + [0, 0, side + 10, side + 10], np.ones(1, np.float32))
        base = detector.scales(w, h)[0]
        boxes, _ = detector.add_small_faces(np.zeros((h, w, 3), np.uint8), base, *none)
        assert len(boxes) == kept


def test_a_crowd_that_fills_the_untiled_calls_box_cap_is_searched_again_in_tiles():
    from facelens.detection import FaceDetector, tiles
    from facelens.models.faceboxes import MAX_BOXES

    detector, sizes = FaceDetector("standard"), []

    def faceboxes(rgb):
        sizes.append(rgb.shape[:2])
        n = MAX_BOXES if max(rgb.shape[:2]) > 1024 else 3  # the whole image's call is full
        x = np.arange(n, dtype=np.float32)[:, None] * 5
        return np.hstack([x, x, x + 4, x + 4]), np.full(n, 0.9, np.float32)

    detector.faceboxes = faceboxes
    detector.faceboxes_search(np.zeros((1500, 2000, 3), np.uint8), (1.0,), tiled=False)
    assert sizes[0] == (1500, 2000) and len(sizes) == 1 + len(tiles(2000, 1500))
    sizes.clear()
    detector.faceboxes_search(np.zeros((900, 1000, 3), np.uint8), (1.0,), tiled=False)
    assert sizes == [(900, 1000)]


def test_standard_finds_the_meeting_rooms_small_faces():
    """The WIDER FACE meeting photo (faces 9-44 px): 2 found by one FaceBoxes search at 1.1x, 6 with
    the finer search for small faces at 1.96x, 16 with it at 3x (the 11 new boxes checked by eye: all faces)."""
    from facelens import Analyzer

    rgb = load_rgb(data_path("wild", "11_Meeting_Meeting_11_Meeting_Meeting_11_26.jpg"))
    assert len(Analyzer("landmarks", detector="standard").faces(rgb)) >= 14


def test_small_faces_in_composites_standard():
    """Held-back faces of 20-60 px pasted into 640x480 scenes (colour, grey, low contrast); 0.75
    when written (the misses are mostly grey faces under 30 px, which thorough finds)."""
    assert _composite_recall("standard", 2) >= 0.7


def test_small_faces_in_photo_sized_composites_standard():
    """Held-back faces of 20-60 px in 1024x768 scenes, where standard's first FaceBoxes search runs
    at 1.1x and the second, for small faces, at 3x: 0.85 when written with the second at 1.96x,
    0.77 without the second."""
    assert _composite_recall("standard", 3, (1024, 768), 8) >= 0.8


def test_small_faces_in_composites_full_range_blazeface_misses_them():
    """The same scenes with facelens 0.1's detector: the reason for FaceBoxes (and a check that the
    composites are not trivially easy)."""
    assert _composite_recall("full", 2) < 0.5


@pytest.mark.slow
def test_small_faces_in_composites_thorough():
    assert _composite_recall("thorough", 3) >= 0.85  # issue 11 asks 0.95; benchmarks/detection.py: 0.91 held-back


def test_grey_images_are_tinted_at_their_luma_and_colour_ones_left_alone():
    from facelens.detection import is_grey, tint

    rgb = load_rgb(data_path("detection", "single_face.jpg"))
    grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert is_grey(grey) and not is_grey(rgb)
    ramp = np.repeat(np.arange(0, 200, dtype=np.uint8)[None, :, None], 3, 2)  # below the red clip
    tinted = tint(ramp).astype(int)
    assert (tinted[..., 0] >= tinted[..., 1]).all() and (tinted[..., 1] >= tinted[..., 2]).all()
    assert tinted[0, 100, 0] > tinted[0, 100, 2] + 20  # coloured, not grey
    assert np.abs(cv2.cvtColor(tint(ramp), cv2.COLOR_RGB2GRAY).astype(int) - ramp[..., 0]).max() <= 1


def test_standard_finds_grey_fer2013_faces_it_missed_before_the_tint():
    """The 70 FER2013 dev crops (48 px grey faces) with detection on: 58 found before grey images
    were tinted for the search, 64 after."""
    from facelens import Analyzer

    folder = data_path("expression", "fer2013_dev")
    analyzer = Analyzer("landmarks", detector="standard")
    found = sum(len(analyzer.faces(load_rgb(p))) == 1 for p in sorted(folder.glob("*/*.jpg")))
    assert found >= 62


def test_mtcnn_finds_the_astronaut_in_colour_and_grey_and_nothing_in_a_face_less_photo():
    """MTCNN alone (thorough's third detector), its box mapped to BlazeFace's convention, lands on
    BlazeFace's box of the same face and copes with a 5 px image. Its one box in no-face.jpg (score
    0.81, 25 px) is dropped by the mesh check: thorough gives no face there, nor in dogs.jpg."""
    from facelens import Analyzer
    import cv2

    from facelens.detection import MTCNN_TO_BLAZEFACE, to_blazeface_boxes
    from facelens.models.blazeface import BlazeFace
    from facelens.models.mtcnn import MTCNN

    mtcnn = MTCNN()
    rgb = load_rgb(data_path("misc", "astronaut.png"))
    truth = BlazeFace("full")(rgb).boxes[:1]
    grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    for image in (rgb, grey):
        boxes, scores = mtcnn(image)
        assert len(boxes) == 1 and scores[0] > 0.9, scores
        mapped = to_blazeface_boxes(boxes, rgb.shape[1], rgb.shape[0], MTCNN_TO_BLAZEFACE)
        assert iou_matrix(truth, mapped)[0, 0] > 0.75, (truth, mapped)
    thorough = Analyzer("landmarks", detector="thorough")
    for name in ("dogs.jpg", "no-face.jpg"):
        assert len(thorough.faces(load_rgb(data_path("detection", name)))) == 0, name
    assert len(mtcnn(np.full((5, 5, 3), 90, np.uint8))[0]) == 0


def test_mtcnn_boxes_are_only_added_never_replace_blazeface_boxes():
    from facelens.detection import BLAZEFACE_SURE, add_faceboxes
    from facelens.models.blazeface import Detections

    unsure = Detections(np.array([[0, 0, 30, 30]], np.float32), np.array([BLAZEFACE_SURE - 0.1], np.float32),
                        np.zeros((1, 6, 2), np.float32))
    boxes = np.array([[2, 4, 26, 34], [400, 400, 440, 440]], np.float32)
    out = add_faceboxes(unsure, boxes, np.array([0.99, 0.99], np.float32), replace=False)
    np.testing.assert_array_equal(out.boxes, np.concatenate([unsure.boxes, boxes[1:]]))


def test_found_by_both_needs_a_match_in_each_set():
    from facelens.detection import found_by_both

    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]], np.float32)
    a = np.array([[0, 0, 10, 11], [50, 50, 60, 60]], np.float32)
    b = np.array([[1, 0, 10, 10], [100, 100, 110, 110]], np.float32)
    np.testing.assert_array_equal(found_by_both(boxes, a, b), [True, False, False])
    assert not found_by_both(boxes, a, np.zeros((0, 4), np.float32)).any()


def _sure_face_kept_though_the_mesh_doubts_it(photo: str, face: list[float], min_iou: float) -> float:
    """Checks that thorough marks the detection at `face` sure, that the mesh's presence score there
    is under the pipeline's threshold and that the face is returned anyway; its detector score."""
    from facelens import Analyzer
    from facelens.pipeline import MESH_MIN_SCORE
    import facelens.models.facemesh as fm

    rgb = load_rgb(data_path("wild", photo))
    analyzer = Analyzer("landmarks", detector="thorough")
    det = analyzer.detect_faces(rgb)
    truth = np.array([face], np.float32)
    i = int(iou_matrix(truth, det.boxes)[0].argmax())
    assert iou_matrix(truth, det.boxes)[0, i] > min_iou and det.sure[i]
    _, presence = analyzer.mesh_from_rois(rgb, [fm.roi_from_detection(det.boxes[i], det.keypoints[i])], refine=True,
                                          irises=False)
    assert presence[0] < MESH_MIN_SCORE
    assert iou_matrix(truth, analyzer.faces(rgb).boxes).max() > min_iou
    return float(det.scores[i])


def test_a_small_face_the_detector_is_sure_of_is_kept_though_the_mesh_doubts_it():
    """The meeting photo (WIDER FACE): a 10 px face at the back of the room that FaceBoxes scores
    0.96 and the mesh's presence score rejects (checked by eye); kept since the detector's score
    overrides the mesh's doubt (`DETECTOR_SURE`), which first applied only at the image border."""
    from facelens.detection import DETECTOR_SURE

    score = _sure_face_kept_though_the_mesh_doubts_it("11_Meeting_Meeting_11_Meeting_Meeting_11_26.jpg",
                                                      [403, 238, 413, 248], 0.6)
    assert score >= DETECTOR_SURE


def test_a_sure_face_cut_by_the_border_is_kept_though_the_mesh_doubts_it():
    """The parade photo (WIDER FACE): a woman's face in profile cut by the bottom edge, 86 px wide,
    which FaceBoxes is sure of and the mesh's presence score rejected (checked by eye)."""
    _sure_face_kept_though_the_mesh_doubts_it("0_Parade_Parade_0_873.jpg", [864, 591, 950, 679], 0.7)


def test_thorough_keeps_small_faces_two_detectors_agree_on():
    """The marching band photo (WIDER FACE): rows of band members' faces 10-15 px wide, which the
    mesh's presence score rejects (30 faces before the rule; 28 more were checked by eye)."""
    from facelens import Analyzer

    rgb = load_rgb(data_path("wild", "0_Parade_marchingband_1_765.jpg"))
    analyzer = Analyzer("landmarks", detector="thorough")
    det = analyzer.detect_faces(rgb)
    assert det.sure is not None and det.sure.sum() >= 40
    assert len(analyzer.faces(rgb)) >= 50
