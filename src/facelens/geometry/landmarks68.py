"""iBUG 68-point and 5-point landmarks derived from the 478-point mesh, following the head pose.

`MESH_TO_68` picks, for each iBUG 300-W point, the mesh vertex on the same anatomical spot (jaw
contour, brows, nose, eyes, lips). 300-W's annotators traced the jaw on the *visible* outline, which
no fixed vertex follows once the head turns, so by default each point is built in three parts:

1. an affine combination of the 16 mesh vertices around its vertex (asset `landmarks68_fit`);
2. landmark marching (as in 3DDFA): each jaw point has a contour line of canonical-face vertices
   running inward from the outline along its normal; the point moves out to the line's extreme in
   the image, which is the silhouette when that side of the face turns away and the outline itself
   (no move) when it is frontal or turned towards the camera;
3. a pose term for the side jaw points: the point moves along the face's projected axes by fitted
   amounts times how far its side is turned towards, or away from, the camera (zero for a frontal
   face). The near-side outline runs behind the mesh's edge, and 300-W's points slide down it.

Parts 1 and 3 were fitted together by `tools/fit_landmarks68.py` to dlib's 300-W-trained predictor
on faces other than the ones the NME is measured on, for the vertices of the Face Mesh V2 pass
(`Pipeline.second_mesh`), which the pipeline passes here; any mesh of the same topology works.
Everything is continuous in the mesh and the pose, so points glide, never jump, as a head turns.
The method uses only the mesh topology (vertex indices and the canonical face) and the pose, not
one landmark model's quirks.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from facelens.geometry.ibug68 import JAW, JAW_SIDE, MESH_TO_68
from facelens.geometry.pose import RIGID, canonical_face, view_rotation
from facelens.models.runtime import asset_path

__all__ = ["MESH_TO_68", "PoseFrame", "apply_mapping", "contour_lines", "landmarks5", "landmarks68", "march_offsets", "pose_basis"]

# Contour lines on the canonical face (mm): half-width across the line, and how far it reaches inward.
LINE_HALF_WIDTH = 7.0
LINE_DEPTH = 50.0
POSE_BASES = 2  # per side jaw point: turned towards / away from the camera (each along both head axes)


@functools.cache
def contour_lines() -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Outward unit normals (17, 2) of the canonical jaw outline and each jaw point's contour line.

    A line holds the canonical vertices within `LINE_HALF_WIDTH` of the straight path that runs
    from the jaw point's vertex inward along the normal, up to `LINE_DEPTH` mm (vertex ids, the
    point's own vertex included).
    """
    c = canonical_face()[:, :2]
    jaw = c[MESH_TO_68[JAW]]
    normals = np.zeros((len(JAW), 2))
    lines = []
    for j in JAW:
        t = jaw[min(j + 1, JAW[-1])] - jaw[max(j - 1, 0)]
        n = np.array([t[1], -t[0]]) / np.linalg.norm(t)
        normals[j] = n if n @ (jaw[j] - c.mean(0)) > 0 else -n
        rel = c - jaw[j]
        along, across = rel @ normals[j], rel @ np.array([-normals[j, 1], normals[j, 0]])
        lines.append(np.flatnonzero((np.abs(across) < LINE_HALF_WIDTH) & (along <= 1e-9) & (along >= -LINE_DEPTH)))
    normals.setflags(write=False)
    return normals, tuple(lines)


@dataclass(frozen=True)
class PoseFrame:
    """Per-face head frame for the landmark mapping.

    view : (N, 3, 3) head rotation in the mesh's frame (`pose.view_rotation`); rows with an unknown
        pose are the identity and `known` is False there.
    scale : (N,) mesh pixels per canonical millimetre (0 where the pose is unknown).
    """

    view: np.ndarray
    scale: np.ndarray
    known: np.ndarray

    @classmethod
    def from_pose(cls, mesh: np.ndarray, pose_R: np.ndarray, pose_T: np.ndarray | None = None) -> PoseFrame:
        """From `head_pose` output; the scale is a least-squares fit of the rigid vertices."""
        view = view_rotation(pose_R, pose_T)
        known = np.isfinite(view).all((1, 2))
        view = np.where(known[:, None, None], view, np.eye(3))
        model = np.einsum("nij,vj->nvi", view, canonical_face()[RIGID])[..., :2]
        image = np.asarray(mesh, np.float64)[:, RIGID, :2]
        spread = lambda p: ((p - p.mean(1, keepdims=True)) ** 2).sum((1, 2))  # noqa: E731
        scale = np.sqrt(spread(image) / spread(model))
        scale = np.where(known & np.isfinite(scale), scale, 0.0)
        return cls(view, scale, known)


