"""Every optimisation computes the same function: the optimised loss and gradients equal a plain
reference implementation (per-patch MLP on [u, v, z], autograd double-backward Jacobian, dense
Chamfer, plain amax encoder) on random inputs, to float32 tolerance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from catlas.config import LossConfig, ModelConfig
from catlas.geometry.metric import first_fundamental_form
from catlas.losses.chamfer import chamfer_distance_reference
from catlas.losses.dsr import dsr_loss, dsr_terms
from catlas.losses.metric_consistency import metric_consistency
from catlas.model import AtlasNetwork
from catlas.model.encoder import _max_pooled_linear
from catlas.train.objectives import needs_jacobian, step_loss


def _reference_encode(model: AtlasNetwork, points: torch.Tensor) -> torch.Tensor:
    h = points
    layers = model.encoder.point_mlp
    for k, layer in enumerate(layers):
        h = layer(h)
        if k < len(layers) - 1:
            h = torch.relu(h)
    return model.encoder.head(h.amax(dim=1))


def _reference_decode(model: AtlasNetwork, codes: torch.Tensor, uv: torch.Tensor, jacobian: bool):
    """Plain per-frame, per-patch MLP on the concatenation [u, v, z]; J by autograd."""
    d = model.decoder
    B, (P, S, _) = codes.shape[0], uv.shape
    uv = uv.detach().requires_grad_(True)
    xyz = []
    for b in range(B):
        per_patch = []
        for p in range(P):
            x = torch.cat((uv[p], codes[b].expand(S, -1)), dim=1)
            w1 = torch.cat((d.uv_weight[p], d.code_weight[p]), dim=0)
            h = F.softplus(x @ w1 + d.first_bias[p])
            for k, (w, bias) in enumerate(zip(d.weights, d.biases)):
                h = h @ w[p] + bias[p]
                if k < len(d.weights) - 1:
                    h = F.softplus(h)
            per_patch.append(h)
        xyz.append(torch.stack(per_patch))
    xyz = torch.stack(xyz)  # (B, P, S, 3)
    if not jacobian:
        return xyz, None
    jac = []
    for b in range(B):  # the authors' way: autograd of the sum, create_graph (double backward)
        cols = [torch.autograd.grad(xyz[b, ..., o].sum(), uv, create_graph=True)[0] for o in range(3)]
        jac.append(torch.stack(cols, dim=-2))
    return xyz, torch.stack(jac)


def _reference_loss(xyz, jac, clouds, cfg: LossConfig, area):
    B = xyz.shape[0]
    loss = chamfer_distance_reference(xyz.reshape(B, -1, 3), clouds)
    if cfg.method == "mca":
        fff = first_fundamental_form(jac)
        loss = loss + cfg.alpha_mc * metric_consistency(fff[0::2], fff[1::2])
    elif cfg.method == "dsr":
        t = dsr_terms(first_fundamental_form(jac), area)
        loss = loss + cfg.alpha_dsr * dsr_loss(t, w_e=1.0, w_g=1.0, w_skew=1.0, w_stretch=0.0,
                                               w_total_area=100.0)
    diff = xyz[0::2] - xyz[1::2]  # the same UV sample in the two frames of each pair
    return loss + cfg.motion_weight() * (diff ** 2).sum(dim=-1).mean()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("method", ["mca", "atlasnet", "dsr"])
def test_optimised_step_equals_reference(method, dtype):
    torch.manual_seed(0)
    model = AtlasNetwork(ModelConfig(code_dim=24, n_patches=3, encoder_widths=(16, 32),
                                     decoder_widths=(40, 20, 12))).to(dtype)
    clouds = torch.rand(4, 150, 3, dtype=dtype)
    uv = torch.rand(3, 40, 2, dtype=dtype)
    area = torch.full((4,), 0.3, dtype=dtype)
    # large weights so that the MC and surface-motion gradients matter
    cfg = LossConfig(method=method, alpha_mc=10.0, alpha_motion=1.0)
    jac_needed = needs_jacobian(cfg)

    xyz, jac = model(clouds, uv, jacobian=jac_needed)
    loss, _ = step_loss(xyz, jac, clouds, cfg, area)
    grads = torch.autograd.grad(loss, list(model.parameters()))

    codes = _reference_encode(model, clouds)
    xyz_r, jac_r = _reference_decode(model, codes, uv, jac_needed)
    loss_r = _reference_loss(xyz_r, jac_r, clouds, cfg, area)
    grads_r = torch.autograd.grad(loss_r, list(model.parameters()))

    # float64: equal to rounding (this is the exactness check). float32: equal up to summation
    # order; the uv-weight gradient sums terms of both signs, so its relative error depends on
    # the CPU's kernels (measured 1.2e-4 on an AVX-512 machine, 5.1e-4 on an AVX2 one); a wrong
    # gradient would be off by O(1).
    tol = 1e-10 if dtype == torch.float64 else 2e-3
    torch.testing.assert_close(loss, loss_r, rtol=tol, atol=0)
    for (name, _), g, g_r in zip(model.named_parameters(), grads, grads_r):
        assert (g - g_r).norm() <= tol * g_r.norm() + 1e-30, name


def test_max_pooled_linear_value_and_gradient():
    torch.manual_seed(1)
    layer = torch.nn.Linear(8, 16).double()
    h = torch.randn(3, 50, 8, dtype=torch.float64, requires_grad=True)
    out = _max_pooled_linear(h, layer)
    ref = layer(h).amax(dim=1)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    got = torch.autograd.grad(out, [h, layer.weight, layer.bias], g)
    want = torch.autograd.grad(ref, [h, layer.weight, layer.bias], g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
