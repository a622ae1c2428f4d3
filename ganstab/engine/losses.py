"""GAN losses, registered by name (lesson 3: they matter less than you think; NS is the default).

Each loss maps D's logits to per-sample losses; `smooth` is the real-label target per member
(one-sided label smoothing, lesson 7; 1.0 = off), shaped to broadcast against the logits.
Per-member losses are means over the batch, shaped `[K]`. WGAN-GP's gradient penalty is added by
the trainer, which owns the interpolated inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganstab.engine.registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class Loss:
    d: Callable[[Tensor, Tensor, Tensor], Tensor]  # (real logits, fake logits, smooth) -> [K, B]
    g: Callable[[Tensor], Tensor]  # fake logits -> [K, B]
    gradient_penalty: bool = False


LOSSES: Registry[Loss] = Registry("loss")


def _bce_real(r: Tensor, smooth: Tensor) -> Tensor:
    # Cross-entropy with target `smooth`: smooth * -log sigmoid(r) + (1 - smooth) * -log(1 - sigmoid(r)).
    return smooth * F.softplus(-r) + (1 - smooth) * F.softplus(r)


LOSSES.register("ns", "non-saturating (Goodfellow et al.): G maximises log D(G(z))")(
    Loss(d=lambda r, f, s: _bce_real(r, s) + F.softplus(f), g=lambda f: F.softplus(-f))
)
LOSSES.register("minimax", "the original minimax game: G minimises log(1 - D(G(z)))")(
    Loss(d=lambda r, f, s: _bce_real(r, s) + F.softplus(f), g=lambda f: -F.softplus(f))
)
LOSSES.register("hinge", "hinge loss (SN-GAN, SAGAN)")(
    Loss(d=lambda r, f, s: F.relu(1 - r) + F.relu(1 + f), g=lambda f: -f)
)
LOSSES.register("ls", "least squares (LSGAN, targets 1 real / 0 fake)")(
    Loss(d=lambda r, f, s: 0.5 * (r - s) ** 2 + 0.5 * f**2, g=lambda f: 0.5 * (f - 1) ** 2)
)
LOSSES.register("wgan-gp", "Wasserstein loss with gradient penalty (train.gp_weight)")(
    Loss(d=lambda r, f, s: f - r, g=lambda f: -f, gradient_penalty=True)
)


def member_losses(names: list[str]) -> dict[str, Tensor]:
    """For each loss used in the cohort, the bool mask `[K]` of its members."""
    out = {}
    for name in dict.fromkeys(names):
        out[name] = torch.tensor([n == name for n in names])
    return out
