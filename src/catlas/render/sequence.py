"""``catlas render``: per-frame pictures of the reconstructed surface with the checkerboard
atlas texture, input cloud | reconstruction side by side, and GIF / MP4 animations.

The camera is chosen once from every frame's surface and input cloud
(:func:`~catlas.render.camera.auto_camera`), so the object moves inside a fixed frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from catlas.errors import CatlasError
from catlas.fileio import atomic_path
from catlas.export.mesh import (MeshSequence, check_fps, check_free, check_resolution, frame_name,
                                mesh_sequence)
from catlas.export.texture import checker_colors
from catlas.render.camera import Camera, auto_camera
from catlas.render.raster import draw_mesh, draw_points
from catlas.runfiles import SIDE_BY_SIDE_DIR, SURFACE_DIR

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["RenderSettings", "RENDER_RESOLUTION", "MIN_SIZE", "MAX_SIZE", "check_size", "check_view",
           "surface_face_colors", "sequence_camera", "render_frames", "save_png", "write_animation",
           "label", "label_px", "LABEL_INK"]

RENDER_RESOLUTION = 33
"""UV grid of the rendered meshes: 32 cells per side = 4 per checker cell (8 x 8), so every
face lies inside one checker cell and the cell borders are straight."""
MIN_SIZE, MAX_SIZE = 16, 4096
"""Pixels per side of one rendered panel (a GIF holds every frame's pictures in memory)."""


def check_size(size: int, option: str = "--size") -> None:
    """CatlasError unless ``size`` is an integer in [MIN_SIZE, MAX_SIZE]."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise CatlasError(f"{option} must be an integer in [{MIN_SIZE}, {MAX_SIZE}] (pixels per "
                          f"side of a picture), got {size!r}")


def check_view(up: str, azim: float, elev: float) -> None:
    """CatlasError unless the world up axis is x, y or z and the camera angles are finite."""
    if up not in ("x", "y", "z"):
        raise CatlasError(f"--up must be x, y or z, got {up!r}")
    for option, value in (("--azim", azim), ("--elev", elev)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CatlasError(f"{option} must be a finite angle in degrees, got {value!r}")


@dataclass
class RenderSettings:
    size: int = 480  # pixels, height and width of one panel
    resolution: int | None = RENDER_RESOLUTION  # None = RENDER_RESOLUTION
    up: str = "y"
    azim: float = 35.0
    elev: float = 20.0
    fps: float = 12.0
    max_points: int = 6000  # input points drawn per frame (a fixed random subset beyond that)
    drop_collapsed: bool = True

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """CatlasError naming the option of the first setting out of range."""
        check_size(self.size)
        if self.resolution is None:  # the default, as everywhere else
            self.resolution = RENDER_RESOLUTION
        check_resolution(self.resolution)
        check_view(self.up, self.azim, self.elev)
        check_fps(self.fps)
        if isinstance(self.max_points, bool) or not isinstance(self.max_points, int) or self.max_points < 1:
            raise CatlasError(f"max_points must be an integer >= 1, got {self.max_points!r}")


def cloud_marker_size(panel: int) -> float:
    """Marker area (points^2) of input points in a ``panel``-pixel picture."""
    return max(1.0, 4.0 * (panel / 480) ** 2)


def surface_face_colors(seq: MeshSequence) -> np.ndarray:
    """``(F, 3)`` checker colour of every face (its patch hue; light / dark cells)."""
    patch, uv = seq.face_patch_uv()
    return checker_colors(patch, uv, seq.n_patches)


def _clouds(run: "Run", max_points: int) -> np.ndarray:
    pts = run.sequence.points
    if pts.shape[1] > max_points:
        sel = np.random.default_rng(0).choice(pts.shape[1], max_points, replace=False)
        pts = pts[:, np.sort(sel)]
    return run.sequence.to_input_units(pts)  # (K, n, 3): every frame, each by its own centre


def sequence_camera(seq: MeshSequence, clouds: np.ndarray | None, s: RenderSettings) -> Camera:
    pts = seq.vertices.reshape(-1, 3)
    if clouds is not None:
        pts = np.concatenate([pts, clouds.reshape(-1, 3)])
    return auto_camera(pts, s.size, s.size, up=s.up, azim=s.azim, elev=s.elev)


def save_png(path: str | Path, image: np.ndarray) -> None:
    from PIL import Image


    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, np.uint8)).save(tmp, format="PNG", optimize=True)


LABEL_INK = (40, 40, 40)


def label_px(height: int) -> int:
    """Text height in pixels of a label on a picture ``height`` pixels tall (20 at 480)."""
    return max(10, round(height / 24))


def _fit_text(text: str, width, room: float) -> str:
    """``text``, cut and ended with "..." until ``width(text)`` fits in ``room`` pixels."""
    if width(text) <= room:
        return text
    while len(text) > 1 and width(text + "...") > room:
        text = text[:-1]
    return text + "..."


def label(image: np.ndarray, text: str) -> np.ndarray:
    """The image with ``text`` in its top-left corner, in a font scaled to the image's height
    (Pillow's built-in Aileron; its built-in bitmap font, scaled, where that is missing)."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    im = Image.fromarray(np.asarray(image, np.uint8))
    px = label_px(im.height)
    x, y = max(4, round(0.4 * px)), max(3, round(0.3 * px))
    room = im.width - 2 * x
    try:
        font = ImageFont.load_default(size=px)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or built without FreeType
        font = None
    if font is not None:
        text = _fit_text(text, font.getlength, room)
        # a white outline keeps the text readable where it crosses the surface
        ImageDraw.Draw(im).text((x, y), text, font=font, fill=LABEL_INK,
                                stroke_width=max(1, px // 10), stroke_fill=(255, 255, 255))
        return np.asarray(im)
    bitmap = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()
    _, top, _, bottom = bitmap.getbbox("Ag")
    scale = max(1, round(px / max(bottom - top, 1)))
    text = _fit_text(text, lambda t: bitmap.getlength(t) * scale, room)
    mask = Image.new("L", (int(bitmap.getlength(text)) + 2, bottom + 2))  # 1 px room for the outline
    ImageDraw.Draw(mask).text((1, 1), text, font=bitmap, fill=255)
    mask = mask.resize((mask.width * scale, mask.height * scale), Image.NEAREST)
    at = (x - scale, y - (top + 1) * scale)
    im.paste(Image.new("RGB", mask.size, (255, 255, 255)), at, mask.filter(ImageFilter.MaxFilter(3)))
    im.paste(Image.new("RGB", mask.size, LABEL_INK), at, mask)
    return np.asarray(im)


def write_animation(path: str | Path, frames: list[np.ndarray], fps: float) -> None:
    """GIF (Pillow through imageio) or MP4 (H.264 through imageio-ffmpeg), by suffix."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        import imageio.v3 as iio

        with atomic_path(path, keep_suffix=True) as tmp:
            iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    elif path.suffix.lower() == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise CatlasError("MP4 needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
        import imageio.v2 as iio2

        with atomic_path(path, keep_suffix=True) as tmp:
            with iio2.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=7,
                                 macro_block_size=16, pixelformat="yuv420p") as w:
                for f in frames:
                    w.append_data(f)
    else:
        raise CatlasError(f"{path.name}: animations are .gif or .mp4")


def render_frames(run: "Run", out: str | Path, gif: bool = False, mp4: bool = False,
                  settings: RenderSettings | None = None, overwrite: bool = False,
                  progress: bool = False, surface: str = "atlas") -> list[Path]:
    """Write ``surface/frame_NNNN.png`` (checkerboard-textured reconstruction, labelled with
    the frame's index and input file) and ``side_by_side/frame_NNNN.png`` (input cloud |
    reconstruction) for every frame, and
    ``surface.gif``/``side_by_side.gif`` and/or ``.mp4`` when asked. Returns the paths written.
    ``surface``: "atlas" (the patch grids) or "mesh" (the tracked mesh, catlas.tracked_mesh).
    """
    s = settings or RenderSettings()
    s.check()
    out = Path(out)
    K = run.n_frames
    surf = [out / SURFACE_DIR / frame_name(k, K, ".png") for k in range(K)]
    sbs = [out / SIDE_BY_SIDE_DIR / frame_name(k, K, ".png") for k in range(K)]
    anims = [out / f"{n}.{ext}" for ext, on in (("gif", gif), ("mp4", mp4)) if on
             for n in (SURFACE_DIR, SIDE_BY_SIDE_DIR)]
    check_free(surf + sbs + anims, overwrite)
    if mp4:
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise CatlasError("MP4 needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    what = "reconstruction"
    if surface == "mesh":  # the tracked mesh, coloured by its vertices' patch and uv
        from catlas.tracked_mesh import tracked_mesh

        seq = tracked_mesh(run, progress=progress).sequence
        what = f"tracked mesh (of frame {seq.reference})"
    else:
        seq = mesh_sequence(run, s.resolution, drop_collapsed=s.drop_collapsed, progress=progress)
    clouds = _clouds(run, s.max_points)
    cam = sequence_camera(seq, clouds, s)
    colors = surface_face_colors(seq)
    surf_imgs, sbs_imgs = [], []
    it = range(K)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="rendering frames", unit="frame", leave=False)
    names = run.sequence.names
    for k in it:
        img = draw_mesh(cam, seq.vertices[k], seq.faces, colors)
        cloud = draw_points(cam, clouds[k], size=cloud_marker_size(s.size))
        pair = np.concatenate([label(cloud, f"input, frame {k} ({names[k]})"),
                               label(img, f"{what}, frame {k}")], axis=1)
        pair[:, s.size - 1 : s.size + 1] = 160  # a thin divider
        img = label(img, f"frame {k} ({names[k]})")
        save_png(surf[k], img)
        save_png(sbs[k], pair)
        surf_imgs.append(img)
        sbs_imgs.append(pair)
    anim_it = anims
    if progress and anims:
        from tqdm import tqdm

        anim_it = tqdm(anims, desc="writing animations", unit="file", leave=False)
    for path in anim_it:
        write_animation(path, surf_imgs if path.stem == SURFACE_DIR else sbs_imgs, s.fps)
    return surf + sbs + anims
