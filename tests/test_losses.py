import math

import pytest
import torch

from catlas.geometry import first_fundamental_form
from catlas.losses import (
    chamfer_distance,
    chamfer_distance_reference,
    dsr_loss,
    dsr_terms,
    metric_consistency,
    nearest_neighbors,
    surface_motion,
)

# ---------------------------------------------------------------- Chamfer


def test_chamfer_shifted_known_value():
    # target: 4 points on a line spaced 1 apart; pred = target shifted by d along x (d < 0.5)
    d = 0.2
    target = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]]])
    pred = target + torch.tensor([d, 0.0, 0.0])
    # each direction: every point's NN is its shifted copy at distance d -> mean d^2
    expected = 2 * d * d
    torch.testing.assert_close(chamfer_distance(pred, target), torch.tensor(expected))
    torch.testing.assert_close(chamfer_distance_reference(pred, target), torch.tensor(expected))


def test_chamfer_asymmetric_known_value():
    # pred has one point at origin; target has two points at x=1 and x=3.
    pred = torch.zeros(1, 1, 3)
    target = torch.tensor([[[1.0, 0, 0], [3.0, 0, 0]]])
    # pred->target: 1; target->pred: mean(1, 9) = 5
    torch.testing.assert_close(chamfer_distance(pred, target), torch.tensor(6.0))
    torch.testing.assert_close(chamfer_distance_reference(pred, target), torch.tensor(6.0))


def test_nearest_neighbors_chunked_matches_dense():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 1000, 3, generator=g)
    b = torch.rand(3, 700, 3, generator=g)
    sq, idx = nearest_neighbors(a, b, chunk=128)
    assert sq.shape == (3, 1000) and idx.shape == (3, 1000) and idx.dtype == torch.int64
    dense = ((a[:, :, None] - b[:, None]) ** 2).sum(-1)
    torch.testing.assert_close(idx, dense.argmin(-1))
    torch.testing.assert_close(sq, dense.min(-1).values)


def test_chamfer_matches_reference_with_grads():
    g = torch.Generator().manual_seed(1)
    p0 = torch.rand(2, 300, 3, generator=g)
    t0 = torch.rand(2, 200, 3, generator=g)
    p1, t1 = p0.clone().requires_grad_(), t0.clone().requires_grad_()
    p2, t2 = p0.clone().requires_grad_(), t0.clone().requires_grad_()
    c1 = chamfer_distance(p1, t1, chunk=64)
    c2 = chamfer_distance_reference(p2, t2)
    torch.testing.assert_close(c1, c2)
    c1.backward()
    c2.backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    torch.testing.assert_close(t1.grad, t2.grad)


