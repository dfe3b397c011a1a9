"""Tiny ONNX face embedders built in the test run (no weights): fixed random projections of the aligned crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

DIM = 32


def projection(path: Path, *, layout: str = "NCHW", side: int | str = 112, dim: int = DIM, seed: int = 0) -> Path:
    """An ONNX model: (N, 3, S, S) (or N,S,S,3) -> 8x8 average pool -> flatten -> fixed random (588 -> dim)."""
    rng = np.random.default_rng(seed)
    cells = 3 * (112 // 8) ** 2
    w = numpy_helper.from_array(rng.standard_normal((cells, dim)).astype(np.float32), "w")
    shape = ["n", 3, side, side] if layout == "NCHW" else ["n", side, side, 3]
    nodes = []
    src = "x"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]))
        src = "xt"
    nodes += [helper.make_node("AveragePool", [src], ["p"], kernel_shape=[8, 8], strides=[8, 8]),
              helper.make_node("Flatten", ["p"], ["f"], axis=1),
              helper.make_node("MatMul", ["f", "w"], ["y"])]
    graph = helper.make_graph(nodes, "projection", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", dim])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
