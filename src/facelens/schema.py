"""One column definition for every output: CSV, Parquet, JSONL, REST and the web page.

Names follow OpenFace 2.2 where OpenFace has the quantity, with its units (pose in mm and
radians, gaze in radians); our own names in the same style for the rest. Vectors (`embedding`,
`mesh`) are fixed-size lists in Parquet/JSONL and never in CSV.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa

from facelens.faces import EMOTIONS, FrameResult
from facelens.geometry.au import AU_NAMES
from facelens.models.blendshapes import BLENDSHAPE_COLUMNS, blendshape_index

VECTOR_COLUMNS = ("embedding", "mesh")


def columns(features: Iterable[str]) -> list[str]:
    """Scalar column names, in order, for a set of features."""
    f = set(features)
    cols = ["file", "frame", "face_id", "timestamp", "confidence", "success", "face_x", "face_y", "face_w", "face_h", "track_id"]
    if "landmarks" in f:
        cols += [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
        cols += [f"lm5_x_{i}" for i in range(5)] + [f"lm5_y_{i}" for i in range(5)]
    if "pose" in f:
        cols += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    if "gaze" in f:
        cols += [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    if "aus" in f:
        cols += [f"{name}_r" for name in AU_NAMES]
    if "blendshapes" in f:
        cols += list(BLENDSHAPE_COLUMNS)
    if "emotion" in f:
        cols += ["emotion"] + [f"emotion_{e}" for e in EMOTIONS]
    if "age_gender" in f:
        cols += ["age", "age_sd", "gender", "gender_prob"]
    if "quality" in f:
        cols += ["quality"]
    return cols + ["error"]


def _face_block(r: FrameResult, features: set[str]) -> dict[str, np.ndarray | list]:
    """Columns for the faces of one frame (N >= 1 rows)."""
    fc = r.faces
    n = len(fc)
    out: dict[str, np.ndarray | list] = {
        "face_id": np.arange(n),
        "confidence": fc.scores,
        "success": np.ones(n, np.int8),
    }
    xywh = fc.xywh
    for i, name in enumerate(("face_x", "face_y", "face_w", "face_h")):
        out[name] = xywh[:, i]
    if fc.track_id is not None:
        out["track_id"] = fc.track_id
    if "landmarks" in features and fc.landmarks68 is not None:
        for i in range(68):
            out[f"x_{i}"], out[f"y_{i}"] = fc.landmarks68[:, i, 0], fc.landmarks68[:, i, 1]
        for i in range(5):
            out[f"lm5_x_{i}"], out[f"lm5_y_{i}"] = fc.landmarks5[:, i, 0], fc.landmarks5[:, i, 1]
    if "pose" in features and fc.pose_R is not None:
        for i, a in enumerate("xyz"):
            out[f"pose_T{a}"], out[f"pose_R{a}"] = fc.pose_T[:, i], fc.pose_R[:, i]
    if "gaze" in features and fc.gaze is not None:
        for e in (0, 1):
            for i, a in enumerate("xyz"):
                out[f"gaze_{e}_{a}"] = fc.gaze[:, e, i]
        out["gaze_angle_x"], out["gaze_angle_y"] = fc.gaze_angle[:, 0], fc.gaze_angle[:, 1]
    if "aus" in features and fc.aus is not None:
        for i, name in enumerate(AU_NAMES):
            out[f"{name}_r"] = fc.aus[:, i]
    if "blendshapes" in features and fc.blendshapes is not None:
        for name in BLENDSHAPE_COLUMNS:
            out[name] = fc.blendshapes[:, blendshape_index(name)]
    if "emotion" in features and fc.emotion is not None:
        out["emotion"] = fc.emotion_label
        for i, e in enumerate(EMOTIONS):
            out[f"emotion_{e}"] = fc.emotion[:, i]
    if "age_gender" in features and fc.age is not None:
        out["age"] = fc.age
        if fc.age_sd is not None:
            out["age_sd"] = fc.age_sd
        out["gender"] = ["male" if p >= 0.5 else "female" for p in fc.male_prob]
        out["gender_prob"] = np.maximum(fc.male_prob, 1 - fc.male_prob)
    if "quality" in features and fc.quality is not None:
        out["quality"] = fc.quality
    if "identity" in features and fc.embedding is not None:
        out["embedding"] = list(fc.embedding.astype(np.float32))
    if "mesh" in features and fc.mesh is not None:
        out["mesh"] = list(fc.mesh.reshape(n, -1).astype(np.float32))
    return out


def _type(name: str) -> pa.DataType:
    if name in ("file", "emotion", "gender", "error"):
        return pa.string()
    if name in ("frame", "face_id", "track_id"):
        return pa.int64()
    if name == "success":
        return pa.int8()
    if name == "timestamp":
        return pa.float64()
    if name == "embedding":
        return pa.list_(pa.float32())
    if name == "mesh":
        return pa.list_(pa.float32(), 478 * 3)
    return pa.float32()


def arrow_schema(features: Iterable[str], vectors: bool = True) -> pa.Schema:
    f = set(features)
    names = columns(f)
    if vectors:
        names += [v for v, need in (("embedding", "identity"), ("mesh", "mesh")) if need in f]
    return pa.schema([pa.field(n, _type(n)) for n in names])


def to_arrow(results: Sequence[FrameResult], features: Iterable[str], vectors: bool = True) -> pa.Table:
    """A table with one row per face; a frame with no face (or an error) gives one row, success=0."""
    f = set(features)
    schema = arrow_schema(f, vectors)
    data: dict[str, list] = {name: [] for name in schema.names}
    for r in results:
        n = max(1, len(r.faces))
        block = _face_block(r, f) if len(r.faces) else {"success": [0]}
        block.update(file=[r.source] * n, frame=[r.frame] * n, timestamp=[r.timestamp] * n, error=[r.error] * n)
        for name in schema.names:
            value = block.get(name)
            if value is None:
                data[name].extend([None] * n)
            elif isinstance(value, np.ndarray):
                data[name].extend(value.tolist() if value.ndim == 1 else list(value))
            else:
                data[name].extend(value)
    arrays = []
    for field in schema:
        values = data[field.name]
        if pa.types.is_floating(field.type):
            values = [None if v is None or v != v else v for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# py-feat's Fex column names (pose in degrees there).
PYFEAT_RENAME = {
    "file": "input", "face_x": "FaceRectX", "face_y": "FaceRectY", "face_w": "FaceRectWidth",
    "face_h": "FaceRectHeight", "confidence": "FaceScore", "pose_Rx": "Pitch", "pose_Ry": "Yaw",
    "pose_Rz": "Roll", "emotion_anger": "anger", "emotion_disgust": "disgust", "emotion_fear": "fear",
    "emotion_happy": "happiness", "emotion_sad": "sadness", "emotion_surprise": "surprise",
    "emotion_neutral": "neutral",
}


def to_pyfeat(table: pa.Table) -> pa.Table:
    """Rename to py-feat Fex names: AUxx_r -> AUxx, pose angles converted to degrees."""
    names, arrays = [], []
    for name, col in zip(table.column_names, table.columns):
        if name in ("pose_Rx", "pose_Ry", "pose_Rz"):
            col = pa.array(np.degrees(col.to_numpy(zero_copy_only=False)), type=pa.float32(), from_pandas=True)
        new = PYFEAT_RENAME.get(name, name[:-2] if name.startswith("AU") and name.endswith("_r") else name)
        names.append(new)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, names=names)