def test_chamfer_gradcheck_float64():
    g = torch.Generator().manual_seed(2)
    p = torch.rand(2, 7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.rand(2, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: chamfer_distance(x, y, chunk=3), (p, t))
    assert torch.autograd.gradcheck(lambda x, y: nearest_neighbors(x, y, chunk=2)[0], (p, t))


def test_trimmed_chamfer_ignores_the_outliers_and_matches_the_reference():
    # a surface fitted exactly (pred = the 8 inliers) plus 2 far outliers in the target
    g = torch.Generator().manual_seed(3)
    inliers = torch.rand(1, 8, 3, generator=g)
    outliers = torch.tensor([[[5.0, 0, 0], [0.0, 7, 0]]])
    target = torch.cat((inliers, outliers), dim=1)  # N = 10
    pred = inliers.clone().requires_grad_()
    full = chamfer_distance(pred, target)
    torch.testing.assert_close(full, chamfer_distance_reference(pred, target))
    assert full > 1.0  # the outliers dominate the untrimmed mean
    trimmed = chamfer_distance(pred, target, trim=0.2)  # floor(0.2 * 10) = 2 points left out
    torch.testing.assert_close(trimmed, torch.tensor(0.0))
    trimmed.backward()
    torch.testing.assert_close(pred.grad, torch.zeros_like(pred))  # nothing pulls towards them
    # trim 0.1 leaves out the farther outlier only: target->pred mean over 9 points
    near = ((outliers[0, 0] - inliers[0]) ** 2).sum(-1).min()
    torch.testing.assert_close(chamfer_distance(pred, target, trim=0.1), near / 9)
    # random clouds with gradients: the same as the dense reference's full sort
    p0, t0 = torch.rand(2, 60, 3, generator=g), torch.rand(2, 50, 3, generator=g)
    p1, p2 = p0.clone().requires_grad_(), p0.clone().requires_grad_()
    c1, c2 = chamfer_distance(p1, t0, trim=0.1), chamfer_distance_reference(p2, t0, trim=0.1)
    torch.testing.assert_close(c1, c2)
    c1.backward()
    c2.backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    with pytest.raises(ValueError, match="trim"):
        chamfer_distance(p0, t0, trim=1.0)


def test_pred_trimmed_chamfer_lets_a_patch_over_a_hole_be():
    """pred_trim: the predicted points farthest from the input (a surface over a hole in the
    scan) are left out of the prediction -> input mean, and get no gradient from it."""
    g = torch.Generator().manual_seed(4)
    target = torch.rand(1, 10, 3, generator=g)
    over_hole = torch.tensor([[[4.0, 0, 0], [0.0, 5, 0]]])
    pred = torch.cat((target, over_hole), dim=1).requires_grad_()  # M = 12
    assert chamfer_distance(pred, target) > 1.0
    trimmed = chamfer_distance(pred, target, pred_trim=2 / 12)
    torch.testing.assert_close(trimmed, torch.tensor(0.0))
    trimmed.backward()
    torch.testing.assert_close(pred.grad, torch.zeros_like(pred))
    p0, t0 = torch.rand(2, 60, 3, generator=g), torch.rand(2, 50, 3, generator=g)
    p1, p2 = p0.clone().requires_grad_(), p0.clone().requires_grad_()
    c1 = chamfer_distance(p1, t0, trim=0.1, pred_trim=0.3)
    c2 = chamfer_distance_reference(p2, t0, trim=0.1, pred_trim=0.3)
    torch.testing.assert_close(c1, c2)
    c1.backward()
    c2.backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    with pytest.raises(ValueError, match="pred_trim"):
        chamfer_distance(p0, t0, pred_trim=-0.1)


def test_chamfer_bad_shapes():
    with pytest.raises(ValueError):
        chamfer_distance(torch.rand(2, 4, 3), torch.rand(3, 4, 3))
    with pytest.raises(ValueError):
        chamfer_distance(torch.rand(2, 4, 2), torch.rand(2, 4, 2))


# ---------------------------------------------------------------- metric consistency


def _plane_fff(J: torch.Tensor, shape=(2, 3, 5)) -> torch.Tensor:
    return first_fundamental_form(J.expand(*shape, 3, 2))


def test_metric_consistency_stretch():
    iso = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    stretched = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # factor 2 in u -> E = 4
    val = metric_consistency(_plane_fff(iso), _plane_fff(stretched))
    torch.testing.assert_close(val, torch.tensor(9.0))
    torch.testing.assert_close(metric_consistency(_plane_fff(iso), _plane_fff(iso)), torch.tensor(0.0))


def test_metric_consistency_shear_weights_f_twice():
    k = 0.5
    iso = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    sheared = torch.tensor([[1.0, k], [0.0, 1.0], [0.0, 0.0]])  # E=1, F=k, G=1+k^2
    val = metric_consistency(_plane_fff(iso), _plane_fff(sheared))
    torch.testing.assert_close(val, torch.tensor(2 * k**2 + k**4))
    # directly on (E, F, G)
    a = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    b = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    torch.testing.assert_close(metric_consistency(a, b), torch.tensor(1.0))  # (2*1 + 0) / 2


# ---------------------------------------------------------------- DSR


def test_dsr_isometric_plane_zero():
    fff = torch.tensor([0.3, 0.0, 0.3]).expand(2, 4, 6, 3).clone()
    terms = dsr_terms(fff, torch.full((2,), 10.0))
    assert set(terms) == {"E", "G", "skew", "stretch", "total_area"}
    for k in ("E", "G", "skew", "stretch", "total_area"):
        torch.testing.assert_close(terms[k], torch.tensor(0.0), msg=k)
    torch.testing.assert_close(dsr_loss(terms), torch.tensor(0.0))


def test_dsr_non_uniform_e_known_value():
    # half the samples E=1, half E=3 (F=0, G=1): E_bar=2, A^2=E -> mean(1/1, 1/3)
    fff = torch.zeros(1, 1, 4, 3)
    fff[..., 0] = torch.tensor([1.0, 3.0, 1.0, 3.0])
    fff[..., 2] = 1.0
    t = dsr_terms(fff, torch.tensor([100.0]))
    torch.testing.assert_close(t["E"], torch.tensor((1.0 + 1.0 / 3.0) / 2))
    torch.testing.assert_close(t["G"], torch.tensor(0.0))
    torch.testing.assert_close(t["skew"], torch.tensor(0.0))
    # stretch: (E-G)^2/A^2 = 0 and 4/3
    torch.testing.assert_close(t["stretch"], torch.tensor((4.0 / 3.0) / 2))
    # E_bar is global over the batch, not per shape: two shapes with E=1 and E=3
    fff2 = torch.zeros(2, 1, 3, 3)
    fff2[0, ..., 0] = 1.0
    fff2[1, ..., 0] = 3.0
    fff2[..., 2] = 1.0
    t2 = dsr_terms(fff2, torch.tensor([100.0, 100.0]))
    torch.testing.assert_close(t2["E"], torch.tensor((1.0 + 1.0 / 3.0) / 2))


def test_dsr_skew_known_value():
    # sheared plane: E=1, F=k, G=1+k^2, det=1 -> skew = k^2
    k = 0.4
    fff = torch.tensor([1.0, k, 1.0 + k * k]).expand(1, 2, 3, 3).clone()
    t = dsr_terms(fff, torch.tensor([100.0]))
    torch.testing.assert_close(t["skew"], torch.tensor(k * k))


def test_dsr_total_area():
    # each patch's area element = a*b = 0.5 (E=1, G=0.25); 3 patches -> total area 1.5
    fff = torch.tensor([1.0, 0.0, 0.25]).expand(2, 3, 4, 3).clone()
    t = dsr_terms(fff, torch.tensor([1.0, 2.0]))
    # shape 0 exceeds by 0.5 -> 0.25; shape 1 under target -> 0; mean = 0.125
    torch.testing.assert_close(t["total_area"], torch.tensor(0.125))
    t_under = dsr_terms(fff, torch.tensor([1.5, 3.0]))
    torch.testing.assert_close(t_under["total_area"], torch.tensor(0.0))
    loss = dsr_loss(t, w_e=1, w_g=1, w_skew=1, w_stretch=0, w_total_area=100)
    expected = t["E"] + t["G"] + t["skew"] + 100 * 0.125
    torch.testing.assert_close(loss, expected)


def test_dsr_collapsed_gradients_finite():
    fff = torch.zeros(1, 2, 5, 3, requires_grad=True)
    t = dsr_terms(fff, torch.tensor([0.0]))
    loss = dsr_loss(t)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(fff.grad).all()


def test_kdtree_and_dense_nearest_neighbours_agree():
    """The CPU (KD-tree) and GPU (dense, chunked) searches of chamfer_distance give the same indices."""
    from catlas.losses.chamfer import _nn_indices_dense, _nn_indices_kdtree

    g = torch.Generator().manual_seed(3)
    p, t = torch.rand(3, 257, 3, generator=g), torch.rand(3, 190, 3, generator=g)
    rk, ck = _nn_indices_kdtree(p, t)
    rd, cd = _nn_indices_dense(p, t, chunk=50)
    assert torch.equal(rk, rd) and torch.equal(ck, cd)
    assert rk.shape == (3, 257) and ck.shape == (3, 190)


# ---------------------------------------------------------------- surface motion


def test_surface_motion_known_values():
    a = torch.rand(2, 3, 7, 3, dtype=torch.float64)
    t = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64)  # |t|^2 = 0.09 + 0.16 + 1.44
    assert float(surface_motion(a, a + t)) == pytest.approx(1.69, rel=1e-12)
    assert float(surface_motion(a, a)) == 0.0
    # one sample moved by 2 along z among 4: mean = 4 / 4
    b = torch.zeros(4, 3, dtype=torch.float64)
    c = b.clone()
    c[2, 2] = 2.0
    assert float(surface_motion(b, c)) == pytest.approx(1.0, rel=1e-12)