@functools.cache
def _line_table() -> np.ndarray:
    """The contour lines padded into one (17, L) vertex table (padding repeats the jaw vertex)."""
    _, lines = contour_lines()
    table = np.repeat(MESH_TO_68[JAW, None], max(map(len, lines)), axis=1)
    for j, line in enumerate(lines):
        table[j, :len(line)] = line
    table.setflags(write=False)
    return table


def march_offsets(mesh: np.ndarray, frame: PoseFrame) -> np.ndarray:
    """(N, 17, 2) image shift of each jaw point out to its contour line's extreme (landmark marching).

    The extreme is taken along the projected outward normal; a point whose own vertex is already
    the extreme (frontal face, near side) does not move.
    """
    normals, _ = contour_lines()
    u = np.einsum("nij,lj->nli", frame.view[:, :2, :2], normals)  # (N, 17, 2)
    u /= np.maximum(np.linalg.norm(u, axis=2, keepdims=True), 1e-9)
    reach = np.einsum("nlvc,nlc->nlv", mesh[:, _line_table(), :2], u).max(2)
    own = np.einsum("nlc,nlc->nl", mesh[:, MESH_TO_68[JAW], :2], u)
    return (np.maximum(reach - own, 0.0) * frame.known[:, None])[..., None] * u


def pose_basis(frame: PoseFrame) -> np.ndarray:
    """(N, 17, 2 * POSE_BASES, 2) image vectors that the fitted pose weights of the jaw combine.

    With d = view[2] the line of sight in the head frame (x to the subject's left), the basis
    functions of a side jaw point are how far its side is turned towards the camera and how far
    away from it; each is taken along both projected head axes and scaled to pixels. They vanish
    for a frontal face and for the chin.
    """
    dx = frame.view[:, 2, :1]
    f = np.stack([np.maximum(-JAW_SIDE * dx, 0.0), np.maximum(JAW_SIDE * dx, 0.0)], -1)  # (N, 17, 2)
    axes = frame.view[:, :2, :2].transpose(0, 2, 1) * frame.scale[:, None, None]  # (N, 2 axes, 2 xy)
    return np.einsum("nlb,nac->nlbac", f, axes).reshape(len(dx), len(JAW), 2 * POSE_BASES, 2)


@functools.cache
def _fit() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    doc = json.loads(asset_path("landmarks68_fit").read_text())
    return (np.asarray(doc["index"], np.intp), np.asarray(doc["weight"], np.float64),
            np.asarray(doc["pose_weight"], np.float64))


def landmarks68(mesh: np.ndarray, fitted: bool = True, pose_R: np.ndarray | None = None,
                pose_T: np.ndarray | None = None) -> np.ndarray:
    """(N, 478|468, 3) mesh -> (N, 68, 2) iBUG-layout points.

    Parameters
    ----------
    mesh : mesh points in image pixels.
    fitted : False gives the plain vertex table (`MESH_TO_68`), which uses no 300-W-derived data.
    pose_R, pose_T : (N, 3) head pose from `head_pose`. Given, the jaw follows the visible outline
        (marching, for both mappings) and the fitted pose term applies; without them the face is
        taken to be frontal.
    """
    mesh = np.asarray(mesh, np.float64)
    frame = PoseFrame.from_pose(mesh, pose_R, pose_T) if pose_R is not None and len(mesh) else None
    if fitted:
        return apply_mapping(mesh, *_fit(), frame).astype(np.float32)
    points = mesh[:, MESH_TO_68, :2].copy()
    if frame is not None:
        points[:, JAW] += march_offsets(mesh, frame)
    return points.astype(np.float32)


def apply_mapping(mesh: np.ndarray, index: np.ndarray, weight: np.ndarray, pose_weight: np.ndarray,
                  frame: PoseFrame | None = None) -> np.ndarray:
    """(N, 68, 2) float64 points of a fitted mapping: affine part, then marching and pose term."""
    points = np.einsum("nlkc,lk->nlc", mesh[:, index, :2], weight)
    if frame is not None:
        points[:, JAW] += march_offsets(mesh, frame) + np.einsum("nlbc,lb->nlc", pose_basis(frame), pose_weight)
    return points


def landmarks5(mesh: np.ndarray) -> np.ndarray:
    """(N, 478, 3) mesh -> (N, 5, 2): eye centres, nose tip, mouth corners (image left to right).

    The layout of RetinaFace/InsightFace five-point alignment. Eye centres are the iris centres
    when the mesh has them, else the middle of the eye corners.
    """
    if mesh.shape[1] >= 478:
        right_eye, left_eye = mesh[:, 468, :2], mesh[:, 473, :2]
    else:
        right_eye = mesh[:, [33, 133], :2].mean(1)
        left_eye = mesh[:, [362, 263], :2].mean(1)
    pts = np.stack([right_eye, left_eye, mesh[:, 1, :2], mesh[:, 61, :2], mesh[:, 291, :2]], 1)
    return pts.astype(np.float32)
