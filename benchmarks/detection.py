"""Detection benchmark: small-face composites, VOC boxes, face-less photos, wild photos, cost per image.

Usage: python benchmarks/detection.py [--scenes 10] [--modes full,standard,thorough] [--compare SRC]

- Composites (tests/composites.py): faces from the shared photos scaled to 12-60 px and pasted
  into 1024×768 scenes made from the face-less images, some cut by the border, each scene also
  grey and low contrast. Recall at IoU >= 0.5 per size band, cut-off faces and variant, and false
  positives per scene, for the detector alone and for what the analyzer returns (after the mesh
  presence check), on the dev and the held-back source faces; and the colour scenes enlarged 3×
  (3072×2304, faces 36-180 px), where the searches run at other scales than at 1024×768.
- The 43 hand-drawn VOC boxes: recall at IoU >= 0.4 (the test's threshold) and 0.5.
- dogs.jpg and no-face.jpg: faces returned (false positives).
- wild/ photos: faces returned, beside the peers' drawn boxes (RetinaFace on volleyball_team,
  MTCNN on multiface).
- Cost: CPU and wall ms per photo of the whole default-feature analysis over the shared photos,
  each mode against "full" (facelens 0.1's detector, with today's heads) in the same run, as a
  ratio; with `--compare SRC` also against an earlier tree's own default photo path (its
  detector and heads, e.g. `git archive <rev> src` of facelens 0.1), timed before and after the
  modes (`photo_cost.py`); and frames per CPU-second of tracked video ("landmarks"; thorough is
  not meant for video).
Writes benchmarks/results/detection.json. Data credits: ../shared/data/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from facelens import Analyzer
from facelens.models.blazeface import BlazeFace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import composites  # noqa: E402
from test_detection import detection_recall  # noqa: E402  (one definition of the VOC metric)

from checkouts import checkout, child_env  # noqa: E402  (beside this script)
from photo_cost import photo_cost, rgb, shared_photos  # noqa: E402

# Peers' counts, read off the drawn result images in ../shared/data/wild. RetinaFace's boxes on
# volleyball_team were counted by differencing the drawn image against the photo: about 240
# box outlines, 37 of them 20 px wide or more (the team in front; the rest is the stadium crowd).
PEERS = {"wild/volleyball_team.jpg": "RetinaFace: about 240 boxes (37 of 20 px or more)",
         "wild/multiface.jpg": "MTCNN: 6"}
WILD = ("wild/multiface.jpg", "wild/volleyball_team.jpg", "wild/11_Meeting_Meeting_11_Meeting_Meeting_11_26.jpg",
        "wild/0_Parade_Parade_0_873.jpg", "wild/0_Parade_marchingband_1_765.jpg")
NO_FACE = ("detection/dogs.jpg", "detection/no-face.jpg")
VIDEOS = ("WolfgangLanger_Pexels.mp4", "no_face.mp4", "walking_people.mp4")
LARGE = 3.0  # the composites are also measured enlarged this much (colour variant)


class Remember:
    """Wraps a detector so that `faces()` reuses the detection just measured on the same image."""

    def __init__(self, detector):  # noqa: ANN001
        self.detector, self.last = detector, None

    def __call__(self, image: np.ndarray, faceboxes: bool = True, small_faces: bool = True):  # noqa: ANN204
        if self.last is None or self.last[0] is not image or self.last[1] != (faceboxes, small_faces):
            self.last = (image, (faceboxes, small_faces), self.detector(image, faceboxes=faceboxes, small_faces=small_faces))
        det = self.last[2]
        return det.take(np.arange(len(det.boxes)))


def upscaled(scene: composites.Scene, k: float) -> composites.Scene:
    """`scene` enlarged k× (bilinear), with its boxes and sizes: the same faces in a larger photo."""
    image = cv2.resize(scene.image, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
    return composites.Scene(scene.name, scene.variant, image, scene.boxes * k, scene.sizes * k, scene.cut,
                            scene.patches * k)


def composite_figures(analyzer: Analyzer, scenes: list[composites.Scene],
                      bands: tuple[tuple[int, int], ...] = composites.BANDS) -> dict:
    """Recall per band / cut-off / variant and false positives per scene, detector and analyzer."""
    remember = Remember(analyzer.detector)
    analyzer.__dict__["detector"] = remember
    rows: dict[str, list] = {"det": [], "faces": []}
    false_pos = {"det": 0, "faces": 0}
    cpu = 0.0
    for scene in scenes:
        t = time.process_time()
        found = {"det": analyzer.detect_faces(scene.image).boxes}
        cpu += time.process_time() - t
        found["faces"] = analyzer.faces(scene.image).boxes
        for level, boxes in found.items():
            m = composites.match(scene, boxes)
            rows[level] += [(s, h, c, scene.variant) for s, h, c in zip(scene.sizes, m.hit, scene.cut)]
            false_pos[level] += m.false_pos
    analyzer.__dict__["detector"] = remember.detector
    out = {"detect_cpu_ms_per_scene": 1000 * cpu / len(scenes)}
    for level, r in rows.items():
        size = np.array([x[0] for x in r])
        hit = np.array([x[1] for x in r], bool)
        cut = np.array([x[2] for x in r], bool)
        var = np.array([x[3] for x in r])
        big = size >= 20
        out[level] = {
            "recall_ge20": float(hit[big].mean()),
            "faces_ge20": int(big.sum()),
            "recall_by_band": {f"{lo}-{hi - 1}": float(hit[(size >= lo) & (size < hi)].mean()) for lo, hi in bands},
            "recall_cut_off": float(hit[cut].mean()) if cut.any() else None,
            "recall_ge20_by_variant": {v: float(hit[big & (var == v)].mean()) for v in composites.VARIANTS if (var == v).any()},
            "false_positives_per_scene": false_pos[level] / len(scenes),
        }
    return out


def compare_cost(src: Path, data: Path) -> dict:
    """`photo_cost` of another tree's default photo path, in a child process importing SRC/src."""
    script = Path(__file__).with_name("photo_cost.py")
    out = subprocess.run([sys.executable, str(script), "--data", str(data)], env=child_env(src), capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"--compare {src}: the photo-cost child failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def video_cost(mode: str, video: Path) -> dict:
    """Frames per CPU-second and per wall-second of the tracked "landmarks" analysis of a video."""
    analyzer = Analyzer("landmarks", detector=mode)
    analyzer.faces(np.zeros((64, 64, 3), np.uint8))  # load the models
    cpu, wall = time.process_time(), time.perf_counter()
    rows = [r for r in analyzer.video(video) if r.error is None]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"frames": len(rows), "frames_per_cpu_s": len(rows) / cpu, "fps_wall": len(rows) / wall,
            "face_rows": int(sum(len(r.faces) for r in rows))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--scenes", type=int, default=10, help="composite scenes per split (each in 3 variants)")
    ap.add_argument("--modes", default="full,standard,thorough")
    ap.add_argument("--compare", type=checkout, metavar="SRC",
                    help="a checkout of an earlier tree (SRC/src): its default photo path is timed in the same run")
    args = ap.parse_args()
    data, modes = args.data, args.modes.split(",")
    fig: dict = {"load_average_start": os.getloadavg()[0], "modes": modes}

    blazeface = BlazeFace("full")
    sources = composites.person_faces() + composites.counted_faces(lambda image: blazeface(image).boxes)
    pool = composites.backgrounds()
    splits = {s: [f for f in sources if composites.split_of(f.path) == s] for s in ("dev", "held")}
    fig["composites"] = {"source_faces": {s: len(v) for s, v in splits.items()},
                         "source_photos": {s: sorted({f.path for f in v}) for s, v in splits.items()},
                         "scenes_per_split": args.scenes, "scene_size": [1024, 768]}
    scenes = {s: list(composites.scenes(v, pool, args.scenes, seed={"dev": 1, "held": 2}[s])) for s, v in splits.items()}
    for s, v in scenes.items():
        fig["composites"][f"faces_{s}"] = int(sum(len(x.boxes) for x in v))
    # The colour scenes enlarged LARGE×: the same faces, 36-180 px, in 3072×2304 photos (7 MP), where
    # the searches run at other scales (standard's second search at 1×, thorough's 2× and 3× skipped).
    large = {s: [upscaled(x, LARGE) for x in v if x.variant == "colour"] for s, v in scenes.items()}
    large_bands = tuple((round(lo * LARGE), round(hi * LARGE)) for lo, hi in composites.BANDS)

    for mode in modes:
        analyzer = Analyzer("landmarks", detector=mode)
        m: dict = {}
        for split, v in scenes.items():
            m[f"composites_{split}"] = composite_figures(analyzer, v)
            if mode != "full":
                m[f"composites_{split}_large"] = composite_figures(analyzer, large[split], large_bands)
        m["voc_recall_iou0.4"], m["voc_false_positives"] = detection_recall(analyzer.detect_faces, 0.4)
        m["voc_recall_iou0.5"], _ = detection_recall(analyzer.detect_faces, 0.5)
        m["no_face_photos"] = {n: len(analyzer.faces(rgb(data / n))) for n in NO_FACE}
        m["wild_faces"] = {n: len(analyzer.faces(rgb(data / n))) for n in WILD}
        fig[mode] = m
        held = m["composites_held"]
        big = m.get("composites_held_large", {}).get("faces", {}).get("recall_ge20", float("nan"))
        print(f"{mode:9s} composites held recall>=20px det {held['det']['recall_ge20']:.3f} "
              f"faces {held['faces']['recall_ge20']:.3f} fp/scene {held['faces']['false_positives_per_scene']:.2f} "
              f"(enlarged {LARGE:g}x: faces {big:.3f}) | "
              f"VOC {m['voc_recall_iou0.4']:.2f}/{m['voc_recall_iou0.5']:.2f} | no-face {m['no_face_photos']} | "
              f"wild {list(m['wild_faces'].values())}", flush=True)
    fig["peers"] = PEERS

    photos = shared_photos(data)
    compare = [compare_cost(args.compare, data)] if args.compare else []
    cost = {mode: photo_cost(mode, photos) for mode in modes}
    if args.compare:  # before and after the modes, so a change in the machine's load shows
        compare.append(compare_cost(args.compare, data))
        cost["compare"] = {"src": str(args.compare), "runs": compare,
                           **{k: float(np.mean([c[k] for c in compare])) for k in ("cpu_ms_per_photo", "wall_ms_per_photo")},
                           "faces": compare[0]["faces"]}
    base = cost.get("full")
    for mode, c in cost.items():
        if base:
            c["cpu_ratio_to_full"] = c["cpu_ms_per_photo"] / base["cpu_ms_per_photo"]
            c["wall_ratio_to_full"] = c["wall_ms_per_photo"] / base["wall_ms_per_photo"]
        if args.compare:
            c["cpu_ratio_to_compare"] = c["cpu_ms_per_photo"] / cost["compare"]["cpu_ms_per_photo"]
        print(f"{mode:9s} {c['cpu_ms_per_photo']:.1f} CPU ms/photo ({c.get('cpu_ratio_to_full', 1):.2f}× full"
              + (f", {c['cpu_ratio_to_compare']:.2f}× compare" if args.compare else "")
              + f"), {c['faces']} faces in {len(photos)} photos", flush=True)
    fig["photo_cost"] = {"photos": len(photos), "features": "defaults", **cost}

    videos = {}
    for name in VIDEOS:
        videos[name] = {mode: video_cost(mode, data / "video" / name) for mode in modes if mode != "thorough"}
        print(name, {m: f"{v['frames_per_cpu_s']:.0f} frames/CPU-s, {v['face_rows']} face rows"
                     for m, v in videos[name].items()}, flush=True)
    fig["video_landmarks"] = videos
    fig["load_average_end"] = os.getloadavg()[0]

    out = ROOT / "benchmarks" / "results" / "detection.json"
    out.write_text(json.dumps(fig, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
