"""The atlas network: shapes, parameter count, and exact forward-mode Jacobians."""

from __future__ import annotations

import math

import pytest
import torch

from catlas.config import ModelConfig, make_config
from catlas.model import AtlasNetwork, PatchDecoder


def _small(dtype=torch.float32) -> AtlasNetwork:
    torch.manual_seed(0)
    return AtlasNetwork(ModelConfig(code_dim=12, n_patches=3, encoder_widths=(8, 16),
                                    decoder_widths=(20, 10, 8))).to(dtype)


def _autograd_jacobian(decoder: PatchDecoder, uv: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Reference (B, P, S, 3, 2) via one autograd call per frame and output coordinate."""
    rows = []
    for b in range(codes.shape[0]):
        u = uv.detach().clone().requires_grad_(True)
        x, _ = decoder(u, codes[b : b + 1])
        cols = [torch.autograd.grad(x[0, ..., o].sum(), u, retain_graph=True)[0] for o in range(3)]
        rows.append(torch.stack(cols, dim=-2))  # (P, S, 3, 2)
    return torch.stack(rows)


def test_paper_parameter_counts():
    m = AtlasNetwork(make_config("paper").model)
    assert sum(p.numel() for p in m.encoder.parameters()) == 2_239_872  # docs/method.md, 2.1
    assert sum(p.numel() for p in m.parameters()) == 19_368_952  # docs/method.md, 2.2
    assert m.decoder.widths == (1026, 513, 256)


def test_shapes_and_nonnegative_codes():
    m = _small()
    pts = torch.randn(5, 40, 3)
    codes = m.encode(pts)
    assert codes.shape == (5, 12) and (codes >= 0).all()
    xyz, jac = m.decode(codes, torch.rand(3, 7, 2), jacobian=True)
    assert xyz.shape == (5, 3, 7, 3) and jac.shape == (5, 3, 7, 3, 2)
    with pytest.raises(ValueError):
        m.encode(torch.randn(5, 40, 2))


def test_jacobian_matches_autograd_float32():
    m = _small()
    uv, codes = torch.rand(3, 50, 2), torch.rand(4, 12)
    xyz, jac = m.decode(codes, uv, jacobian=True)
    ref = _autograd_jacobian(m.decoder, uv, codes)
    torch.testing.assert_close(jac, ref, rtol=1e-5, atol=1e-6)
    xyz_plain, none = m.decode(codes, uv, jacobian=False)
    assert none is None
    torch.testing.assert_close(xyz, xyz_plain, rtol=0, atol=1e-6)


def test_decoder_equals_plain_per_patch_mlp():
    """The batched, code-hoisted decoder computes the paper's per-patch MLP on [u, v, z]."""
    m = _small(torch.float64)
    d = m.decoder
    uv, codes = torch.rand(3, 6, 2, dtype=torch.float64), torch.rand(2, 12, dtype=torch.float64)
    xyz, _ = d(uv, codes)
    for b in range(2):
        for p in range(3):
            h = torch.cat((uv[p], codes[b].expand(6, -1)), dim=1)
            w1 = torch.cat((d.uv_weight[p], d.code_weight[p]), dim=0)
            h = torch.nn.functional.softplus(h @ w1 + d.first_bias[p])
            for k, (w, bias) in enumerate(zip(d.weights, d.biases)):
                h = h @ w[p] + bias[p]
                if k < len(d.weights) - 1:
                    h = torch.nn.functional.softplus(h)
            torch.testing.assert_close(xyz[b, p], h)


def test_jacobian_of_analytic_plane():
    """Hand-set weights give f(u, v) = (2 softplus(u), 3 softplus(v), 0): a closed-form J."""
    torch.manual_seed(1)
    d = PatchDecoder(n_patches=2, code_dim=4, widths=(2,))
    with torch.no_grad():
        d.uv_weight.copy_(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]).repeat(2, 1, 1))
        d.code_weight.zero_()
        d.first_bias.zero_()
        d.weights[0].copy_(torch.tensor([[[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]]]).repeat(2, 1, 1))
        d.biases[0].zero_()
    uv = torch.rand(2, 30, 2)
    xyz, jac = d(uv, torch.zeros(1, 4), jacobian=True)
    # f(u, v) = (2 softplus(u), 3 softplus(v), 0): J = diag(2 s(u), 3 s(v)) with s = sigmoid.
    s = torch.sigmoid(uv)
    expected = torch.zeros(1, 2, 30, 3, 2)
    expected[0, :, :, 0, 0] = 2 * s[..., 0]
    expected[0, :, :, 1, 1] = 3 * s[..., 1]
    torch.testing.assert_close(jac, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(xyz[0, ..., 0], 2 * torch.nn.functional.softplus(uv[..., 0]))


def test_jacobian_of_decoder_fitted_to_cylinder_and_sphere():
    """A decoder roughly fitted to a cylinder and a sphere patch (curved, non-trivial weights):
    its forward-mode J equals autograd and float64 central differences of the same function."""
    torch.manual_seed(0)
    r, h = 0.5, 1.0

    def cylinder(uv):
        a = math.pi * uv[..., 0]
        return torch.stack((r * torch.cos(a), r * torch.sin(a), h * uv[..., 1]), -1)

    def sphere(uv):
        th, ph = 0.5 + uv[..., 0], 0.5 * math.pi * uv[..., 1]
        return torch.stack((torch.sin(th) * torch.cos(ph), torch.sin(th) * torch.sin(ph), torch.cos(th)), -1)

    d = PatchDecoder(n_patches=2, code_dim=1, widths=(64, 64))
    opt = torch.optim.Adam(d.parameters(), lr=3e-3)
    code = torch.zeros(1, 1)
    for _ in range(300):
        uv = torch.rand(2, 128, 2)
        target = torch.stack((cylinder(uv[0]), sphere(uv[1])))
        xyz, _ = d(uv, code)
        loss = (xyz[0] - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    uv = torch.rand(2, 64, 2) * 0.8 + 0.1
    _, jac = d(uv, code, jacobian=True)
    ref = _autograd_jacobian(d, uv, code)
    torch.testing.assert_close(jac, ref, rtol=1e-5, atol=1e-6)
    # float64 central differences of the decoder itself agree to float32 precision
    d64 = d.double()
    eps = 1e-5
    fd = []
    for k in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[k] = eps
        plus, _ = d64(uv.double() + step, code.double())
        minus, _ = d64(uv.double() - step, code.double())
        fd.append((plus - minus) / (2 * eps))
    torch.testing.assert_close(jac.double(), torch.stack(fd, -1), rtol=1e-4, atol=1e-5)


def test_jacobian_of_exact_plane():
    """softplus(x) - softplus(-x) = x, so a 4-unit layer represents any affine map
    f(u, v) = A (u, v) + c exactly: the Jacobian must be A at every sample, to float32 rounding."""
    A = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.7, 0.9]])
    d = PatchDecoder(n_patches=2, code_dim=3, widths=(4,))
    with torch.no_grad():
        d.uv_weight.copy_(torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]]))
        d.code_weight.zero_()
        d.first_bias.zero_()
        d.weights[0].copy_(torch.stack((A[:, 0], -A[:, 0], A[:, 1], -A[:, 1])))
        d.biases[0].copy_(torch.tensor([0.1, 0.2, 0.3]))
    uv = torch.rand(2, 100, 2)
    xyz, jac = d(uv, torch.rand(2, 3), jacobian=True)
    torch.testing.assert_close(jac, A.expand_as(jac), rtol=0, atol=1e-6)
    expected = uv @ A.T + torch.tensor([0.1, 0.2, 0.3])
    torch.testing.assert_close(xyz, expected.expand_as(xyz), rtol=0, atol=1e-5)


