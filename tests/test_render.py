"""Offscreen pictures (catlas.render): checker-textured frames, side by side, GIF/MP4, correspondences."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import catlas
from _eval_helpers import fitted_run_dir
from catlas.cli import main
from catlas.export.sequence import mesh_sequence
from catlas.export.texture import DARK, checker_colors, patch_palette
from catlas.render.camera import auto_camera
from catlas.render.correspondence import (correspondence_caption, correspondence_colors, error_caption,
                                         error_colormap, pick_frames, position_colors,
                                         render_correspondences)
from catlas.render.raster import draw_mesh, draw_points
from catlas.render.sequence import (LABEL_INK, RenderSettings, _clouds, cloud_marker_size, label, label_px,
                                    render_frames, sequence_camera, surface_face_colors)

SIZE = 160


@pytest.fixture(scope="module")
def run(example_dir, tmp_path_factory):
    """The session's shared tiny fit (read only: every picture goes to a tmp folder)."""
    return catlas.load_run(fitted_run_dir(example_dir, tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def shaped_run(run):
    """The tiny run (40 iterations: its patches are still specks) with a known surface: patch p
    of frame k is a quarter of a cylinder around the frame's cloud, moving with the frame."""
    shaped = catlas.load_run(run.path)
    clouds = shaped.sequence.to_input_units(shaped.sequence.points)
    P = shaped.n_patches

    def decode(frame, uv, input_units=True):
        uv = np.asarray(uv, np.float64)
        c = clouds[frame]
        lo, hi = c.min(0), c.max(0)
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        ang = 2 * np.pi * (np.arange(P)[:, None] + uv[..., 0]) / P
        x = mid[0] + half[0] * np.cos(ang)
        y = lo[1] + (hi[1] - lo[1]) * uv[..., 1]
        z = mid[2] + half[2] * np.sin(ang)
        return np.stack([x, y, z], axis=-1)

    shaped.decode = decode
    return shaped


@pytest.fixture(scope="module")
def rendered(shaped_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    settings = RenderSettings(size=SIZE, resolution=17, drop_collapsed=False)
    paths = render_frames(shaped_run, out, gif=True, mp4=True, settings=settings)
    return out, paths, settings


def _silhouette(img: np.ndarray) -> np.ndarray:
    return (img < 250).any(axis=-1)


def _bbox(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.min(), rows.min(), cols.max(), rows.max()], float)


def _ink(img: np.ndarray) -> np.ndarray:
    """Pixels as dark as label or caption text."""
    return (np.asarray(img)[..., :3] < 100).all(axis=-1)


def _contrast_with_white(rgb) -> np.ndarray:
    """WCAG 2 contrast ratio of sRGB colours in [0, 1] against white (1 to 21)."""
    c = np.asarray(rgb, float)[..., :3]
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return 1.05 / (lin @ [0.2126, 0.7152, 0.0722] + 0.05)


def test_frames_show_the_projected_geometry(shaped_run, rendered):
    run = shaped_run
    out, paths, s = rendered
    K = run.n_frames
    seq = mesh_sequence(run, s.resolution, drop_collapsed=False)
    cam = sequence_camera(seq, _clouds(run, s.max_points), s)
    colors = surface_face_colors(seq)
    for k in (0, K - 1):
        img = np.asarray(Image.open(out / "surface" / f"frame_{k:04d}.png"))
        assert img.shape == (SIZE, SIZE, 3)
        # the picture is the render below with its label (test_surface_frames_are_labelled)
        img_plain = draw_mesh(cam, seq.vertices[k], seq.faces, colors)
        np.testing.assert_array_equal(img, label(img_plain, f"frame {k} ({run.sequence.names[k]})"))
        img = img_plain
        sil = _silhouette(img)
        assert sil.mean() > 0.15  # not blank
        proj = cam.project(seq.vertices[k])
        expected = np.array([proj[:, 0].min(), proj[:, 1].min(), proj[:, 0].max(), proj[:, 1].max()])
        np.testing.assert_allclose(_bbox(sil), expected, atol=2.5)
        # shaded light and dark cells: two brightness levels per patch, both present
        lum = img[sil].astype(float).mean(axis=1)
        assert lum.std() > 10
    # side by side: input cloud | reconstruction, equal to the single renders below the labels
    pair = np.asarray(Image.open(out / "side_by_side" / "frame_0000.png"))
    assert pair.shape == (SIZE, 2 * SIZE, 3)
    surf = np.asarray(Image.open(out / "surface" / "frame_0000.png"))
    np.testing.assert_array_equal(pair[20:, SIZE + 1 :], surf[20:, 1:])  # both labelled above row 20
    cloud = _clouds(run, s.max_points)[0]
    points_img = draw_points(cam, cloud, size=cloud_marker_size(SIZE))
    np.testing.assert_array_equal(pair[20:, : SIZE - 1], points_img[20:, : SIZE - 1])
    proj = cam.project(cloud)
    np.testing.assert_allclose(_bbox(_silhouette(points_img)), [proj[:, 0].min(), proj[:, 1].min(),
                                                               proj[:, 0].max(), proj[:, 1].max()],
                               atol=2.5)


def test_checker_cells_visible(shaped_run):
    """Unshaded render: inside the silhouette, exactly the light and the dark checker colours."""
    run = shaped_run
    seq = mesh_sequence(run, 17, drop_collapsed=False)
    colors = surface_face_colors(seq)
    cam = auto_camera(seq.vertices.reshape(-1, 3), 200, 200)
    img = draw_mesh(cam, seq.vertices[0], seq.faces, colors, shade=False).astype(int)
    sil = _silhouette(img)
    pal = patch_palette(run.n_patches)
    light = np.round(pal * 255).astype(int)
    dark = np.round(pal * DARK * 255).astype(int)
    px = img[sil]

    def share(ref):
        return (np.abs(px[:, None, :] - ref[None]).max(axis=-1) <= 1).any(axis=1).mean()

    assert share(light) > 0.2 and share(dark) > 0.2
    assert share(light) + share(dark) > 0.95


def test_checker_rule_matches_uv_cells():
    uv = np.array([[0.01, 0.01], [0.13, 0.01], [0.13, 0.13], [0.99, 0.99]])
    c = checker_colors(np.zeros(4, int), uv, 3)
    pal = patch_palette(3)[0]
    np.testing.assert_allclose(c, [pal, pal * DARK, pal, pal])


def test_animations(run, rendered):
    import imageio.v3 as iio

    out, paths, _ = rendered
    gif = iio.imread(out / "side_by_side.gif", index=None)
    assert gif.shape[0] == run.n_frames and gif.shape[1:3] == (SIZE, 2 * SIZE)
    assert (out / "surface.gif").exists()
    assert (out / "surface.mp4").stat().st_size > 1000
    assert (out / "side_by_side.mp4").stat().st_size > 1000


def test_correspondence_colours_follow_the_map(run):
    frames = pick_frames(run.n_frames, 0, 3)
    assert frames[0] == 0 and len(frames) == 3 and len(set(frames)) == 3
    cols = correspondence_colors(run, frames, 0, n_samples=500)
    ref = run.sequence.to_input_units(run.sequence.points[0])
    ref_col = position_colors(ref, ref.min(0), ref.max(0))
    np.testing.assert_array_equal(cols[0], ref_col)
    j = frames[1]
    np.testing.assert_array_equal(cols[j], ref_col[run.correspond(j, 0, n_samples=500).indices])


def test_cli_render(run, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["render", str(run.path), "--out", str(out), "--correspondences", "--frames", "3",
                 "--quiet"]) == 0
    corr = np.asarray(Image.open(out / "correspondences.png"))[..., :3]
    err = np.asarray(Image.open(out / "correspondence_error.png"))[..., :3]
    assert _silhouette(corr).mean() > 0.03
    # a colour map: many distinct colours; the error figure has a colour bar beside 2 panels
    assert len(np.unique(corr.reshape(-1, 3), axis=0)) > 200
    assert err.shape[1] > 2 * 320 and _silhouette(err[:, 2 * 320:]).mean() > 0.05
    assert main(["render", str(run.path), "--out", str(out), "--correspondences", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["render", str(run.path), "--out", str(tmp_path / "f"), "--size", "64",
                 "--resolution", "9", "--quiet"]) == 0
    assert len(list((tmp_path / "f" / "surface").glob("frame_*.png"))) == run.n_frames


def test_surface_frames_are_labelled(shaped_run, rendered):
    """surface/frame_k.png = the plain render with "frame k (input file)" in the top band."""
    import imageio.v3 as iio

    run = shaped_run
    out, _, s = rendered
    seq = mesh_sequence(run, s.resolution, drop_collapsed=False)
    cam = sequence_camera(seq, _clouds(run, s.max_points), s)
    plain = draw_mesh(cam, seq.vertices[0], seq.faces, surface_face_colors(seq))
    surf = np.asarray(Image.open(out / "surface" / "frame_0000.png"))
    name = run.sequence.names[0]
    assert name.endswith(".obj")
    np.testing.assert_array_equal(surf, label(plain, f"frame 0 ({name})"))
    changed = np.nonzero((surf != plain).any(axis=-1))[0]
    band = 2 * label_px(SIZE)
    assert changed.size and changed.max() < band  # only the label band differs
    assert (_ink(surf[:band]) & ~_ink(plain[:band])).sum() > 100  # dark text where there was none
    # the GIF's frames carry the label too
    gif0 = iio.imread(out / "surface.gif", index=0)[..., :3].astype(int)
    assert np.abs(gif0[:band] - surf[:band]).mean() < 0.5 * np.abs(gif0[:band] - plain[:band]).mean()


def test_label_is_legible_at_the_default_size(monkeypatch):
    """At 480 px the label text is at least 15 px tall (PIL's unsized default font: 9), in
    LABEL_INK, and long names are cut to fit; also with the scaled bitmap font of older Pillow."""
    from PIL import ImageFont

    blank = np.full((480, 480, 3), 255, np.uint8)

    def extent(img):
        rows, cols = np.nonzero(_ink(img))
        return rows.max() - rows.min() + 1, cols.min(), cols.max()

    img = label(blank, "frame 3 (mesh.04.obj)")
    height, left, right = extent(img)
    assert height >= 15 and right - left > 150
    assert (np.abs(img.astype(int) - LABEL_INK).max(axis=-1) <= 2).sum() > 150
    assert extent(label(blank, "frame 3 (" + "x" * 300 + ")"))[2] < 480 - 4
    bitmap = ImageFont.load_default_imagefont

    def old_pillow(size=None):
        if size is not None:
            raise TypeError("load_default() got an unexpected keyword argument 'size'")
        return bitmap()

    monkeypatch.setattr(ImageFont, "load_default", old_pillow)
    height, left, right = extent(label(blank, "frame 3 (mesh.04.obj)"))
    assert height >= 15 and right - left > 150
    assert extent(label(blank, "frame 3 (" + "x" * 300 + ")"))[2] < 480 - 4


@pytest.fixture(scope="module")
def corr_pictures(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("corr")
    paths = render_correspondences(run, out, n_frames=2, size=SIZE, n_samples=500)
    assert [p.name for p in paths] == ["correspondences.png", "correspondence_error.png"]
    return [np.asarray(Image.open(p))[..., :3] for p in paths]


def test_correspondence_picture_has_a_colour_key(run, corr_pictures):
    """Below the panels (and their titles), a caption says what the colours are; its words
    agree with position_colors (x -> red, ...) and name the reference as the colours' source."""
    corr, _ = corr_pictures
    assert corr.shape[0] > SIZE + 35 + 30  # panels, titles and at least two caption lines
    key = corr[SIZE + 35 :]
    assert _ink(key).sum() > 300
    text = correspondence_caption(0)
    for words in ("frame 0 (the reference, where the colours come from)", "x \u2192 red",
                  "y \u2192 green", "z \u2192 blue", "frame j is mapped to frame 0"):
        assert words in text
    ref = run.sequence.to_input_units(run.sequence.points[0])
    col = position_colors(ref, ref.min(0), ref.max(0))
    for axis in range(3):  # the point highest along an axis has the most of that axis' colour
        assert col[np.argmax(ref[:, axis]), axis] == pytest.approx(0.95)
        assert col[np.argmin(ref[:, axis]), axis] == pytest.approx(0.1)


def test_error_map_low_errors_stand_out_on_white(corr_pictures):
    cmap = error_colormap()
    c = _contrast_with_white(cmap(np.linspace(0, 1, 256)))
    assert c[0] > 12  # no error: dark purple, 15 : 1 against white (inferno_r's lowest: 1.05 : 1)
    assert c.min() > 1.6 and np.all(np.diff(c) <= 0)  # every colour visible; darker = smaller
    _, err = corr_pictures
    # one panel (frame 0 is the reference) and the colour bar, which starts at the dark end
    bar = err[: SIZE + 35, SIZE:].reshape(-1, 3).astype(int)
    low = np.round(np.asarray(cmap(0.0)[:3]) * 255).astype(int)
    assert (np.abs(bar - low).max(axis=1) <= 6).sum() > 10
    assert _ink(err[SIZE + 35 :]).sum() > 300  # the caption
    assert "dark purple = small" in error_caption(0) and "input units" in error_caption(0)


def test_centred_run_renders_each_frame_at_its_input_position(tmp_path_factory, tmp_path):
    """data.center_frames: the clouds drawn beside the surfaces are each frame's stored points
    back in that frame's input units; the correspondence colours (positions in the reference
    frame's box) and the GT errors (input units) are those of the in-place run."""
    from _eval_helpers import centred_runs
    from catlas.evaluate import load_gt
    from catlas.render.correspondence import gt_errors

    c = centred_runs(tmp_path_factory.getbasetemp())
    still, moving, shifts = catlas.load_run(c["still"]), catlas.load_run(c["moving"]), c["shifts"]
    np.testing.assert_allclose(_clouds(moving, 50), _clouds(still, 50) + shifts[:, None], atol=1e-5)
    frames = pick_frames(moving.n_frames, 2, 3)
    a = correspondence_colors(still, frames, 2, n_samples=500)
    b = correspondence_colors(moving, frames, 2, n_samples=500)
    for j in frames:
        np.testing.assert_allclose(b[j], a[j], atol=1e-6)
    ea = gt_errors(still, load_gt(still), frames, 2, n_samples=500)
    eb = gt_errors(moving, load_gt(moving), frames, 2, n_samples=500)
    for j in frames:
        np.testing.assert_allclose(eb[j], ea[j], atol=1e-6)
    paths = render_correspondences(moving, tmp_path, reference=2, n_frames=3, size=96, n_samples=500)
    assert [p.name for p in paths] == ["correspondences.png", "correspondence_error.png"]