def test_surface_motion_gradcheck_and_shapes():
    a = torch.rand(2, 5, 3, dtype=torch.float64, requires_grad=True)
    b = torch.rand(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(surface_motion, (a, b))
    with pytest.raises(ValueError):
        surface_motion(torch.zeros(2, 3), torch.zeros(3, 3))


def test_cross_pair_metric_consistency_compares_frames_of_different_pairs_only():
    from catlas.losses import cross_pair_metric_consistency

    iso = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    stretched = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # E = 4: L_mc to iso is 9
    # pairs (0, 1) and (2, 3): each pair agrees inside, the pairs differ by a stretch
    fff = torch.cat([_plane_fff(iso, (2, 3, 5)), _plane_fff(stretched, (2, 3, 5))])
    torch.testing.assert_close(metric_consistency(fff[0::2], fff[1::2]), torch.tensor(0.0))
    torch.testing.assert_close(cross_pair_metric_consistency(fff), torch.tensor(9.0))
    # three pairs with E = 0, 1, 3 (F = G = 0): 4 comparisons per pair of pairs, (1 + 9 + 4) / 3
    e = torch.tensor([0.0, 0.0, 1.0, 1.0, 3.0, 3.0]).view(6, 1, 1, 1)
    fff3 = torch.cat([e.expand(6, 2, 4, 1), torch.zeros(6, 2, 4, 2)], dim=-1)
    torch.testing.assert_close(cross_pair_metric_consistency(fff3), torch.tensor(14.0 / 3.0))
    # a single pair has nothing to cross with; an odd batch is not a batch of pairs
    torch.testing.assert_close(cross_pair_metric_consistency(fff[:2]), torch.tensor(0.0))
    with pytest.raises(ValueError, match="B even"):
        cross_pair_metric_consistency(fff[:3])


# ---------------------------------------------------------------- self-supervised correspondence


def _ssc_case(B=2, S=3, N=12, M=12, seed=0, dtype=torch.float64):
    """Input clouds on a coarse grid (well separated, so the argmin is stable under small
    perturbations), S rigid copies per frame, copy 0 the identity."""
    from catlas.losses.ssc import random_rigid_copies

    g = torch.Generator().manual_seed(seed)
    target = (torch.randperm(1000, generator=g)[: B * N].reshape(B, N, 1)
              // torch.tensor([100, 10, 1]) % 10).to(dtype) / 10.0  # distinct grid points, spacing 0.1
    rot, trans = random_rigid_copies(B, S, 0.2, g, dtype=dtype)
    return target, rot, trans


def test_rigid_copies_are_rotations_about_one_axis_with_the_identity_first():
    from catlas.losses.ssc import random_rigid_copies, rotation_about_axis

    r = rotation_about_axis(torch.tensor([0.0, 1.0, 0.0]), torch.tensor(math.pi / 2))
    torch.testing.assert_close(r @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 0, -1]))  # right-handed
    g = torch.Generator().manual_seed(3)
    rot, trans = random_rigid_copies(50, 6, 0.2, g, dtype=torch.float64)
    assert rot.shape == (50, 6, 3, 3) and trans.shape == (50, 6, 3)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(rot[:, 0], eye.expand(50, 3, 3), rtol=0, atol=0)
    assert torch.equal(trans[:, 0], torch.zeros(50, 3, dtype=torch.float64))
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), eye.expand(50, 6, 3, 3))
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(50, 6, dtype=torch.float64))
    assert trans.abs().max() <= 0.2 and trans[:, 1:].abs().max() > 0.15
    # one axis per pair: the axis of copy 1 is fixed by every copy of the pair (its hemisphere is
    # not seen in R: (a, angle) and (-a, 2 pi - angle) are the same rotation)
    w = torch.stack((rot[:, 1, 2, 1] - rot[:, 1, 1, 2], rot[:, 1, 0, 2] - rot[:, 1, 2, 0],
                     rot[:, 1, 1, 0] - rot[:, 1, 0, 1]), -1)
    axis = w / w.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(rot @ axis[:, None, :, None], axis[:, None, :, None].expand(50, 6, 3, 1))
    assert not torch.allclose(rot[0, 1], rot[1, 1])  # independent draws per pair
    with pytest.raises(ValueError, match="copies"):
        random_rigid_copies(1, 0, 0.2)


