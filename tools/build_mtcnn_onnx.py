"""Rebuild MTCNN's P-, R- and O-Net as ONNX from the weights in PyPI `facenet-pytorch==2.6.0`.

The wheel ships `facenet_pytorch/data/{pnet,rnet,onet}.pt`: state dicts saved by torch in its
legacy (non-zip) format, ported by facenet-pytorch from Zhang et al.'s MTCNN (2016). This script
reads them without torch (the legacy format is a few pickles followed by the raw float32
storages) and writes the three networks with the `onnx` helper API, as facenet-pytorch's
`models/mtcnn.py` defines them:

    P-Net (N,3,H,W): conv3 10, PReLU, max pool 2/2, conv3 16, PReLU, conv3 32, PReLU ->
        face probability map (N,2,h,w) (softmax over the channels) and box offsets (N,4,h,w)
    R-Net (N,3,24,24): conv3 28, PReLU, pool 3/2, conv3 48, PReLU, pool 3/2, conv2 64, PReLU,
        fc 128, PReLU -> probability (N,2), offsets (N,4)
    O-Net (N,3,48,48): conv3 32, PReLU, pool 3/2, conv3 64, PReLU, pool 3/2, conv3 64, PReLU,
        pool 2/2, conv2 128, PReLU, fc 256, PReLU -> probability (N,2), offsets (N,4), 5 points (N,10)

Pools round up (ceil mode). Before the fully connected layers the feature map is flattened in
(width, height, channel) order, as the ported Caffe weights expect. Inputs are RGB, NCHW,
(pixel - 127.5) / 128.

`tools/build_assets.py` runs this in its throwaway converter venv (numpy and `onnx` only).
Standalone:
    python tools/build_mtcnn_onnx.py --wheel facenet_pytorch-2.6.0-py3-none-any.whl --out DIR
"""

from __future__ import annotations

import argparse
import collections
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

NETS = ("pnet", "rnet", "onet")
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def load_legacy_state_dict(data: bytes) -> dict[str, np.ndarray]:
    """float32 tensors of a state dict saved by torch's legacy serialisation."""
    f = io.BytesIO(data)
    if pickle.load(f) != LEGACY_MAGIC or pickle.load(f) != LEGACY_PROTOCOL:
        raise SystemExit("not a legacy torch file")
    if not pickle.load(f).get("little_endian", True):
        raise SystemExit("big-endian torch file")

    class Reader(pickle.Unpickler):
        def find_class(self, module: str, name: str):  # noqa: ANN202
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda key, offset, size, stride, *_: (key, offset, tuple(size), tuple(stride))
            if (module, name) == ("torch", "FloatStorage"):
                return name
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"unexpected {module}.{name} in a state dict")

        def persistent_load(self, pid: tuple) -> str:
            if pid[0] != "storage" or pid[1] != "FloatStorage":
                raise pickle.UnpicklingError(f"unexpected storage {pid[:2]}")
            return pid[2]

    tensors = Reader(f).load()
    storages = {}
    for key in pickle.load(f):
        count = int(np.frombuffer(f.read(8), "<i8")[0])
        storages[key] = np.frombuffer(f.read(4 * count), "<f4")
    out = {}
    for name, (key, offset, size, stride) in tensors.items():
        flat = storages[key][offset:]
        out[name] = np.lib.stride_tricks.as_strided(flat, size, [4 * s for s in stride]).astype(np.float32)
    return out


