"""Rebuild face-api's `age_gender_model` (TinyXception + two dense heads) as an ONNX graph.

face-api ships this network as a weight manifest plus a `.bin` shard of uint8-quantised tensors,
not as a graph: the layers are defined in its TypeScript sources (`src/xception/TinyXception.ts`,
`src/ageGenderNet/AgeGenderNet.ts`). This script dequantises each tensor (`min + q * scale`) and
writes the same layers with the `onnx` helper API, channels first:

    conv 3x3/2 -> relu -> reduction block x2 -> main block x2 -> reduction block
    -> relu(separable conv) -> 7x7 average pool -> dense age (years), dense gender -> softmax

TensorFlow's 'same' padding is ONNX's SAME_UPPER. Input `input` (N, 3, 112, 112) is
`(rgb - (122.782, 117.001, 104.298)) / 255`; outputs `age` (N, 1) in years and `gender` (N, 2)
probabilities ordered male, female.

With onnxruntime and tensorflow present, the graph is checked against the same layers written
with TensorFlow's own ops on random inputs (max abs difference printed).

Run with a python that has numpy and onnx (the throwaway converter environment, not facelens'):
    python tools/faceapi_agegender.py MANIFEST.json WEIGHTS.bin OUT.onnx
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MAIN_BLOCKS = 2


def load_weights(manifest: Path, shard: Path) -> dict[str, np.ndarray]:
    """Every tensor of a face-api weight manifest, dequantised to float32."""
    blob = shard.read_bytes()
    out, offset = {}, 0
    for group in json.loads(manifest.read_text()):
        for w in group["weights"]:
            n = int(np.prod(w["shape"], dtype=np.int64))
            q = w.get("quantization")
            if q is None:
                values = np.frombuffer(blob, np.float32, n, offset)
                offset += 4 * n
            else:
                if q["dtype"] != "uint8":
                    raise SystemExit(f"{w['name']}: quantisation {q['dtype']} not handled")
                values = np.frombuffer(blob, np.uint8, n, offset).astype(np.float32) * q["scale"] + q["min"]
                offset += n
            out[w["name"]] = values.reshape(w["shape"]).astype(np.float32)
    if offset != len(blob):
        raise SystemExit(f"read {offset} of {len(blob)} bytes of {shard.name}")
    return out


class Graph:
    """Collects nodes and initialisers; each method returns the name of its output tensor."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.w = weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def _name(self, op: str) -> str:
        self.count += 1
        return f"{op.lower()}_{self.count:03d}"

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def op(self, op: str, inputs: list[str], **attrs: object) -> str:
        out = self._name(op)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, prefix: str, stride: int) -> str:
        kernel = self.w[f"{prefix}/filters"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
        return self.op("Conv", [x, self.const(f"{prefix}/filters", kernel), self.const(f"{prefix}/bias", self.w[f"{prefix}/bias"])],
                       strides=[stride, stride], auto_pad="SAME_UPPER")

    def separable(self, x: str, prefix: str) -> str:
        depth = self.w[f"{prefix}/depthwise_filter"]  # (3, 3, C, 1)
        channels = depth.shape[2]
        dw = self.op("Conv", [x, self.const(f"{prefix}/depthwise_filter", depth.transpose(2, 3, 0, 1))],
                     group=channels, auto_pad="SAME_UPPER")
        point = self.w[f"{prefix}/pointwise_filter"].transpose(3, 2, 0, 1)
        return self.op("Conv", [dw, self.const(f"{prefix}/pointwise_filter", point), self.const(f"{prefix}/bias", self.w[f"{prefix}/bias"])])

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def reduction(self, x: str, prefix: str, activate_input: bool) -> str:
        out = self.relu(x) if activate_input else x
        out = self.separable(out, f"{prefix}/separable_conv0")
        out = self.separable(self.relu(out), f"{prefix}/separable_conv1")
        out = self.op("MaxPool", [out], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
        return self.op("Add", [out, self.conv(x, f"{prefix}/expansion_conv", 2)])

    def main_block(self, x: str, prefix: str) -> str:
        out = x
        for k in range(3):
            out = self.separable(self.relu(out), f"{prefix}/separable_conv{k}")
        return self.op("Add", [out, x])

    def dense(self, x: str, prefix: str) -> str:
        return self.op("Gemm", [x, self.const(f"{prefix}/weights", self.w[f"{prefix}/weights"]),
                                self.const(f"{prefix}/bias", self.w[f"{prefix}/bias"])])


def build(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    g = Graph(weights)
    out = g.relu(g.conv("input", "entry_flow/conv_in", 2))
    out = g.reduction(out, "entry_flow/reduction_block_0", activate_input=False)
    out = g.reduction(out, "entry_flow/reduction_block_1", activate_input=True)
    for k in range(MAIN_BLOCKS):
        out = g.main_block(out, f"middle_flow/main_block_{k}")
    out = g.reduction(out, "exit_flow/reduction_block", activate_input=True)
    out = g.relu(g.separable(out, "exit_flow/separable_conv"))
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [out])])  # the 7x7 'valid' pool of a 7x7 map
    g.nodes.append(helper.make_node("Identity", [g.dense(pooled, "fc/age")], ["age"], name="age"))
    g.nodes.append(helper.make_node("Softmax", [g.dense(pooled, "fc/gender")], ["gender"], name="gender", axis=1))
    graph = helper.make_graph(
        g.nodes, "faceapi_age_gender",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("age", TensorProto.FLOAT, ["N", 1]),
         helper.make_tensor_value_info("gender", TensorProto.FLOAT, ["N", 2])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facelens tools")
    model.ir_version = 8
    model.doc_string = "face-api age_gender_model (TinyXception) rebuilt from its weight manifest"
    onnx.checker.check_model(model)
    return model


def tensorflow_reference(w: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same layers written with TensorFlow's ops, as face-api's TF.js code calls them (NHWC)."""
    import tensorflow as tf

    def conv(t, p, stride):
        return tf.nn.conv2d(t, w[f"{p}/filters"], stride, "SAME") + w[f"{p}/bias"]

    def sep(t, p):
        return tf.nn.separable_conv2d(t, w[f"{p}/depthwise_filter"], w[f"{p}/pointwise_filter"], [1, 1, 1, 1], "SAME") + w[f"{p}/bias"]

    def reduction(t, p, activate):
        out = tf.nn.relu(t) if activate else t
        out = sep(tf.nn.relu(sep(out, f"{p}/separable_conv0")), f"{p}/separable_conv1")
        return tf.nn.max_pool2d(out, 3, 2, "SAME") + conv(t, f"{p}/expansion_conv", 2)

    out = tf.nn.relu(conv(tf.constant(x), "entry_flow/conv_in", 2))
    out = reduction(out, "entry_flow/reduction_block_0", False)
    out = reduction(out, "entry_flow/reduction_block_1", True)
    for k in range(MAIN_BLOCKS):
        main = out
        for j in range(3):
            main = sep(tf.nn.relu(main), f"middle_flow/main_block_{k}/separable_conv{j}")
        out = main + out
    out = reduction(out, "exit_flow/reduction_block", True)
    out = tf.nn.relu(sep(out, "exit_flow/separable_conv"))
    pooled = tf.reshape(tf.nn.avg_pool2d(out, 7, 2, "VALID"), [x.shape[0], -1])
    age = pooled @ w["fc/age/weights"] + w["fc/age/bias"]
    gender = tf.nn.softmax(pooled @ w["fc/gender/weights"] + w["fc/gender/bias"])
    return age.numpy(), gender.numpy()


def main(manifest: Path, shard: Path, out: Path) -> None:
    weights = load_weights(manifest, shard)
    model = build(weights)
    onnx.save(model, str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime missing: no check against TensorFlow")
        return
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (4, 112, 112, 3)).astype(np.float32)
    age, gender = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x.transpose(0, 3, 1, 2).copy()})
    ref_age, ref_gender = tensorflow_reference(weights, x)
    print(f"ONNX vs TensorFlow on 4 inputs: age max abs diff {np.abs(age - ref_age).max():.2e}, "
          f"gender {np.abs(gender - ref_gender).max():.2e}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
