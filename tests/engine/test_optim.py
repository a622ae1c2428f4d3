"""CohortAdam: torch's Adam per member, with each member's own settings and step count."""

from __future__ import annotations

import torch

from ganstab.engine.optim import CohortAdam


def _grads(p: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.randn(p.shape, generator=torch.Generator().manual_seed(seed))


def test_each_member_steps_as_torch_adam_with_its_own_settings():
    start = torch.randn(2, 3, 4)
    p = start.clone().requires_grad_(True)
    opt = CohortAdam([p], lr=[1e-2, 3e-3], beta1=[0.5, 0.0], beta2=[0.999, 0.9])
    solo = [start[i].clone().requires_grad_(True) for i in range(2)]
    ref = [
        torch.optim.Adam([solo[0]], lr=1e-2, betas=(0.5, 0.999)),
        torch.optim.Adam([solo[1]], lr=3e-3, betas=(0.0, 0.9)),
    ]
    for step in range(5):
        g = _grads(p, step)
        p.grad = g.clone()
        opt.step(torch.tensor([True, True]))
        for i in range(2):
            solo[i].grad = g[i].clone()
            ref[i].step()
    for i in range(2):
        torch.testing.assert_close(p[i].detach(), solo[i].detach(), rtol=1e-5, atol=1e-7)


def test_an_inactive_member_keeps_its_weights_moments_and_step_count():
    p = torch.randn(2, 5).requires_grad_(True)
    opt = CohortAdam([p], lr=[1e-2, 1e-2], beta1=[0.5, 0.5], beta2=[0.9, 0.9])
    p.grad = torch.full_like(p, float("nan"))  # a diverged member's gradient
    p.grad[0] = 1.0
    before = p.detach()[1].clone()
    opt.step(torch.tensor([True, False]))
    assert torch.equal(p.detach()[1], before) and opt.t.tolist() == [1.0, 0.0]
    assert torch.isfinite(opt.m[0]).all() and (opt.m[0][1] == 0).all()


def test_reset_member_starts_it_afresh_and_grad_norm_is_per_member():
    p = torch.randn(2, 3).requires_grad_(True)
    opt = CohortAdam([p], lr=[1e-2, 1e-2], beta1=[0.5, 0.5], beta2=[0.9, 0.9])
    p.grad = torch.tensor([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0]])
    assert opt.grad_norm().tolist() == [5.0, 1.0]
    opt.step(torch.tensor([True, True]))
    opt.reset_member(1, 5e-4, 0.0, 0.99)
    assert opt.t.tolist() == [1.0, 0.0] and (opt.m[0][1] == 0).all() and (opt.v[0][1] == 0).all()
    torch.testing.assert_close(opt.lr[1], torch.tensor(5e-4))
    torch.testing.assert_close(opt.beta2[1], torch.tensor(0.99))