def test_ssc_is_zero_for_an_equivariant_decoder_and_known_for_an_offset():
    """A "decoder" that returns the first M input points of the cloud it is given is exactly
    equivariant: every moved copy decodes to R x + t of the points copy 0 registers to -> 0.
    A constant offset d on copy s adds |d|^2 to its points: the mean over copies s >= 1."""
    from catlas.losses.ssc import rigid_apply, self_supervised_correspondence

    target, rot, trans = _ssc_case(B=2, S=3, N=12)
    M = 8
    moved = rigid_apply(target, rot, trans)  # (B, S, N, 3), copy 0 = target
    pred = moved[:, :, :M]
    assert float(self_supervised_correspondence(pred, target, rot, trans)) == pytest.approx(0.0, abs=1e-24)
    # copy 0 a little off its input points (0.01 < half the spacing): the same registration
    jitter = torch.zeros_like(pred)
    jitter[:, 0] = 0.01
    assert float(self_supervised_correspondence(pred + jitter, target, rot, trans)) == pytest.approx(0.0, abs=1e-24)
    off = torch.zeros_like(pred)
    off[:, 1] = torch.tensor([0.3, 0.0, 0.0], dtype=pred.dtype)
    off[:, 2] = torch.tensor([0.0, 0.1, -0.2], dtype=pred.dtype)
    expected = (0.3**2 + (0.1**2 + 0.2**2)) / 2  # mean over s = 1, 2 (and b, m)
    assert float(self_supervised_correspondence(pred + off, target, rot, trans)) == pytest.approx(expected)
    # copy 0 is not compared with anything: moving it somewhere else only changes n*(m)
    far = pred.clone()
    far[:, 0] = target[:, M : 2 * M] if 2 * M <= target.shape[1] else target[:, -M:]
    v = float(self_supervised_correspondence(far, target, rot, trans))
    assert v > 0.0
    with pytest.raises(ValueError, match="S >= 2"):
        self_supervised_correspondence(pred[:, :1], target, rot[:, :1], trans[:, :1])
    with pytest.raises(ValueError, match="rot"):
        self_supervised_correspondence(pred, target, rot[:, :2], trans)


def test_ssc_gradient_matches_finite_differences_and_skips_the_unmoved_copy():
    from catlas.losses.ssc import rigid_apply, self_supervised_correspondence

    target, rot, trans = _ssc_case(B=2, S=3, N=10)
    g = torch.Generator().manual_seed(1)
    pred = rigid_apply(target, rot, trans)[:, :, :6] + 0.02 * torch.rand(2, 3, 6, 3, generator=g, dtype=torch.float64)
    pred.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: self_supervised_correspondence(p, target, rot, trans), (pred,),
                                    eps=1e-6, atol=1e-8)
    t = target.clone().requires_grad_(True)
    r, tr = rot.clone().requires_grad_(True), trans.clone().requires_grad_(True)
    self_supervised_correspondence(pred, t, r, tr).backward()
    assert torch.equal(pred.grad[:, 0], torch.zeros_like(pred.grad[:, 0]))  # no gradient into copy 0
    assert (pred.grad[:, 1:].abs() > 0).any(dim=-1).all()  # every moved point is pulled
    # the targets are constants: nothing reaches the input clouds or the transforms
    assert t.grad is None and r.grad is None and tr.grad is None