def test_gradients_through_jacobian_gradcheck():
    """Gradients of a loss on J (w.r.t. uv, codes and every weight) are exact: float64 gradcheck."""
    m = _small(torch.float64)
    d = m.decoder
    uv = torch.rand(3, 4, 2, dtype=torch.float64, requires_grad=True)
    codes = torch.rand(2, 12, dtype=torch.float64, requires_grad=True)
    params = [d.uv_weight, d.code_weight, d.first_bias, d.weights[1]]

    def fn(uv_, codes_, *ps):
        with torch.nn.utils.stateless._reparametrize_module(  # type: ignore[attr-defined]
            d, {"uv_weight": ps[0], "code_weight": ps[1], "first_bias": ps[2], "weights.1": ps[3]}
        ):
            xyz, jac = d(uv_, codes_, jacobian=True)
        g = jac.transpose(-1, -2) @ jac
        return xyz.sum() + g.square().sum()

    inputs = (uv, codes, *[p.detach().clone().requires_grad_(True) for p in params])
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_jacobian_on_a_subset_of_samples():
    """jacobian=k: the same points, and J equal to the full J at the first k samples."""
    m = _small()
    uv, codes = torch.rand(3, 20, 2), torch.rand(4, 12)
    xyz_full, jac_full = m.decode(codes, uv, jacobian=True)
    xyz, jac = m.decode(codes, uv, jacobian=7)
    assert jac.shape == (4, 3, 7, 3, 2)
    torch.testing.assert_close(xyz, xyz_full)
    torch.testing.assert_close(jac, jac_full[:, :, :7])
    assert m.decode(codes, uv, jacobian=0)[1] is None


def test_jacobian_for_the_first_frames_only():
    """jacobian_frames=k: one encoder pass for all frames; the points of every frame as without
    it, and J of the first k frames only (the rigid copies of loss.alpha_ssc)."""
    m = _small()
    uv, pts = torch.rand(3, 20, 2), torch.rand(6, 30, 3)
    xyz_full, jac_full = m(pts, uv, jacobian=True)
    for jac in (True, 7):
        xyz, j = m(pts, uv, jacobian=jac, jacobian_frames=2)
        torch.testing.assert_close(xyz, xyz_full)
        assert j.shape[0] == 2
        torch.testing.assert_close(j, m(pts[:2], uv, jacobian=jac)[1])
    xyz, j = m(pts, uv, jacobian=0, jacobian_frames=2)
    assert j is None
    torch.testing.assert_close(xyz, xyz_full)
