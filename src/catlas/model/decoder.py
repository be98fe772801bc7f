"""P patch MLPs evaluated as batched matmuls, with the exact 3x2 Jacobian w.r.t. (u, v).

Each patch p maps [u, v, z] (z = latent code, C values) through
``2+C -> H1 -> ... -> Hk -> 3`` with Softplus between layers and a linear last layer
(docs/method.md, 2.2). Two savings over a plain implementation, neither of which changes the function:

* the code's contribution to the first layer, ``z @ W_z + b``, is computed once per frame
  and patch, not once per UV sample;
* the Jacobian is propagated forward with the activations (forward mode): at every layer
  the two tangents d/du and d/dv ride along as extra rows of the same batched matmul, and
  through Softplus they are multiplied by its derivative, the logistic sigmoid. The loss then
  needs only an ordinary backward pass (no double backward).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _SoftplusWithTangents(torch.autograd.Function):
    """h = softplus(a) and t_out = sigmoid(a) * t for both tangents, in one autograd node.

    a: (P, R, H) pre-activations; t: (P, R, 2, H) their tangents d/du, d/dv (interleaved per
    row). Written out by hand because autograd's broadcasting backward (fill + multiply + sum)
    costs several extra passes over these, the largest tensors of the step; the function and
    its gradient are the same (tests compare with autograd and finite differences).
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = torch.sigmoid(a)
        ctx.save_for_backward(s, t)
        return F.softplus(a), t * s[:, :, None]

    @staticmethod
    def backward(ctx, gh: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = ctx.saved_tensors
        # d t_out / d a = s (1 - s) t ; d h / d a = s
        acc = gt[:, :, 0] * t[:, :, 0]
        acc.addcmul_(gt[:, :, 1], t[:, :, 1])
        acc.mul_(1.0 - s)
        if gh is not None:
            acc.add_(gh)
        return acc.mul_(s), gt * s[:, :, None]


class PatchDecoder(nn.Module):
    """P independent patch MLPs, stored as stacked weights ``(P, in, out)``."""

    def __init__(self, n_patches: int, code_dim: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("the decoder needs at least one hidden layer")
        self.n_patches, self.code_dim, self.widths = n_patches, code_dim, tuple(widths)
        h1 = widths[0]
        self.uv_weight = nn.Parameter(torch.empty(n_patches, 2, h1))
        self.code_weight = nn.Parameter(torch.empty(n_patches, code_dim, h1))
        self.first_bias = nn.Parameter(torch.empty(n_patches, h1))
        dims = (*widths, 3)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(n_patches, a, b)) for a, b in zip(dims[:-1], dims[1:])
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(n_patches, b)) for b in dims[1:])
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """PyTorch's default Conv1d/Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), per patch."""
        bound = 1.0 / math.sqrt(2 + self.code_dim)
        for t in (self.uv_weight, self.code_weight, self.first_bias):
            t.uniform_(-bound, bound)
        for w, b in zip(self.weights, self.biases):
            bound = 1.0 / math.sqrt(w.shape[1])
            w.uniform_(-bound, bound)
            b.uniform_(-bound, bound)

    def code_features(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: (B, C) -> the code's first-layer pre-activation, (P, B, H1)."""
        return torch.baddbmm(self.first_bias[:, None, :], codes.expand(self.n_patches, -1, -1),
                             self.code_weight)

    def forward(
        self, uv: torch.Tensor, codes: torch.Tensor, jacobian: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode the same UV samples for every frame.

        uv: (P, S, 2) in [0, 1]^2, one set per patch, shared by all B frames.
        codes: (B, C).
        Returns xyz: (B, P, S, 3) and, if ``jacobian``, J: (B, P, S, 3, 2) with
        J[..., :, 0] = d xyz / du and J[..., :, 1] = d xyz / dv; otherwise None.
        """
        P, S, _ = uv.shape
        B = codes.shape[0]
        if P != self.n_patches or codes.shape[1] != self.code_dim:
            raise ValueError(
                f"expected uv (P={self.n_patches}, S, 2) and codes (B, {self.code_dim}), "
                f"got {tuple(uv.shape)} and {tuple(codes.shape)}"
            )
        rows = B * S
        pre = torch.bmm(uv, self.uv_weight)[:, None] + self.code_features(codes)[:, :, None]
        pre = pre.reshape(P, rows, -1)  # (P, B*S, H1)
        h = F.softplus(pre)
        # Tangents d/du, d/dv of every row, interleaved: (P, B*S, 2, H); None without Jacobian.
        # After the first layer they are sigmoid(pre) * uv_weight[k]; that product is folded
        # into the second layer's weights, (s * w_k) @ W = s @ (w_k[:, None] * W), so the
        # first-layer tangents are never materialised.
        t = None
        if jacobian:
            w = self.weights[0]  # (P, H1, H2)
            w_uv = (self.uv_weight[:, :, :, None] * w[:, None]).transpose(1, 2)  # (P, H1, 2, H2)
            t = torch.bmm(torch.sigmoid(pre), w_uv.reshape(P, w.shape[1], -1))  # (P, B*S, 2*H2)
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            value = torch.baddbmm(b[:, None, :], h, w)  # (P, B*S, H')
            if t is not None and k > 0:
                t = torch.bmm(t.view(P, 2 * rows, -1), w)  # tangents: linear, no bias
            if t is not None:
                t = t.view(P, rows, 2, -1)
            if k == last:
                h = value
                break
            if t is None:
                h = F.softplus(value)
            else:
                h, t = _SoftplusWithTangents.apply(value, t)
        xyz = h.view(P, B, S, 3).transpose(0, 1)
        if t is None:
            return xyz, None
        jac = t.view(P, B, S, 2, 3).transpose(-1, -2).transpose(0, 1)  # (B, P, S, 3, 2)
        return xyz, jac
