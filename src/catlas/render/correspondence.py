"""Correspondence pictures: input clouds of several frames coloured through the predicted map
to a reference frame, and (with GT) per-point correspondence error heat maps.

Colouring: every point of the reference frame's cloud gets a colour from its position (its
x, y, z in the reference cloud's bounding box as red, green, blue). A point of frame j takes the
colour of the reference point it is mapped to by ``run.correspond(j, ref)``, so equal colours
mean "predicted to be the same point of the body". A caption under the panels says so.

Error: the evaluation protocol (docs/evaluation.md, 4) from frame j to the reference on the GT
vertices; a vertex's error is the distance (input units) between its predicted and its true
correspondent in the reference frame, drawn with :func:`error_colormap` (every colour stands out
on the white background) beside a colour bar, with a caption.
"""

from __future__ import annotations

import textwrap
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
           "error_colormap", "correspondence_caption", "error_caption", "render_correspondences"]

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
    ref_pts = seq.to_input_units(seq.points[reference], frames=reference)
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


ERROR_CMAP_TOP = 0.85
"""Viridis is cut at this fraction: its last, pale yellow, part barely shows on white."""


def error_colormap():
    """The error map's colours: viridis from dark purple (no error) to green, each of them at
    least 1.6 : 1 in luminance contrast against the white background."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps["viridis"](np.linspace(0.0, ERROR_CMAP_TOP, 256)),
                          name="viridis_dark")


def correspondence_caption(reference: int) -> str:
    """What the colours of ``correspondences.png`` mean."""
    r = reference
    return (f"Colour key: a point of frame {r} (the reference, where the colours come from) is "
            f"coloured by its position there: x \u2192 red, y \u2192 green, z \u2192 blue (more of "
            f"a colour = higher in that axis). Panel \u201cframe j \u2192 {r}\u201d: every point of "
            f"frame j is mapped to frame {r} and drawn in the colour of the point it lands on, so "
            f"equal colours = the same body point.")


def error_caption(reference: int) -> str:
    """What the colours of ``correspondence_error.png`` mean."""
    return (f"Colour = error of each GT vertex of frame j mapped to frame {reference}: the distance "
            f"from its predicted to its true point on frame {reference}, in input units; dark "
            f"purple = small, green = large (at or above the bar's top, the 99th percentile).")


CAPTION_PT = 9.0
_LINE_PX, _CHAR_PX = 15, 6.6  # line height and mean character width of CAPTION_PT text at 100 dpi


def _figure(n_panels: int, panel: int, caption: str, extra_w: float = 0.0):
    """A figure of ``n_panels`` panels with titles above and ``caption`` below, and a function
    giving panel i's rectangle (figure fractions)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    width_px = n_panels * panel + extra_w * dpi
    lines = textwrap.wrap(caption, max(20, int((width_px - 12) / _CHAR_PX)))
    band = len(lines) * _LINE_PX + 10
    height_px = panel + 35 + band
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, facecolor="white")
    fig.text(6 / width_px, (band - 5) / height_px, "\n".join(lines), fontsize=CAPTION_PT,
             va="top", ha="left", color="0.15", linespacing=1.25)

    def panel_rect(i: int) -> tuple[float, float, float, float]:
        return i * panel / width_px, band / height_px, panel / width_px, panel / height_px

    return fig, FigureCanvasAgg(fig), panel_rect


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
    clouds = {j: seq.to_input_units(seq.points[j], frames=j) for j in frames}
    cam_pts = [clouds[j] for j in frames]
    if gt_v is not None:
        cam_pts += [seq.to_input_units(gt_v[j], frames=j) for j in frames]
    cam = auto_camera(np.concatenate(cam_pts), size, size, up=up, azim=azim, elev=elev)
    psize = 5.0 * (size / 320) ** 2

    colors = correspondence_colors(run, frames, reference, n_samples, progress)
    fig, canvas, panel_rect = _figure(len(frames), size, correspondence_caption(reference))
    for i, j in enumerate(frames):
        ax = fig.add_axes(panel_rect(i))
        ax.imshow(draw_points(cam, clouds[j], colors[j], size=psize, shade_depth=False))
        ax.set_axis_off()
        ax.set_title(f"frame {j}" + (" (reference)" if j == reference else f" \u2192 {reference}"),
                     fontsize=10)
    _save(fig, canvas, paths[0])

    if gt_v is not None:
        shown = [j for j in frames if j != reference] or [reference]
        errs = gt_errors(run, gt_v, shown, reference, n_samples)
        vmax = max(float(np.percentile(e, 99)) for e in errs.values()) or 1e-12
        cmap, norm = error_colormap(), Normalize(0.0, vmax)
        bar_w = 1.1
        fig, canvas, panel_rect = _figure(len(shown), size, error_caption(reference), extra_w=bar_w)
        total_w = fig.get_figwidth()
        pw = size / 100 / total_w
        for i, j in enumerate(shown):
            ax = fig.add_axes(panel_rect(i))
            gpts = seq.to_input_units(gt_v[j], frames=j)
            ax.imshow(draw_points(cam, gpts, cmap(norm(errs[j]))[:, :3], size=psize * 1.6,
                                  shade_depth=False))
            ax.set_axis_off()
            ax.set_title(f"frame {j} \u2192 {reference}: mean {errs[j].mean():.3g}", fontsize=10)
        _, bottom, _, height = panel_rect(0)
        cax = fig.add_axes((len(shown) * pw + 0.15 * bar_w / total_w, bottom + 0.1 * height,
                            0.15 * bar_w / total_w, 0.8 * height))
        fig.colorbar(ScalarMappable(norm, cmap), cax=cax, extend="max",
                     label="error (input units)")
        _save(fig, canvas, paths[1])
    return paths
