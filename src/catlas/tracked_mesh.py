"""One mesh carried through the whole sequence by the atlas (docs/method.md, 7).

The atlas gives every surface point of one frame an atlas coordinate (patch p, uv in [0, 1]^2)
that decodes to the same surface point in every other frame. A mesh built once, at a reference
frame, therefore moves through the sequence with fixed connectivity:

1. **Reference mesh** (:func:`reference_mesh`): the input mesh of the reference frame when the run
   stores one (mesh input with shared connectivity), else a ball-pivoting mesh of the frame's
   stored points (pymeshlab).
2. **Atlas coordinates** (:func:`atlas_coordinates`): each vertex takes the (patch, uv) of its
   nearest dense atlas sample at the reference frame, then a few damped Gauss-Newton steps move
   uv so that the decoded point meets the vertex.
3. **Decoding** (:func:`decode_coordinates`): every vertex's (patch, uv) decoded in every frame,
   its offset from the atlas carried along; then each frame's mesh is made as rigid as possible
   with respect to the reference mesh while it follows those positions and the frame's cloud
   (:func:`fit_frames`).

Units: normalised units inside (the run's centre and scale), input units in the returned
:class:`~catlas.export.mesh.MeshSequence`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.spatial import cKDTree

from catlas.errors import CatlasError
from catlas.export.mesh import MeshSequence, frame_progress
from catlas.geometry.uv import grid_uv, to_texture_uv
from catlas.surface import persistent_patches

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["AtlasCoordinates", "TrackedMesh", "reference_frame", "reference_mesh", "cloud_mesh",
           "atlas_coordinates", "blend_weights", "decode_coordinates", "anchor_weights", "fit_frames", "tracked_mesh",
           "SEARCH_RESOLUTION", "REFINE_STEPS", "ANCHOR_WIDTH", "CLOUD_WEIGHT"]

SEARCH_RESOLUTION = 64
"""UV grid vertices per patch side of the samples a vertex's nearest atlas point is looked up in."""
REFINE_STEPS = 10
"""Damped Gauss-Newton steps on each vertex's uv after the nearest-sample start."""
BLEND_WIDTH = 0.01
"""Normalised units: a patch's point this much farther from a vertex than the closest patch's
weighs exp(-1) as much (:func:`blend_weights`)."""
BLEND_BORDER = 0.1
"""uv distance from a patch's border over which its weight ramps from 0 to 1."""
ANCHOR_WIDTH = 0.02
"""Normalised units: a vertex this far from the atlas at the reference frame pulls towards its
decoded positions exp(-1) as strongly as one on it (:func:`anchor_weights`)."""
CLOUD_WEIGHT = 0.3
"""Pull of every vertex onto the frame's cloud, against the edges' weight 1 (:func:`fit_frames`)."""
HOLE_EDGES = 100
"""Holes of up to this many boundary edges are closed in a mesh made from a cloud."""


@dataclass
class AtlasCoordinates:
    """Atlas coordinates of V mesh vertices at one frame, on every patch, and the blend weights
    that make one position of them."""

    uv: np.ndarray  # (P, V, 2) float64 in [0, 1]^2: the point of patch p nearest to vertex v
    residual: np.ndarray  # (P, V) float64 distance vertex -> that point, normalised units
    weight: np.ndarray  # (P, V) float64 blend weights, each column sums to 1
    offset: np.ndarray  # (P, V, 3) float64 vertex - point, in the point's local frame

    @property
    def patch(self) -> np.ndarray:
        """``(V,)`` int64 the patch of largest weight of each vertex."""
        return np.argmax(self.weight, axis=0)

    def main_uv(self) -> np.ndarray:
        """``(V, 2)`` uv of each vertex on :attr:`patch`."""
        return self.uv[self.patch, np.arange(self.uv.shape[1])]


