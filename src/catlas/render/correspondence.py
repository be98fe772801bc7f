"""Correspondence pictures: input clouds of several frames coloured through the predicted map
to a reference frame, and (with GT) per-point correspondence error heat maps.

Colouring: every point of the reference frame's cloud gets a colour from its position (its
coordinates in the sequence's bounding box as RGB). A point of frame j takes the colour of the
reference point it is mapped to by ``run.correspond(j, ref)``, so equal colours mean
"predicted to be the same point of the body".

Error: the evaluation protocol (docs/evaluation.md, 4) from frame j to the reference on the GT
vertices; a vertex's error is the distance (input units) between its predicted and its true
correspondent in the reference frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from catlas.errors import CatlasError
from catlas.evaluate.gt import load_gt
from catlas.export.mesh import check_free
from catlas.render.camera import auto_camera
from catlas.render.raster import draw_points
from catlas.render.sequence import check_size, check_view, save_png
from catlas.runfiles import CORR_PNG, ERROR_PNG
from catlas.surface import SurfaceSamples, map_to_frame

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["MAX_PANELS", "pick_frames", "position_colors", "correspondence_colors", "gt_errors",
           "render_correspondences"]

MAX_PANELS = 200
"""Most frames one picture shows (one row of panels; 200 x 320 pixels stays within the
renderer's 65536-pixel width)."""


def pick_frames(n_frames: int, reference: int, count: int) -> list[int]:
    """``count`` frames spread evenly over the sequence, the reference first."""
    others = [int(round(x)) for x in np.linspace(0, n_frames - 1, count + 1)]
    others = [f for f in dict.fromkeys(others) if f != reference]
    return [reference] + others[: max(count - 1, 0)]


def position_colors(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(N, 3)`` RGB in [0.1, 0.95]: the point's coordinates in the box [lo, hi]."""
    t = (np.asarray(points, np.float64) - lo) / np.maximum(hi - lo, 1e-12)
    return 0.1 + 0.85 * np.clip(t, 0.0, 1.0)


def correspondence_colors(run: "Run", frames: list[int], reference: int,
                          n_samples: int = 3125, progress: bool = False) -> dict[int, np.ndarray]:
    """Per frame, ``(S, 3)`` colours of its stored cloud carried from the reference frame."""
    seq = run.sequence
    ref_pts = seq.to_input_units(seq.points[reference])
    ref_col = position_colors(ref_pts, ref_pts.min(0), ref_pts.max(0))
    out = {}
    it = frames
    if progress:
        from tqdm import tqdm

        it = tqdm(frames, desc="correspondences", unit="frame", leave=False)
    for j in it:
        if j == reference:
            out[j] = ref_col
        else:
            out[j] = ref_col[run.correspond(j, reference, n_samples=n_samples).indices]
    return out


def gt_errors(run: "Run", gt_normalized: np.ndarray, frames: list[int], reference: int,
              n_samples: int = 3125) -> dict[int, np.ndarray]:
    """Per frame j, ``(V,)`` error (input units) of mapping its GT vertices to the reference.

    gt_normalized: ``(K, V, 3)`` GT vertices in the run's normalised units (same index = same
    material point); the map is the evaluation protocol's (:func:`catlas.surface.map_to_frame`
    on ``n_samples`` surface samples per frame)."""
    samples = SurfaceSamples(run, n_samples)
    V = gt_normalized
    out = {}
    for j in frames:
        y_j, y_r, _, _ = samples.pair(j, reference)
        t, _ = map_to_frame(V[j], y_j, y_r, V[reference])
        out[j] = np.linalg.norm(V[reference][t] - V[reference], axis=1) * run.sequence.scale
    return out


def _figure(n_panels: int, panel: int, extra_w: float = 0.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(n_panels * panel / dpi + extra_w, panel / dpi + 0.35), dpi=dpi,
                 facecolor="white")
    return fig, FigureCanvasAgg(fig)


def _save(fig, canvas, path: Path) -> np.ndarray:
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    save_png(path, img)
    return img


def render_correspondences(run: "Run", out: str | Path, gt: str | Path | None = None,
                           reference: int = 0, n_frames: int = 5, size: int = 320,
                           up: str = "y", azim: float = 35.0, elev: float = 20.0,
                           n_samples: int = 3125, overwrite: bool = False,
                           progress: bool = False) -> list[Path]:
    """Write ``correspondences.png`` and, when GT is known (``gt`` or the vertices stored with
    the run), ``correspondence_error.png`` into ``out``. Returns the paths written."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or not 1 <= n_frames <= MAX_PANELS:
        raise CatlasError(f"--frames must be an integer in [1, {MAX_PANELS}] (frames shown), got {n_frames!r}")
    check_size(size, "size")
    if size * min(n_frames, run.n_frames) > 65_000:
        raise CatlasError(f"{min(n_frames, run.n_frames)} frames of {size} pixels make a picture wider "
                          "than 65000 pixels; show fewer --frames")
    check_view(up, azim, elev)
    out = Path(out)
    reference = run._check_frame(reference)
    frames = pick_frames(run.n_frames, reference, n_frames)
    have_gt = gt is not None or run.sequence.vertices is not None
    paths = [out / CORR_PNG] + ([out / ERROR_PNG] if have_gt else [])
    check_free(paths, overwrite)
    gt_v = load_gt(run, gt) if have_gt else None  # fails early on a bad GT

    seq = run.sequence
    clouds = {j: seq.to_input_units(seq.points[j]) for j in frames}
    cam_pts = [clouds[j] for j in frames]
    if gt_v is not None:
        cam_pts += [seq.to_input_units(gt_v[j]) for j in frames]
    cam = auto_camera(np.concatenate(cam_pts), size, size, up=up, azim=azim, elev=elev)
    psize = 5.0 * (size / 320) ** 2

    colors = correspondence_colors(run, frames, reference, n_samples, progress)
    fig, canvas = _figure(len(frames), size)
    for i, j in enumerate(frames):
        ax = fig.add_axes((i / len(frames), 0, 1 / len(frames), size / (size + 35)))
        ax.imshow(draw_points(cam, clouds[j], colors[j], size=psize, shade_depth=False))
        ax.set_axis_off()
        ax.set_title(f"frame {j}" + (" (reference)" if j == reference else f" \u2192 {reference}"),
                     fontsize=10)
    _save(fig, canvas, paths[0])

    if gt_v is not None:
        shown = [j for j in frames if j != reference] or [reference]
        errs = gt_errors(run, gt_v, shown, reference, n_samples)
        vmax = max(float(np.percentile(e, 99)) for e in errs.values()) or 1e-12
        cmap, norm = colormaps["inferno_r"], Normalize(0.0, vmax)
        bar_w = 1.1
        fig, canvas = _figure(len(shown), size, extra_w=bar_w)
        total_w = fig.get_figwidth()
        pw = size / 100 / total_w
        for i, j in enumerate(shown):
            ax = fig.add_axes((i * pw, 0, pw, size / (size + 35)))
            gpts = seq.to_input_units(gt_v[j])
            ax.imshow(draw_points(cam, gpts, cmap(norm(errs[j]))[:, :3], size=psize * 1.6,
                                  shade_depth=False))
            ax.set_axis_off()
            ax.set_title(f"frame {j} \u2192 {reference}: mean {errs[j].mean():.3g}", fontsize=10)
        cax = fig.add_axes((len(shown) * pw + 0.15 * bar_w / total_w, 0.1,
                            0.15 * bar_w / total_w, 0.75))
        fig.colorbar(ScalarMappable(norm, cmap), cax=cax,
                     label="correspondence error (input units)")
        _save(fig, canvas, paths[1])
    return paths
