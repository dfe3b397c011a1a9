"""The table of features a user can ask for, and what each one needs."""

from __future__ import annotations

from collections.abc import Iterable

from facelens.errors import FeatureError

FEATURES: dict[str, str] = {
    "landmarks": "5 and 68 landmarks (68 in the iBUG 300-W layout)",
    "mesh": "the 478-point mesh with irises (x, y, z); Parquet/JSONL only",
    "pose": "head pose: pitch, yaw, roll (radians) and translation (mm)",
    "gaze": "gaze unit vector per eye and gaze angles (radians)",
    "aus": "action-unit intensity estimates (0-5), from the blendshapes where they cover the AU",
    "blendshapes": "MediaPipe's 52 expression blendshape scores in [0, 1] (browDownLeft ... noseSneerRight)",
    "emotion": "probabilities of 7 emotions and the top one",
    "identity": "128-D identity embedding (dlib ResNet); Parquet/JSONL only",
    "age_gender": "age in years, gender and its probability",
    "quality": "face quality in [0, 1] from sharpness, size, pose and confidence",
    "crops": "112x112 aligned face crops (5-point similarity transform)",
}
DEFAULT_FEATURES = ("landmarks", "pose", "gaze", "aus", "emotion", "identity", "age_gender", "quality")


def parse_features(features: str | Iterable[str] | None) -> frozenset[str]:
    """None -> defaults; "all"; "a,b" or an iterable of names, where "default" stands for the
    defaults (e.g. "default,blendshapes"). Unknown names raise `FeatureError`."""
    if features is None:
        return frozenset(DEFAULT_FEATURES)
    names = [f.strip() for f in (features.split(",") if isinstance(features, str) else features)]
    names = [n for n in names if n]
    if names == ["all"]:
        return frozenset(FEATURES)
    if names in (["none"], ["detect"]):
        return frozenset()
    unknown = sorted(set(names) - set(FEATURES) - {"default"})
    if unknown:
        raise FeatureError(f"unknown feature(s) {', '.join(unknown)}; choose from: all, default, {', '.join(FEATURES)}")
    return frozenset(n for n in names if n != "default") | (frozenset(DEFAULT_FEATURES) if "default" in names else frozenset())
