import math

import torch

from catlas.geometry import area_element, det_metric, first_fundamental_form


def _autograd_jacobian(f, uv: torch.Tensor) -> torch.Tensor:
    """(S, 2) uv -> (S, 3, 2) Jacobian via torch.autograd.functional.jacobian."""
    return torch.stack([torch.autograd.functional.jacobian(f, p) for p in uv])


def test_plane_fff():
    a, b = 1.5, 0.5
    uv = torch.rand(20, 2, dtype=torch.float64)
    J = _autograd_jacobian(lambda p: torch.stack((a * p[0], b * p[1], p[0] * 0)), uv)
    J_analytic = torch.tensor([[a, 0.0], [0.0, b], [0.0, 0.0]], dtype=torch.float64).expand(20, 3, 2)
    torch.testing.assert_close(J, J_analytic)
    fff = first_fundamental_form(J)
    assert fff.shape == (20, 3)
    torch.testing.assert_close(fff, torch.tensor([a * a, 0.0, b * b], dtype=torch.float64).expand(20, 3))
    torch.testing.assert_close(area_element(fff), torch.full((20,), a * b, dtype=torch.float64))
    torch.testing.assert_close(det_metric(fff), torch.full((20,), (a * b) ** 2, dtype=torch.float64))


def test_cylinder_fff():
    r, h, s = 0.7, 2.0, 0.4
    w = 2 * math.pi * s

    def f(p):
        return torch.stack((r * torch.cos(w * p[0]), r * torch.sin(w * p[0]), h * p[1]))

    uv = torch.rand(16, 2, dtype=torch.float64)
    J = _autograd_jacobian(f, uv)
    u = uv[:, 0]
    J_analytic = torch.zeros(16, 3, 2, dtype=torch.float64)
    J_analytic[:, 0, 0] = -r * w * torch.sin(w * u)
    J_analytic[:, 1, 0] = r * w * torch.cos(w * u)
    J_analytic[:, 2, 1] = h
    torch.testing.assert_close(J, J_analytic)
    fff = first_fundamental_form(J)
    expected = torch.tensor([(w * r) ** 2, 0.0, h * h], dtype=torch.float64).expand(16, 3)
    torch.testing.assert_close(fff, expected)
    torch.testing.assert_close(first_fundamental_form(J_analytic), expected)


def test_fff_batched_shape_and_sheared():
    J = torch.randn(2, 3, 5, 3, 2)
    fff = first_fundamental_form(J)
    assert fff.shape == (2, 3, 5, 3)
    torch.testing.assert_close(fff[..., 0], (J[..., 0] ** 2).sum(-1))
    torch.testing.assert_close(fff[..., 1], (J[..., 0] * J[..., 1]).sum(-1))
    torch.testing.assert_close(fff[..., 2], (J[..., 1] ** 2).sum(-1))
    # sheared plane f = (u + k v, v, 0): E = 1, F = k, G = 1 + k^2, det = 1
    k = 0.3
    Js = torch.tensor([[1.0, k], [0.0, 1.0], [0.0, 0.0]])
    torch.testing.assert_close(first_fundamental_form(Js), torch.tensor([1.0, k, 1 + k * k]))
    torch.testing.assert_close(det_metric(first_fundamental_form(Js)), torch.tensor(1.0))


def test_area_element_degenerate_gradient_finite():
    # collapsed patch: J = 0 -> det = 0; gradient must be finite
    J = torch.zeros(4, 3, 2, requires_grad=True)
    A = area_element(first_fundamental_form(J))
    torch.testing.assert_close(A, torch.full((4,), 1e-6))
    A.sum().backward()
    assert torch.isfinite(J.grad).all()
    fff = torch.tensor([[1.0, 1.0, 1.0]], requires_grad=True)  # det exactly 0
    area_element(fff).sum().backward()
    assert torch.isfinite(fff.grad).all()
