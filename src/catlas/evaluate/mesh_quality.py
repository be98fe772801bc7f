"""How good one animated mesh is (docs/evaluation.md, 8): its distance to the input clouds, its
faces' health relative to the reference frame, and, with ground truth, how well its vertices
track the surface.

Every function takes a mesh sequence with fixed connectivity: vertices ``(K, V, 3)`` and faces
``(F, 3)`` int64, in one unit system (the run's normalised units in :func:`mesh_report`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from catlas.data.sampling import sample_surface
from catlas.geometry.triangles import face_normals, mesh_edges

if TYPE_CHECKING:
    from catlas.run import Run
    from catlas.tracked_mesh import TrackedMesh

__all__ = ["face_normals", "face_adjacency", "flipped_faces", "degenerate_faces", "mesh_edges",
           "edge_distortion", "surface_distances", "topology", "tracking_error", "mesh_report",
           "format_mesh_report", "DEGENERATE_RATIO",
           "SURFACE_SAMPLES"]

DEGENERATE_RATIO = 0.01
"""A face is degenerate in a frame when its area is below this fraction of its reference area."""
SURFACE_SAMPLES = 10_000
"""Points drawn uniformly on a mesh surface for its Chamfer and Hausdorff distances."""


def face_adjacency(faces: np.ndarray) -> np.ndarray:
    """``(E, 2)`` int64 pairs of faces sharing an edge (each interior edge once; an edge with more
    than two faces gives every pair)."""
    f = np.asarray(faces, np.int64)
    edges = np.sort(np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], axis=1).reshape(-1, 2), axis=1)
    owner = np.repeat(np.arange(len(f)), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, owner = edges[order], owner[order]
    same = np.all(edges[1:] == edges[:-1], axis=1)
    pairs = [np.stack([owner[:-1][same], owner[1:][same]], axis=1)]
    # edges shared by three or more faces: pair every face with the first of its run as well
    far = np.all(edges[2:] == edges[:-2], axis=1)
    pairs.append(np.stack([owner[:-2][far], owner[2:][far]], axis=1))
    return np.concatenate(pairs)


def _fold(normals: np.ndarray, areas: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
    """``(F,)`` bool: a face whose unit normal ``(F, 3)`` points against the area-weighted mean
    normal of its edge neighbours (``areas (F,)``, ``adjacency (E, 2)``)."""
    mean = np.zeros_like(normals)
    weighted = normals * areas[:, None]
    np.add.at(mean, adjacency[:, 0], weighted[adjacency[:, 1]])
    np.add.at(mean, adjacency[:, 1], weighted[adjacency[:, 0]])
    has = np.bincount(adjacency.reshape(-1), minlength=len(normals)) > 0
    return (np.einsum("fi,fi->f", normals, mean) < 0) & has


def flipped_faces(frames: np.ndarray, reference: np.ndarray, faces: np.ndarray,
                  adjacency: np.ndarray | None = None) -> np.ndarray:
    """``(K,)`` fraction of faces flipped in each frame relative to the reference: folded over
    against their edge neighbours in the frame (normal opposite to the neighbours' area-weighted
    mean normal) but not at the reference. frames ``(K, V, 3)``, reference ``(V, 3)``."""
    adjacency = face_adjacency(faces) if adjacency is None else adjacency
    n_ref, a_ref = face_normals(reference, faces)
    ok_ref = ~_fold(n_ref, a_ref, adjacency)
    out = np.empty(len(frames))
    for k, v in enumerate(frames):
        n, a = face_normals(v, faces)
        out[k] = np.mean(_fold(n, a, adjacency) & ok_ref)
    return out


def degenerate_faces(frames: np.ndarray, reference: np.ndarray, faces: np.ndarray,
                     ratio: float = DEGENERATE_RATIO) -> np.ndarray:
    """``(K,)`` fraction of faces whose area in the frame is below ``ratio`` x their reference
    area (faces of zero reference area never count)."""
    _, a_ref = face_normals(reference, faces)
    _, a = face_normals(frames, faces)
    return np.mean((a < ratio * a_ref[None]) & (a_ref[None] > 0), axis=1)


def edge_distortion(frames: np.ndarray, reference: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(K,)`` mean over edges of ``|l_k / l_ref - 1|`` (edges of zero reference length left out)."""
    e = mesh_edges(faces)
    ref = np.linalg.norm(reference[e[:, 0]] - reference[e[:, 1]], axis=-1)
    keep = ref > 0
    length = np.linalg.norm(frames[:, e[keep, 0]] - frames[:, e[keep, 1]], axis=-1)
    return np.mean(np.abs(length / ref[keep] - 1.0), axis=1)


