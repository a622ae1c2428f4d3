"""Each member's training hyperparameters as per-member values on the device: what the training
step reads so that members of one cohort may differ in every key of `config.MEMBER_KEYS`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganstab.engine.config import Config
from ganstab.engine.losses import LOSSES, member_losses


def _member_tensor(values: list, device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)


@dataclass
class MemberSettings:
    loss_names: list[str]  # each member's loss
    loss_masks: dict[str, torch.Tensor]  # loss name -> [K] bool, the members that use it
    smooth: torch.Tensor  # [K, 1] real-label target (1 = no smoothing)
    gp_members: list[bool]  # members whose loss has a gradient penalty
    gp_weight: torch.Tensor  # [K] its weight (0 where there is none)
    n_dis: list[int]  # D updates per G update
    nd_max: int  # the cohort's most D updates per G update
    dis_mask: torch.Tensor  # [nd_max, K] whether member k takes D update j
    all_members: torch.Tensor  # [K] all True
    has_sn: bool  # whether any member uses spectral normalization
    noise_members: list[bool]  # members with instance noise
    noise_std: torch.Tensor  # [K] instance noise at step 0
    noise_end: torch.Tensor  # [K] the member's own step at which the noise reaches 0
    lr_d: torch.Tensor  # [K] learning rates (trace columns)
    lr_g: torch.Tensor

    @classmethod
    def of(cls, configs: list[Config], device: torch.device, steps: int) -> MemberSettings:
        tr, k = [c.train for c in configs], len(configs)
        loss_names = [t.loss for t in tr]
        gp_members = [LOSSES.get(t.loss).gradient_penalty for t in tr]
        n_dis = [t.n_dis for t in tr]
        nd_max = max(n_dis)
        return cls(
            loss_names=loss_names,
            loss_masks={n: m.to(device) for n, m in member_losses(loss_names).items()},
            smooth=_member_tensor([t.label_smoothing for t in tr], device).view(k, 1),
            gp_members=gp_members,
            gp_weight=_member_tensor([t.gp_weight if g else 0.0 for t, g in zip(tr, gp_members)], device),
            n_dis=n_dis,
            nd_max=nd_max,
            dis_mask=torch.tensor([[j < n for n in n_dis] for j in range(nd_max)], device=device),
            all_members=torch.ones(k, dtype=torch.bool, device=device),
            has_sn=any(t.sn_d or t.sn_g for t in tr),
            noise_members=[t.noise_std > 0 for t in tr],
            noise_std=_member_tensor([t.noise_std for t in tr], device),
            noise_end=_member_tensor([t.noise_anneal * steps for t in tr], device),
            lr_d=_member_tensor([t.lr_d for t in tr], device),
            lr_g=_member_tensor([t.lr_g for t in tr], device),
        )

    def loss(self, fn_name: str, *args: torch.Tensor) -> torch.Tensor:
        """Each member's loss `[K]` (`fn_name` "d" or "g"), using its own loss function."""
        out = None
        for name, mask in self.loss_masks.items():
            per = getattr(LOSSES.get(name), fn_name)(*args).mean(dim=1)
            out = per if out is None else torch.where(mask, per, out)
        assert out is not None
        return out
