"""catlas.data.degrade (``catlas degrade``) and catlas.data.motion (fit's global-motion hint):
known answers for every kind, the folder rules, and example -> degrade -> fit -> eval."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import trimesh

from catlas.data import make_bending_sheet, make_humanoid, make_walking_creature
from catlas.data.degrade import (DEFAULT_POINTS, add_noise, add_outliers, cut_by_plane, degrade,
                                 read_mesh_sequence, sample_frames, write_degraded)
from catlas.data.io import list_frames, read_frame
from catlas.data.motion import global_motion, global_motion_warning
from catlas.errors import CatlasError
from catlas.geometry.triangles import face_normals

from _faults import assert_one_line_error, run_cli, tree

TINY = ("--preset", "tiny", "--iterations", "20", "--quiet", "--device", "cpu")


def _creature(k: int = 4):
    v, f = make_walking_creature(k)
    return v.astype(np.float64), f


def test_default_points_is_what_a_fit_stores():
    from catlas.config import DataConfig

    assert DEFAULT_POINTS == DataConfig().points_per_frame == 4000


def test_noise_std_is_sigma():
    rng = np.random.default_rng(0)
    noise = add_noise(np.zeros((4000, 3)), 0.01, rng)
    assert abs(noise.std() / 0.01 - 1) < 0.03 and abs(noise.mean()) < 5e-4
    # the flat sheet (z = 0 at frame 0, 1 unit long): the noise is the z coordinate
    v, f = make_bending_sheet(1)
    d = degrade(v, f, "noise", 0.005, rng=np.random.default_rng(1))
    assert d.info["sigma"] == pytest.approx(0.005 * 1.0)
    z = d.frames[0][:, 2]
    assert len(z) == DEFAULT_POINTS and abs(z.std() / 0.005 - 1) < 0.05


def test_outliers_replace_exactly_two_percent_inside_the_box():
    v, f = _creature(3)
    clean, _ = sample_frames(v, f, 1000, np.random.default_rng(7))  # degrade samples first
    d = degrade(v, f, "outliers", rng=np.random.default_rng(7), n_points=1000)
    for k, frame in enumerate(d.frames):
        changed = np.any(frame != clean[k], axis=1)
        assert changed.sum() == 20 == d.info["per_frame"][k]["outliers"]
        lo, hi = v[k].min(axis=0), v[k].max(axis=0)
        assert np.all((frame[changed] >= lo) & (frame[changed] <= hi))
    pts, mask = add_outliers(np.zeros((333, 3)), 0.02, -np.ones(3), np.ones(3), np.random.default_rng(0))
    assert mask.sum() == 7 and np.all(pts[~mask] == 0) and np.all(np.abs(pts[mask]) <= 1)


def test_holes_cut_thirty_percent_on_one_side_of_one_plane():
    v, f = _creature(3)
    clean, _ = sample_frames(v, f, 1001, np.random.default_rng(3))
    d = degrade(v, f, "holes", rng=np.random.default_rng(3), n_points=1001)
    normals = []
    for k, frame in enumerate(d.frames):
        assert abs(len(frame) - 0.7 * 1001) <= 1
        info = d.info["per_frame"][k]
        m, offset = np.array(info["normal"]), info["offset"]
        normals.append(m)
        kept = (clean[k] @ m) <= offset
        assert kept.sum() == len(frame) and np.array_equal(clean[k][kept], frame)
        assert info["removed"] == 1001 - len(frame)
    assert not np.allclose(normals[0], normals[1])  # a new plane per frame
    keep, m, offset = cut_by_plane(np.random.default_rng(0).normal(size=(10, 3)), 0.3,
                                   np.random.default_rng(1))
    assert (~keep).sum() == 3 and math.isclose(np.linalg.norm(m), 1.0)


def test_partial_keeps_exactly_the_points_facing_the_camera():
    v, f = _creature(2)
    clean, fidx = sample_frames(v, f, 2000, np.random.default_rng(5))
    d = degrade(v, f, "partial", rng=np.random.default_rng(5), n_points=2000)
    camera = np.array(d.info["camera"])
    assert camera.tolist() == [1.0, 0.0, 0.0]  # y up, the creature long along z: a side view
    for k, frame in enumerate(d.frames):
        facing = face_normals(v[k], f)[0][fidx[k]] @ camera > 0
        assert np.array_equal(frame, clean[k][facing])
        assert 0.3 < facing.mean() < 0.7
    # a sphere (outward faces): the half towards the camera (+z: x and z tie, x counts as long)
    s = trimesh.creation.icosphere(subdivisions=3)
    d = degrade(np.asarray(s.vertices)[None], np.asarray(s.faces), "partial",
                rng=np.random.default_rng(0))
    assert d.info["camera"] == [0.0, 0.0, 1.0]
    assert d.frames[0][:, 2].min() > -0.05 and abs(len(d.frames[0]) / DEFAULT_POINTS - 0.5) < 0.05


def _rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)  # right-handed about +y: z -> x
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def test_motion_rotates_about_up_and_drifts_one_body_length():
    v, f = _creature(6)
    d = degrade(v, f, "motion", rng=np.random.default_rng(0))
    moved = np.stack(d.frames)
    assert np.array_equal(moved, d.gt)  # the GT is the moved meshes themselves
    L = float(np.ptp(v[0], axis=0).max())
    assert d.info["body_length"] == pytest.approx(L) and d.info["up"] == "y"
    pivot = v[0].mean(axis=0)
    drifts = []
    for k in range(6):
        about_pivot = (v[k] - pivot) @ _rot_y(5.14 * k).T + pivot
        shift = moved[k] - about_pivot
        assert np.allclose(shift, shift[0], atol=1e-12)  # one rigid motion per frame
        drifts.append(shift[0])
        T = np.array(d.info["transforms"][k])
        assert np.allclose(np.c_[v[k], np.ones(len(v[k]))] @ T.T, np.c_[moved[k], np.ones(len(v[k]))])
    drifts = np.array(drifts)
    assert np.allclose(drifts[0], 0) and np.allclose(drifts[-1], [0, 0, L])  # along the body (z)
    assert np.allclose(np.diff(drifts, axis=0), [0, 0, L / 5])
    i, j = np.random.default_rng(0).integers(0, v.shape[1], size=(2, 500))
    for k in range(6):  # distances between vertices preserved
        assert np.allclose(np.linalg.norm(moved[k, i] - moved[k, j], axis=1),
                           np.linalg.norm(v[k, i] - v[k, j], axis=1), atol=1e-12)


def test_motion_up_axis_option():
    v, f = _creature(3)
    d = degrade(v, f, "motion", 10.0, rng=np.random.default_rng(0), up=2, drift=0.0)
    c = v[0].mean(axis=0)
    assert np.allclose(d.frames[2][:, 2], v[2][:, 2])  # about z: z is kept
    assert np.allclose(np.linalg.norm((d.frames[2] - c)[:, :2], axis=1),
                       np.linalg.norm((v[2] - c)[:, :2], axis=1))


def test_bad_inputs_and_levels(tmp_path):
    v, f = _creature(2)
    rng = np.random.default_rng(0)
    for kind, level, needle in (("noise", -0.1, "[0, 1]"), ("holes", 1.0, "[0, 1)"),
                                ("partial", 0.5, "not used by partial"), ("blur", None, "unknown")):
        with pytest.raises(CatlasError, match=re.escape(needle)):
            degrade(v, f, kind, level, rng=rng)
    cloud = tmp_path / "cloud"
    cloud.mkdir()
    np.savetxt(cloud / "a.xyz", np.random.default_rng(0).normal(size=(200, 3)))
    with pytest.raises(CatlasError, match="a.xyz: is a point cloud"):
        read_mesh_sequence(cloud)


def test_write_layout_reads_back(tmp_path, example_dir):
    out = tmp_path / "deg"
    info = write_degraded(example_dir, out, "holes", seed=4, n_points=500)
    frames = list_frames(out / "frames")
    gt = list_frames(out / "gt")
    assert [p.name for p in frames] == [f"frame_00{k}.ply" for k in range(6)]
    assert [p.name for p in gt] == [f"frame_00{k}.obj" for k in range(6)]
    meta = json.loads((out / "degrade.json").read_text())
    assert meta["kind"] == "holes" and meta["seed"] == 4 and meta["points_per_frame"] == 500
    assert meta["source"] == str(example_dir) and meta["up"] == "y" and meta == {**info, **meta}
    assert len(read_frame(frames[0]).points) == 350 and not read_frame(frames[0]).is_mesh
    v, f = _creature(6)
    back = read_frame(gt[5])
    assert np.array_equal(back.faces, f) and np.allclose(back.points, v[5], atol=1e-6)


def test_cli_refuses_a_non_empty_folder_and_keeps_it(tmp_path, example_dir):
    out = tmp_path / "deg"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    before = tree(tmp_path)
    code, _, err = run_cli("degrade", example_dir, "--out", out, "--kind", "noise")
    assert_one_line_error(code, err, str(out), "not empty")
    code, _, err = run_cli("degrade", example_dir, "--out", out, "--kind", "noise", "--force")
    assert_one_line_error(code, err, str(out), "did not write: notes.md")
    assert tree(tmp_path) == before


def test_cli_force_replaces_only_its_own_files(tmp_path, example_dir):
    out = tmp_path / "deg"
    assert run_cli("degrade", example_dir, "--out", out, "--kind", "noise", "--points", "300")[0] == 0
    (out / ".keep").write_text("hidden: left alone")
    code, _, err = run_cli("degrade", example_dir, "--out", out, "--kind", "motion", "--force")
    assert code == 0, err
    assert sorted(p.name for p in (out / "frames").iterdir()) == [f"frame_00{k}.obj" for k in range(6)]
    assert (out / ".keep").exists() and json.loads((out / "degrade.json").read_text())["kind"] == "motion"
    # a changed file is no longer catlas's: refused, nothing touched
    with open(out / "gt" / "frame_002.obj", "a") as fh:
        fh.write("v 1 2 3\n")
    meta = (out / "degrade.json").read_text()
    (out / "degrade.json").write_text(meta.replace('"motion"', '"noise"'))
    before = tree(tmp_path)
    code, _, err = run_cli("degrade", example_dir, "--out", out, "--kind", "noise", "--force")
    assert_one_line_error(code, err, str(out), "degrade.json, gt/frame_002.obj")
    assert tree(tmp_path) == before
    # nor does it write into its input
    code, _, err = run_cli("degrade", out / "gt", "--out", out, "--kind", "noise", "--force")
    assert_one_line_error(code, err, str(out), "holds the input")


def test_cli_errors_are_one_line(tmp_path, example_dir):
    for args, needle in ((("--kind", "partial", "--level", "0.1"), "not used by partial"),
                         (("--kind", "noise", "--level", "2"), "must be in [0, 1]"),
                         (("--kind", "noise", "--points", "0"), "--points"),
                         (("--kind", "noise", "--seed", "-1"), "--seed")):
        code, _, err = run_cli("degrade", example_dir, "--out", tmp_path / "x", *args)
        assert_one_line_error(code, err, needle)
    code, _, err = run_cli("degrade", tmp_path / "nope", "--out", tmp_path / "x", "--kind", "noise")
    assert_one_line_error(code, err, "nope")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kind", ["motion", "noise", "outliers"])
def test_example_degrade_fit_eval(tmp_path, kind):
    ex, deg, run = tmp_path / "ex", tmp_path / "deg", tmp_path / "run"
    assert run_cli("example", ex, "--frames", "4")[0] == 0
    code, out, err = run_cli("degrade", ex, "--out", deg, "--kind", kind, "--points", "1000")
    assert code == 0 and "wrote 4" in out, err
    # outliers: every degraded point kept (tiny stores 400, too few to tell stray points apart)
    keep = ("--set", "data.points_per_frame=1000") if kind == "outliers" else ()
    code, _, err = run_cli("fit", deg / "frames", "--out", run, *TINY, *keep)
    assert code == 0, err
    warns = [ln for ln in err.splitlines() if "warning" in ln]
    if kind == "motion":  # one line naming the remedy
        assert len(warns) == 1 and "moves as a whole" in warns[0] and "per-frame centring" in warns[0]
    elif kind == "outliers":
        assert len(warns) == 1 and "stray points" in warns[0] and "loss.input_trim=0.05" in warns[0]
    else:
        assert warns == []
    code, out, err = run_cli("eval", run, "--gt", deg / "gt", "--pairs", "20", "--device", "cpu")
    assert code == 0, err
    assert (run / "eval" / "metrics.json").is_file()
    if kind == "outliers":  # with the remedy on: silent
        code, _, err = run_cli("fit", deg / "frames", "--out", tmp_path / "trimmed", *TINY, *keep,
                               "--set", "loss.input_trim=0.05")
        assert code == 0 and "warning" not in err, err
    if kind == "motion":  # with the remedy on: silent, and the evaluation turns the GT alike
        code, _, err = run_cli("fit", deg / "frames", "--out", tmp_path / "aligned", *TINY,
                               "--set", "data.align_frames=true")
        assert code == 0 and "warning" not in err, err
        code, _, err = run_cli("eval", tmp_path / "aligned", "--gt", deg / "gt", "--pairs", "20",
                               "--device", "cpu")
        assert code == 0, err


# ----------------------------------------------------------------------------- the fit's hint

def _clouds(v, f, n: int = 4000):
    return sample_frames(np.asarray(v, np.float64), f, n, np.random.default_rng(0))[0]


def test_hint_fires_on_motion_and_not_on_clean_sequences():
    v, f = make_walking_creature(24)
    assert global_motion_warning(_clouds(v, f)) is None
    for seed in range(3):
        v, f = make_humanoid(24, seed=seed)
        m = global_motion(_clouds(v, f))
        assert m.travel < 0.05 and m.turn_deg < 25, (seed, m)
        assert global_motion_warning(_clouds(v, f)) is None
    v, f = _creature(24)
    moved = degrade(v, f, "motion", rng=np.random.default_rng(0)).frames
    msg = global_motion_warning(_clouds(np.stack(moved), f), where="cat/frames")
    assert msg is not None and msg.startswith("cat/frames looks like it moves as a whole")
    assert "travels 1.0" in msg and "turns" in msg and "\n" not in msg
    # a turn alone (no drift) is seen too, and so is a drift alone
    turned = degrade(v, f, "motion", rng=np.random.default_rng(0), drift=0.0).frames
    m = global_motion(_clouds(np.stack(turned), f))
    assert m.travel < 0.05 and m.turn_deg > 40
    drifted = degrade(v, f, "motion", 0.0, rng=np.random.default_rng(0), drift=0.5).frames
    m = global_motion(_clouds(np.stack(drifted), f))
    assert m.travel == pytest.approx(0.5, abs=0.03) and m.turn_deg < 10


def test_hint_silent_on_cat_walk_and_fires_on_its_motion_copy(cat_walk):
    v, f, _ = read_mesh_sequence(cat_walk)
    assert global_motion_warning(_clouds(v, f)) is None
    moved = degrade(v, f, "motion", rng=np.random.default_rng(0)).frames
    assert global_motion_warning(_clouds(np.stack(moved), f)) is not None


def test_hint_names_the_remedy_the_fit_has():
    v, f = _creature(8)
    clouds = _clouds(np.stack(degrade(v, f, "motion", rng=np.random.default_rng(0)).frames), f)
    line = global_motion_warning(clouds)
    assert "travels" in line and "turns" in line and line.endswith(
        "consider data.align_frames=true (each frame centred and turned back to frame 0's "
        "orientation) against the travel and the turn")
    assert global_motion_warning(clouds, center_frames=True).endswith(
        "consider data.align_frames=true (each frame centred and turned back to frame 0's "
        "orientation) against the travel and the turn")
    assert global_motion_warning(clouds, align_frames=True).endswith("the settings for it are on already")
    drifted = _clouds(np.stack(degrade(v, f, "motion", 0.0, rng=np.random.default_rng(0)).frames), f)
    assert global_motion_warning(drifted).endswith(
        "consider data.center_frames=true (per-frame centring) against the travel")
    assert global_motion_warning(drifted, center_frames=True).endswith("the settings for it are on already")


def test_hint_silent_on_random_clouds():
    rng = np.random.default_rng(0)
    assert global_motion_warning(rng.normal(size=(5, 300, 3))) is None