def surface_distances(vertices: np.ndarray, faces: np.ndarray, cloud: np.ndarray,
                      n_samples: int = SURFACE_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """Chamfer distance (squared distances, each direction a mean, summed: units^2) and
    Hausdorff distance (units) between ``n_samples`` points drawn uniformly on the mesh
    ``vertices (V, 3)``, ``faces (F, 3)`` and a point cloud ``(N, 3)``."""
    pts, _, _ = sample_surface(vertices, faces, n_samples, np.random.default_rng(seed))
    pts = pts.astype(np.float64)
    cloud = np.asarray(cloud, np.float64)
    d_mc, _ = cKDTree(cloud).query(pts)
    d_cm, _ = cKDTree(pts).query(cloud)
    return float(np.mean(d_mc ** 2) + np.mean(d_cm ** 2)), float(max(d_mc.max(), d_cm.max()))


def topology(vertices: np.ndarray, faces: np.ndarray) -> dict:
    """Whether a mesh is edge-manifold (no edge on more than two faces), closed (every edge on
    exactly two faces) and consistently wound, and its counts (trimesh's checks)."""
    import trimesh

    m = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces, np.int64), process=False)
    _, counts = mesh_edges(faces, counts=True)
    return {"vertices": int(len(vertices)), "faces": int(len(faces)),
            "edge_manifold": bool(np.all(counts <= 2)), "closed": bool(np.all(counts == 2)),
            "watertight": bool(m.is_watertight), "winding_consistent": bool(m.is_winding_consistent),
            "boundary_edges": int(np.sum(counts == 1)), "non_manifold_edges": int(np.sum(counts > 2))}


def tracking_error(frames: np.ndarray, reference: np.ndarray, gt: np.ndarray, reference_frame: int) -> np.ndarray:
    """``(K,)`` mean distance (units) from each mesh vertex to its GT point in each frame.

    A vertex's GT point is the GT vertex nearest to it at the reference frame, followed through
    the GT sequence (the input mesh's own vertices map to themselves). frames ``(K, V, 3)``,
    reference ``(V, 3)``, gt ``(K, W, 3)``."""
    _, idx = cKDTree(gt[reference_frame]).query(reference)
    return np.linalg.norm(frames - gt[:, idx], axis=-1).mean(axis=1)


