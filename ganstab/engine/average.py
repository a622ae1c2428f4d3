"""An exponential moving average of G's weights, per cohort member (`train.g_ema`).

Evaluating and sampling an average of the generator's recent weights instead of its last ones
damps the rotation GANs make around an equilibrium: the samples stop swinging between
evaluations and sit closer to the modes. Yazici et al., "The Unusual Effectiveness of Averaging in
GAN Training" (ICLR 2019); ProGAN, StyleGAN and BigGAN all evaluate such an average.

The average only ever feeds evaluation and samples; training, the trace's step columns and D see
the trained G. Each member has its own decay. Early in a member's training the decay is lowered
to (1 + n) / (10 + n) after its n-th update, as TensorFlow's ExponentialMovingAverage does with
`num_updates`, so that a short run's average is not dragged towards its initial weights. A member
with decay 0 has an "average" equal to its weights, bit for bit (`lerp` with weight 1 returns its
end point), so members with and without an average share one cohort.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """The per-member average of `net`'s parameters, kept in a copy of `net` (`.net`) that
    samples like it. Buffers (spectral-norm vectors and switches) are copied from `net` when
    `synced()` is asked for, so the copy normalizes its weights as the trained network does."""

    def __init__(self, net: nn.Module, decay: list[float]) -> None:
        self.source = net
        self.net = copy.deepcopy(net)
        self.net.requires_grad_(False)
        self.decay = torch.tensor(decay, dtype=torch.float32, device=next(net.parameters()).device)

    @torch.no_grad()
    def update(self, updated: torch.Tensor, n: torch.Tensor) -> None:
        """Average in the members `updated` (`[K]` bool), whose update this is their `n`-th (`[K]`)."""
        decay = torch.minimum(self.decay, (1 + n.float()) / (10 + n.float()))
        decay = torch.where(self.decay > 0, decay, 0.0)
        weight = torch.where(updated, 1 - decay, 0.0)
        for avg, p in zip(self.net.parameters(), self.source.parameters()):
            avg.lerp_(p, weight.view(-1, *[1] * (p.dim() - 1)))

    @torch.no_grad()
    def synced(self) -> nn.Module:
        for mine, theirs in zip(self.net.buffers(), self.source.buffers()):
            mine.copy_(theirs)
        return self.net

    @torch.no_grad()
    def reset_member(self, i: int, decay: float) -> None:
        """Slot i starts a new member: its average starts at its (new) weights."""
        for avg, p in zip(self.net.parameters(), self.source.parameters()):
            avg[i] = p[i]
        self.decay[i] = decay

    @torch.no_grad()
    def restart(self) -> None:
        """Every member's average starts at its current weights (resuming a checkpoint that has none)."""
        for avg, p in zip(self.net.parameters(), self.source.parameters()):
            avg.copy_(p)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.net.state_dict().items() if k in dict(self.net.named_parameters())}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state, strict=False)
