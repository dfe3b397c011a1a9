"""Rebuild dlib's 128-D face descriptor ResNet as ONNX from face-api's copy of its weights.

npm `@vladmandic/face-api@1.7.15` ships `model/face_recognition_model.bin` (+ weights manifest):
Davis King's dlib_face_recognition_resnet_model_v1 weights (CC0), most tensors stored as uint8
(value = q * scale + min). face-api's `src/faceRecognitionNet/` defines the network; this script
builds the same graph with the `onnx` helper API:

    input (N,3,150,150) RGB float: (pixel - mean_rgb) / 256, dlib's 150x150 face chip
    conv 7x7/2 valid + affine + relu -> max pool 3x3/2 valid
    3 x residual(32), residual_down(64) + 3 x residual(64), residual_down(128) + 2 x residual(128),
    residual_down(256) + 2 x residual(256), residual_down(256)
    global mean -> fc 256x128 (no bias)

residual(x) = relu(affine(conv3x3(relu(affine(conv3x3(x))))) + x); residual_down uses stride-2
valid convs on the main path, 2x2/2 average pooling on the skip path, zero-pads the main path
at the bottom/right when the pooled skip is one larger, and the skip path's channels with zeros
(as dlib's add_prev does). Each affine (dlib's batch-norm, frozen) is folded into its conv.
dlib divides by 256 where face-api divides by 255: this graph uses dlib's 256.
The conv and fc weights are stored as float16, each followed by a Cast to float32 (onnxruntime
folds the casts when it loads the file), which keeps the file under 20 MB; biases stay float32.

`tools/build_assets.py` runs this in its throwaway converter venv (it needs numpy and `onnx`
only) and records the file in MANIFEST.json; tests/identity/test_resnet_onnx.py checks the
descriptors against dlib's own. Standalone:
    python tools/build_dlib_resnet_onnx.py --tgz vladmandic-face-api-1.7.15.tgz --out DIR
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FACE_API = ("@vladmandic/face-api", "1.7.15")  # the package --tgz comes from
MEAN_RGB = (122.782, 117.001, 104.298)
FILE = "dlib_resnet_v1.onnx"
# (block name, channels, down) in face-api's order
BLOCKS = [("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
          ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False), ("conv64_3", 64, False),
          ("conv128_down", 128, True), ("conv128_1", 128, False), ("conv128_2", 128, False),
          ("conv256_down", 256, True), ("conv256_1", 256, False), ("conv256_2", 256, False),
          ("conv256_down_out", 256, True)]


def read_weights(tgz: Path) -> dict[str, np.ndarray]:
    """Dequantised tensors by face-api's names, from the weights manifest and .bin shard in `tgz`."""
    with tarfile.open(tgz) as tar:
        def member(name: str) -> bytes:
            f = tar.extractfile(f"package/model/{name}")
            assert f is not None, name
            return f.read()

        manifest = json.loads(member("face_recognition_model-weights_manifest.json"))
        shards = {p: member(p) for group in manifest for p in group["paths"]}
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join(shards[p] for p in group["paths"])
        pos = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"]))
            q = w.get("quantization")
            if q:
                raw = np.frombuffer(data, np.uint8, n, pos).astype(np.float64)
                arr = raw * q["scale"] + q["min"]
                pos += n
            else:
                arr = np.frombuffer(data, np.float32, n, pos).astype(np.float64)
                pos += 4 * n
            out[w["name"]] = arr.reshape(w["shape"])
        assert pos == len(data), f"{len(data) - pos} bytes left unread"
    return out