def build(name: str, sd: dict[str, np.ndarray]):  # noqa: ANN201
    """The ONNX model of net `name` ("pnet", "rnet" or "onet") with weights `sd`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(key: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), key))
        return key

    def conv(x: str, layer: str) -> str:
        w = sd[f"{layer}.weight"]
        nodes.append(helper.make_node("Conv", [x, const(f"{layer}.w", w), const(f"{layer}.b", sd[f"{layer}.bias"])],
                                      [layer], kernel_shape=list(w.shape[2:])))
        return layer

    def prelu(x: str, layer: str, spatial: bool = True) -> str:
        slope = sd[f"{layer}.weight"]
        slope = slope.reshape(-1, 1, 1) if spatial else slope  # per channel of (N, C, H, W) or of (N, C)
        nodes.append(helper.make_node("PRelu", [x, const(f"{layer}.slope", slope)], [layer]))
        return layer

    def pool(x: str, k: int, s: int, n: int) -> str:
        nodes.append(helper.make_node("MaxPool", [x], [f"pool{n}"], kernel_shape=[k, k], strides=[s, s], ceil_mode=1))
        return f"pool{n}"

    def dense(x: str, layer: str) -> str:
        nodes.append(helper.make_node("Gemm", [x, const(f"{layer}.w", sd[f"{layer}.weight"]),
                                                const(f"{layer}.b", sd[f"{layer}.bias"])], [layer], transB=1))
        return layer

    def flatten(x: str) -> str:
        nodes.append(helper.make_node("Transpose", [x], ["whc"], perm=[0, 3, 2, 1]))
        nodes.append(helper.make_node("Flatten", ["whc"], ["flat"], axis=1))
        return "flat"

    def output(x: str, out: str, softmax: bool = False) -> None:
        nodes.append(helper.make_node("Softmax", [x], [out], axis=1) if softmax else helper.make_node("Identity", [x], [out]))

    if name == "pnet":
        x = pool(prelu(conv("input", "conv1"), "prelu1"), 2, 2, 1)
        x = prelu(conv(prelu(conv(x, "conv2"), "prelu2"), "conv3"), "prelu3")
        output(conv(x, "conv4_1"), "prob", softmax=True)
        output(conv(x, "conv4_2"), "reg")
        heads, size = {"prob": 2, "reg": 4}, ["H", "W"]
    elif name == "rnet":
        x = pool(prelu(conv("input", "conv1"), "prelu1"), 3, 2, 1)
        x = pool(prelu(conv(x, "conv2"), "prelu2"), 3, 2, 2)
        x = prelu(dense(flatten(prelu(conv(x, "conv3"), "prelu3")), "dense4"), "prelu4", spatial=False)
        output(dense(x, "dense5_1"), "prob", softmax=True)
        output(dense(x, "dense5_2"), "reg")
        heads, size = {"prob": 2, "reg": 4}, [24, 24]
    else:
        x = pool(prelu(conv("input", "conv1"), "prelu1"), 3, 2, 1)
        x = pool(prelu(conv(x, "conv2"), "prelu2"), 3, 2, 2)
        x = pool(prelu(conv(x, "conv3"), "prelu3"), 2, 2, 3)
        x = prelu(dense(flatten(prelu(conv(x, "conv4"), "prelu4")), "dense5"), "prelu5", spatial=False)
        output(dense(x, "dense6_1"), "prob", softmax=True)
        output(dense(x, "dense6_2"), "reg")
        output(dense(x, "dense6_3"), "points")
        heads, size = {"prob": 2, "reg": 4, "points": 10}, [48, 48]
    spatial = ["h", "w"] if name == "pnet" else []
    graph = helper.make_graph(
        nodes, f"mtcnn_{name}", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, *size])],
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, ["N", c, *spatial]) for k, c in heads.items()], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facelens")
    model.ir_version = 8
    model.doc_string = f"MTCNN {name} (Zhang et al. 2016) from facenet-pytorch 2.6.0's {name}.pt"
    onnx.checker.check_model(model)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", type=Path, required=True, help="facenet_pytorch-2.6.0-py3-none-any.whl")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    import onnx

    with zipfile.ZipFile(args.wheel) as z:
        for name in NETS:
            model = build(name, load_legacy_state_dict(z.read(f"facenet_pytorch/data/{name}.pt")))
            target = args.out / f"mtcnn_{name}.onnx"
            onnx.save(model, str(target))
            print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