def mesh_report(run: "Run", tracked: "TrackedMesh", gt: np.ndarray | None = None,
                n_samples: int = SURFACE_SAMPLES) -> dict:
    """The tracked mesh's figures for metrics.json (docs/evaluation.md, 8), in the run's
    normalised units: per frame and summarised. ``gt``: ``(K, W, 3)`` normalised GT vertices (the
    tracking error, and the GT's own flipped faces and edge distortion, which a mesh that tracked
    the GT exactly would have too), or None.

    Distances x1e3 like msL2 (code convention): the Chamfer distance of the mesh and of the atlas
    (its export mesh, collapsed patches left out) to the frame's stored cloud, the Hausdorff
    distance of the mesh; flipped and degenerate faces and edge distortion in %."""
    from catlas.export.mesh import mesh_sequence

    seq = run.sequence
    mesh = seq.to_normalized(tracked.sequence.vertices)
    faces = tracked.sequence.faces
    atlas = mesh_sequence(run, kept=tracked.sequence.kept)  # the same patches: not searched again
    atlas_v = seq.to_normalized(atlas.vertices)
    r = tracked.frame
    cd, hd, cd_atlas = [], [], []
    for k in range(run.n_frames):
        c, h = surface_distances(mesh[k], faces, seq.points[k], n_samples)
        cd.append(c)
        hd.append(h)
        cd_atlas.append(surface_distances(atlas_v[k], atlas.faces, seq.points[k], n_samples)[0])
    per_frame = {
        "chamfer": np.array(cd) * 1e3, "atlas_chamfer": np.array(cd_atlas) * 1e3,
        "hausdorff": np.array(hd) * 1e3,
        "flipped_pct": flipped_faces(mesh, mesh[r], faces) * 100,
        "degenerate_pct": degenerate_faces(mesh, mesh[r], faces) * 100,
        "edge_distortion_pct": edge_distortion(mesh, mesh[r], faces) * 100,
    }
    if gt is not None:
        per_frame["tracking_error"] = tracking_error(mesh, mesh[r], gt, r) * 1e3
        if seq.faces is not None and gt.shape[1] == seq.vertices.shape[1]:
            per_frame["gt_edge_distortion_pct"] = edge_distortion(gt, gt[r], seq.faces) * 100
            per_frame["gt_flipped_pct"] = flipped_faces(gt, gt[r], seq.faces) * 100
    summary = {
        "chamfer": float(per_frame["chamfer"].mean()),
        "atlas_chamfer": float(per_frame["atlas_chamfer"].mean()),
        "chamfer_ratio_max": float(np.max(per_frame["chamfer"] / per_frame["atlas_chamfer"])),
        "hausdorff_max": float(per_frame["hausdorff"].max()),
        "flipped_pct_max": float(per_frame["flipped_pct"].max()),
        "degenerate_pct_max": float(per_frame["degenerate_pct"].max()),
        "edge_distortion_pct": float(per_frame["edge_distortion_pct"].mean()),
    }
    for key in ("tracking_error", "gt_edge_distortion_pct"):
        if key in per_frame:
            summary[key] = float(per_frame[key].mean())
    if "gt_flipped_pct" in per_frame:
        summary["gt_flipped_pct_max"] = float(per_frame["gt_flipped_pct"].max())
    return {
        "reference_frame": r, "source": tracked.source,
        "reference_mesh": topology(mesh[r], faces),
        "summary": summary,
        "per_frame": {k: [round(float(x), 6) for x in v] for k, v in per_frame.items()},
        "units": {"chamfer": "x1e3 normalised units^2 (squared distances, each direction a mean, "
                             f"summed; {n_samples} surface samples)",
                  "hausdorff": "x1e3 normalised units", "tracking_error": "x1e3 normalised units "
                  "(mean distance, as msL2 in the code convention)",
                  "flipped_pct": "% of faces folded against their neighbours, not at the reference",
                  "degenerate_pct": f"% of faces below {DEGENERATE_RATIO:g} x their reference area",
                  "edge_distortion_pct": "% mean |l / l_reference - 1| over edges"},
    }


def format_mesh_report(report: dict) -> str:
    """A few printed lines of :func:`mesh_report`."""
    s, t = report["summary"], report["reference_mesh"]
    shape = "closed" if t["closed"] else f"open ({t['boundary_edges']} boundary edges)"
    lines = [f"tracked mesh: the {report['source']} of frame {report['reference_frame']}, "
             f"{t['vertices']} vertices, {t['faces']} faces, "
             f"{'edge-manifold' if t['edge_manifold'] else 'NOT edge-manifold'}, {shape}",
             f"  Chamfer to the clouds {s['chamfer']:.4f} x1e3 (the atlas's {s['atlas_chamfer']:.4f}; "
             f"worst frame {s['chamfer_ratio_max']:.2f} x), Hausdorff max {s['hausdorff_max']:.1f} x1e3",
             f"  flipped faces max {s['flipped_pct_max']:.2f} %"
             + (f" (the GT's {s['gt_flipped_pct_max']:.2f} %)" if "gt_flipped_pct_max" in s else "")
             + f", degenerate max "
             f"{s['degenerate_pct_max']:.2f} %, edge distortion {s['edge_distortion_pct']:.1f} %"
             + (f" (the GT's {s['gt_edge_distortion_pct']:.1f} %)" if "gt_edge_distortion_pct" in s else "")]
    if "tracking_error" in s:
        lines.append(f"  vertex tracking error {s['tracking_error']:.4f} x1e3 (msL2's units)")
    return "\n".join(lines)