def build(w: dict[str, np.ndarray]):  # noqa: ANN201 - onnx types
    """The ONNX ModelProto of the network."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    count = [0]

    def name(prefix: str) -> str:
        count[0] += 1
        return f"{prefix}_{count[0]}"

    def const(arr: np.ndarray, prefix: str) -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), n))
        return n

    def const_half(arr: np.ndarray, prefix: str) -> str:
        """A float16 initializer cast to float32: half the bytes, the graph still computes in float32."""
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(arr, np.float16), f"{n}_f16"))
        nodes.append(helper.make_node("Cast", [f"{n}_f16"], [n], to=TensorProto.FLOAT))
        return n

    def conv(x: str, prefix: str, stride: int, relu: bool) -> str:
        f, b = w[f"{prefix}/conv/filters"], w[f"{prefix}/conv/bias"]  # HWIO, (O,)
        s, sb = w[f"{prefix}/scale/weights"], w[f"{prefix}/scale/biases"]
        weight = f.transpose(3, 2, 0, 1) * s[:, None, None, None]  # OIHW, affine folded
        bias = b * s + sb
        k = f.shape[0]
        pad = [0, 0, 0, 0] if stride == 2 else [k // 2] * 4
        y = name("conv")
        nodes.append(helper.make_node("Conv", [x, const_half(weight, "w"), const(bias, "b")], [y],
                                      kernel_shape=[k, k], strides=[stride, stride], pads=pad))
        if relu:
            r = name("relu")
            nodes.append(helper.make_node("Relu", [y], [r]))
            return r
        return y

    def residual(x: str, prefix: str, channels: int, down: bool) -> str:
        y = conv(x, f"{prefix}/conv1", 2 if down else 1, True)
        y = conv(y, f"{prefix}/conv2", 1, False)
        skip = x
        if down:
            skip = name("pool")
            nodes.append(helper.make_node("AveragePool", [x], [skip], kernel_shape=[2, 2], strides=[2, 2]))
            # main path one smaller than the pooled skip (odd sizes): zero row/column at the end
            shape_y, shape_s = name("shape"), name("shape")
            nodes.append(helper.make_node("Shape", [y], [shape_y]))
            nodes.append(helper.make_node("Shape", [skip], [shape_s]))
            diff = name("diff")
            nodes.append(helper.make_node("Sub", [shape_s, shape_y], [diff]))
            # pads = [0, 0, 0, 0, 0, 0, dh, dw] from diff = [0, dc, dh, dw]; channel pad goes to the skip
            hw = name("hw")
            nodes.append(helper.make_node("Slice", [diff, const_i([2]), const_i([4])], [hw]))
            pads_y = name("pads")
            nodes.append(helper.make_node("Concat", [const_i([0, 0, 0, 0, 0, 0]), hw], [pads_y], axis=0))
            padded = name("pad")
            nodes.append(helper.make_node("Pad", [y, pads_y], [padded]))
            y = padded
            extra = channels - int(w[f"{prefix}/conv1/conv/filters"].shape[2])
            if extra:
                ps = name("pad")
                nodes.append(helper.make_node("Pad", [skip, const_i([0, 0, 0, 0, 0, extra, 0, 0])], [ps]))
                skip = ps
        s = name("add")
        nodes.append(helper.make_node("Add", [y, skip], [s]))
        r = name("relu")
        nodes.append(helper.make_node("Relu", [s], [r]))
        return r

    def const_i(values: list[int]) -> str:
        n = name("i")
        inits.append(numpy_helper.from_array(np.asarray(values, np.int64), n))
        return n

    x = conv("input", "conv32_down", 2, True)
    p = name("maxpool")
    nodes.append(helper.make_node("MaxPool", [x], [p], kernel_shape=[3, 3], strides=[2, 2]))
    x = p
    for prefix, ch, down in BLOCKS:
        x = residual(x, prefix, ch, down)
    g = name("mean")
    nodes.append(helper.make_node("GlobalAveragePool", [x], [g]))
    flat = name("flat")
    nodes.append(helper.make_node("Flatten", [g], [flat], axis=1))
    nodes.append(helper.make_node("MatMul", [flat, const_half(w["fc"], "fc")], ["descriptor"]))
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 150, 150])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", 128])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="facelens tools/build_dlib_resnet_onnx.py")
    model.doc_string = ("dlib_face_recognition_resnet_model_v1 (Davis King, CC0) rebuilt from the uint8 weights "
                        "in npm @vladmandic/face-api@1.7.15 model/face_recognition_model.bin, stored as float16 and "
                        "computed in float32; input (N,3,150,150) "
                        f"RGB dlib face chips as (pixel - {list(MEAN_RGB)}) / 256")
    model.ir_version = 8
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tgz", type=Path, required=True, help=f"npm pack {FACE_API[0]}@{FACE_API[1]}")
    ap.add_argument("--out", type=Path, default=ROOT / "src/facelens/models/assets")
    args = ap.parse_args()
    import onnx

    model = build(read_weights(args.tgz))
    onnx.checker.check_model(model)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(args.out / FILE))
    print(f"wrote {args.out / FILE}")


if __name__ == "__main__":
    main()
