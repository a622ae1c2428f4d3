"""Adam with per-member learning rates, betas and step counts, for cohort parameters `[K, ...]`.

A member takes a step only where `active` is true (its D step in an `n_dis` cycle, and not
diverged); an inactive member's parameters, moments and step count stay exactly as they were, so
it evolves as it would alone. Same update rule as `torch.optim.Adam`.
"""

from __future__ import annotations

import torch


class CohortAdam:
    def __init__(self, params, lr: list[float], beta1: list[float], beta2: list[float], eps: float = 1e-8):
        self.params = [p for p in params]
        p0 = self.params[0]
        kw = dict(device=p0.device, dtype=torch.float32)
        self.lr = torch.tensor(lr, **kw)
        self.beta1 = torch.tensor(beta1, **kw)
        self.beta2 = torch.tensor(beta2, **kw)
        self.eps = eps
        self.t = torch.zeros(len(lr), **kw)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @staticmethod
    def _view(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return x.view(-1, *([1] * (p.dim() - 1)))

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        a = active.to(torch.float32)
        self.t += a
        t = self.t.clamp_min(1)  # members that never stepped: keep the coefficients finite
        w1 = (1 - self.beta1) * a  # 0 for inactive members: lerp leaves the moment unchanged
        w2 = (1 - self.beta2) * a
        step_size = a * self.lr / (1 - self.beta1**t)
        inv_sqrt_bc2 = 1 / torch.sqrt(1 - self.beta2**t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            am = self._view(active, p)
            g = torch.where(am, p.grad, 0.0)  # a diverged member's NaN gradient stays out
            m.lerp_(g, self._view(w1, p))
            v.lerp_(g * g, self._view(w2, p))
            denom = v.sqrt().mul_(self._view(inv_sqrt_bc2, p)).add_(self.eps)
            p.sub_(m / denom * self._view(step_size, p))

    @torch.no_grad()
    def reset_member(self, i: int, lr: float, beta1: float, beta2: float) -> None:
        """Member i starts afresh (a refilled cohort slot): its settings, no steps, zero moments."""
        self.lr[i], self.beta1[i], self.beta2[i] = lr, beta1, beta2
        self.t[i] = 0
        for m, v in zip(self.m, self.v):
            m[i].zero_()
            v[i].zero_()

    def grad_norm(self) -> torch.Tensor:
        """Each member's L2 norm of its gradient over all parameters `[K]`."""
        sq = [p.grad.flatten(1).float().pow(2).sum(1) for p in self.params if p.grad is not None]
        return torch.stack(sq).sum(0).sqrt()

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        return {
            "lr": self.lr,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "t": self.t,
            "m": self.m,
            "v": self.v,
        }

    def load_state_dict(self, state: dict) -> None:
        self.t.copy_(state["t"])
        for dst, src in zip(self.m + self.v, state["m"] + state["v"]):
            dst.copy_(src)