@dataclass
class TrackedMesh:
    """The reference mesh decoded in every frame, and how it was made."""

    sequence: MeshSequence  # (K, V, 3) input units, fixed faces
    coordinates: AtlasCoordinates
    frame: int  # the reference frame
    source: str  # "input mesh" or "ball pivoting"


def reference_frame(run: "Run", frame: int | None = None) -> int:
    """The frame the mesh is built at: ``frame`` if given, else the middle frame K // 2 (where the
    curriculum starts, docs/method.md 5.3)."""
    K = run.n_frames
    if frame is None:
        return K // 2
    if isinstance(frame, bool) or not isinstance(frame, int) or not -K <= frame < K:
        raise CatlasError(f"--reference must be a frame index in [0, {K - 1}], got {frame!r}")
    return frame % K


def cloud_mesh(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A triangle mesh through a cloud's points ``(N, 3)``: vertices ``(V, 3)``, faces ``(F, 3)``.

    Ball pivoting (pymeshlab), non-manifold edges and vertices repaired, holes of up to
    ``HOLE_EDGES`` edges closed. Ball pivoting, not screened Poisson: on clouds of a few thousand
    points of thin parts (legs), Poisson's normal orientation fails and its surface strays far
    from the points, while ball pivoting keeps every vertex on a point (it may leave holes)."""
    try:
        import pymeshlab
    except ImportError:
        raise CatlasError("a mesh from a point cloud needs pymeshlab: pip install pymeshlab") from None
    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(vertex_matrix=np.asarray(points, np.float64)))
    ms.generate_surface_reconstruction_ball_pivoting()
    ms.meshing_repair_non_manifold_edges()
    ms.meshing_repair_non_manifold_vertices()
    ms.meshing_close_holes(maxholesize=HOLE_EDGES, newfaceselected=False)
    ms.meshing_remove_unreferenced_vertices()
    m = ms.current_mesh()
    return m.vertex_matrix().astype(np.float64), m.face_matrix().astype(np.int64)


def reference_mesh(run: "Run", frame: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The mesh at ``frame`` in normalised units: vertices ``(V, 3)``, faces ``(F, 3)``, and its
    source ("input mesh" or "ball pivoting", :func:`cloud_mesh`)."""
    seq = run.sequence
    if seq.vertices is not None and seq.faces is not None:
        return seq.vertices[frame].astype(np.float64), seq.faces.astype(np.int64), "input mesh"
    v, f = cloud_mesh(seq.points[frame])
    return v, f, "ball pivoting"


def blend_weights(uv: np.ndarray, residual: np.ndarray, kept: np.ndarray,
                  width: float = BLEND_WIDTH, border: float = BLEND_BORDER) -> np.ndarray:
    """``(P, V)`` weights of each patch's point for each vertex (columns sum to 1).

    A patch counts by how close its point is compared with the closest patch's,
    ``exp(-((r_p - r_min) / width)^2)``, times a ramp from 0 at its uv border to 1 at ``border``
    inside it, so a vertex's position moves continuously where patches overlap; a vertex that
    only patch borders reach takes the closest patch. Collapsed patches (``kept`` False) weigh 0."""
    r = np.where(kept[:, None], residual, np.inf)
    close = np.exp(-(((r - r.min(axis=0)) / width) ** 2))
    edge = np.minimum(np.minimum(uv[..., 0], 1 - uv[..., 0]), np.minimum(uv[..., 1], 1 - uv[..., 1]))
    t = np.clip(edge / border, 0.0, 1.0)
    w = close * t * t * (3 - 2 * t)  # smoothstep
    none = w.sum(axis=0) <= 1e-12
    w[:, none] = 0.0
    w[np.argmin(r[:, none], axis=0), np.flatnonzero(none)] = 1.0
    return w / w.sum(axis=0)


def _local_frames(jac: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` orthonormal frames (rows: tangent along u, second tangent, normal) from
    Jacobians ``(..., 3, 2)`` (Gram-Schmidt on the columns, normal = their cross product)."""
    t1, t2 = jac[..., 0], jac[..., 1]
    e1 = torch.nn.functional.normalize(t1, dim=-1, eps=1e-12)
    e2 = torch.nn.functional.normalize(t2 - (t2 * e1).sum(-1, keepdim=True) * e1, dim=-1, eps=1e-12)
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], dim=-2)


@torch.inference_mode()
def decode_coordinates(run: "Run", coords: AtlasCoordinates, frames: list[int] | None = None,
                       batch: int = 8, progress: bool = False) -> np.ndarray:
    """``(len(frames), V, 3)`` float64, normalised units: each vertex in each of ``frames``
    (default all), the weighted mean over its patches of the patch's point plus the vertex's
    offset from that point, carried in the point's local frame (tangents and normal), so the
    reference frame gives back the reference vertices."""
    frames = list(range(run.n_frames)) if frames is None else frames
    used = np.flatnonzero(coords.weight.max(axis=1) > 0)  # patches some vertex uses
    uv = torch.as_tensor(coords.uv, dtype=torch.float32, device=run.device)  # the decoder takes all P
    w = torch.as_tensor(coords.weight[used], dtype=torch.float64)
    offset = torch.as_tensor(coords.offset[used], dtype=torch.float64)  # (P', V, 3) local
    codes = run.codes()
    out = []
    chunks = [frames[a:a + batch] for a in range(0, len(frames), batch)]
    for chunk in frame_progress(chunks, len(chunks), "decoding the mesh", progress):
        xyz, jac = run.model.decode(codes[chunk], uv, jacobian=True)  # (B, P, V, 3), (B, P, V, 3, 2)
        frame = _local_frames(jac[:, used].double().cpu())
        moved = xyz[:, used].double().cpu() + torch.einsum("pvj,bpvji->bpvi", offset, frame)
        out.append(torch.einsum("bpvi,pv->bvi", moved, w).numpy())
    return np.concatenate(out) if out else np.zeros((0, coords.uv.shape[1], 3))


def atlas_coordinates(run: "Run", frame: int, vertices: np.ndarray, kept: np.ndarray | None = None,
                      search_resolution: int = SEARCH_RESOLUTION,
                      steps: int = REFINE_STEPS) -> AtlasCoordinates:
    """The point of every patch nearest to each of ``vertices`` ``(V, 3)`` (normalised units) at
    ``frame``, and the blend weights (:func:`blend_weights`).

    Start: the patch's nearest ``search_resolution``^2 grid sample. Then ``steps`` damped
    Gauss-Newton steps on ``|f_p(uv) - x|^2`` (uv kept in [0, 1]^2; a step is kept only where it
    lowers the distance, else the damping grows)."""
    P = run.n_patches
    kept = np.ones(P, bool) if kept is None else np.asarray(kept, bool)
    x = np.asarray(vertices, np.float64)
    V = len(x)
    grid = grid_uv(search_resolution)  # (R*R, 2)
    code = run.codes()[frame:frame + 1]
    with torch.inference_mode():
        samples, _ = run.model.decode(code, grid.expand(P, -1, -1).contiguous().to(run.device))
    samples = samples[0].double().cpu().numpy()  # (P, R*R, 3)
    g = grid.double().numpy()
    uv = np.stack([g[cKDTree(samples[p]).query(x)[1]] for p in range(P)])  # (P, V, 2)
    target = torch.as_tensor(x)[None]  # (1, V, 3)
    damping = np.full((P, V), 1e-3)
    dist = prev = None
    for it in range(steps + 1):
        with torch.inference_mode():
            xyz, jac = run.model.decode(code, torch.as_tensor(uv, dtype=torch.float32,
                                                              device=run.device), jacobian=True)
        r = target - xyz[0].double().cpu()  # (P, V, 3)
        J = jac[0].double().cpu()  # (P, V, 3, 2) d xyz / d uv
        d = r.norm(dim=-1).numpy()
        if dist is not None:  # keep the step where it helped, undo it elsewhere
            worse = d > dist
            wt = torch.as_tensor(worse)
            uv[worse], d[worse] = prev[0][worse], dist[worse]
            r[wt], J[wt] = prev[1][wt], prev[2][wt]
            damping = np.where(worse, damping * 10.0, damping * 0.3)
        dist, prev = d, (uv.copy(), r, J)
        if it == steps:
            break
        Jt = J.transpose(-1, -2)
        A = Jt @ J + torch.as_tensor(damping)[..., None, None] * torch.eye(2, dtype=J.dtype)
        step = torch.linalg.solve(A, Jt @ r[..., None])[..., 0]
        uv = np.clip(uv + step.numpy(), 0.0, 1.0)
    offset = torch.einsum("pvji,pvi->pvj", _local_frames(prev[2]), prev[1]).numpy()
    return AtlasCoordinates(uv=uv, residual=dist, weight=blend_weights(uv, dist, kept), offset=offset)


def anchor_weights(coords: AtlasCoordinates, kept: np.ndarray, width: float = ANCHOR_WIDTH) -> np.ndarray:
    """``(V,)`` how much each vertex trusts its decoded position: ``exp(-(r / width)^2)`` with r
    its distance to the nearest kept patch at the reference frame (normalised units). A vertex far
    from every patch (thin parts the atlas misses) follows its neighbours instead."""
    r = np.where(np.asarray(kept, bool)[:, None], coords.residual, np.inf).min(axis=0)
    return np.exp(-((r / width) ** 2))


def fit_frames(run: "Run", coords: AtlasCoordinates, decoded: np.ndarray, reference: int,
               vertices: np.ndarray, faces: np.ndarray, kept: np.ndarray,
               progress: bool = False) -> np.ndarray:
    """``(K, V, 3)`` normalised units: every frame's mesh as rigid as possible with respect to the
    reference mesh ``vertices (V, 3)``, pulled towards the ``decoded (K, V, 3)`` positions
    (:func:`anchor_weights`) and onto the frame's stored cloud (point-to-plane, weight
    ``CLOUD_WEIGHT``; catlas.geometry.arap). Removes the folds of the atlas's vertex-to-vertex
    jitter; the reference frame keeps its vertices."""
    from catlas.geometry.arap import arap_deform

    others = [k for k in range(len(decoded)) if k != reference]
    out = np.empty(decoded.shape, np.float64)
    out[reference] = vertices
    out[others] = arap_deform(vertices, faces, decoded[others], anchor_weights(coords, kept),
                              clouds=run.sequence.points[others].astype(np.float64),
                              cloud_weight=CLOUD_WEIGHT,
                              frames=lambda r: frame_progress(r, len(r), "fitting the mesh", progress))
    return out


def tracked_mesh(run: "Run", frame: int | None = None, progress: bool = False) -> TrackedMesh:
    """The reference mesh (:func:`reference_mesh`) at ``frame`` (default :func:`reference_frame`)
    carried through every frame by the atlas; patches collapsed in every frame are not used."""
    r = reference_frame(run, frame)
    vertices, faces, source = reference_mesh(run, r)
    kept = persistent_patches(run, progress=progress)
    coords = atlas_coordinates(run, r, vertices, kept)
    xyz = fit_frames(run, coords, decode_coordinates(run, coords, progress=progress), r, vertices,
                     faces, kept, progress=progress)
    patch, uv = coords.patch, coords.main_uv()
    tex = to_texture_uv(torch.as_tensor(uv)[None].expand(run.n_patches, -1, -1))
    texcoords = tex[torch.as_tensor(patch), torch.arange(len(patch))].numpy()
    seq = MeshSequence(vertices=run.sequence.to_input_units(xyz), faces=faces, texcoords=texcoords,
                       patch=patch, uv=uv, kept=kept, resolution=0, names=list(run.sequence.names),
                       reference=r, source=source)
    return TrackedMesh(sequence=seq, coordinates=coords, frame=r, source=source)
