"""Slot refill: a member that stopped (pruned, diverged, finished) hands its slot to a new member
config, which starts from scratch there: its own initial weights, fresh Adam state and
spectral-norm vectors, its own random streams, and its own step count, evaluations and trace,
exactly as a solo run of it. A refill waits for the next stream chunk, so that every member's
stream is drawn in whole chunks from its own start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ganstab.engine import config as C
from ganstab.engine.config import Config
from ganstab.engine.member_layers import CohortModule, SpectralNorm
from ganstab.engine.streams import member_stream

if TYPE_CHECKING:
    from ganstab.engine.trainer import CohortTrainer


def _has_sn(net: torch.nn.Module) -> bool:
    return any(isinstance(m, SpectralNorm) for m in net.modules())


class SlotRefill:
    """The trainer's stops and refills; `pending` holds the refills waiting for a chunk boundary."""

    def __init__(self, trainer: CohortTrainer) -> None:
        self.trainer = trainer
        self.pending: dict[int, Config] = {}

    def stop(self, i: int) -> None:
        """Stop member i (a search pruned it): it trains no more and frees its place."""
        t = self.trainer
        if t.status[i] == "running":
            t.alive[i] = False
            t.status[i] = "stopped"
            t.ended_at[i] = t.step - t.start[i]

    def request(self, i: int, config: Config) -> None:
        """Queue `config` for slot i (see CohortTrainer.refill), after checking that it fits."""
        t = self.trainer
        if t.status[i] == "running" or i in self.pending:
            raise ValueError(f"slot {i} still holds a running member; stop it before refilling it.")
        if t.folder is not None and t.folder.checkpoints:
            raise ValueError("a cohort that refills slots keeps no checkpoint (RunFolder(checkpoints=False)).")
        cfg = C.resolve(config)
        C.check_cohort([t.cfg, cfg])
        has = {"sn_d": _has_sn(t.D), "sn_g": _has_sn(t.G), "g_ema": t.G_avg is not None}
        for key, present in has.items():
            if getattr(cfg.train, key) and not present:
                what = "G's weight average" if key == "g_ema" else "spectral norm there"
                raise ValueError(
                    f"slot {i}: the new member uses `train.{key}`, but the cohort was built without "
                    f"{what}; list such configs in `reserve` when making the cohort."
                )
        self.pending[i] = cfg
        t.status[i] = "pending"

    def apply(self) -> None:
        """Start every pending member (called on a chunk boundary)."""
        for i, cfg in sorted(self.pending.items()):
            self._install(i, cfg)
        self.pending.clear()
        self.trainer.set_member_settings()

    @torch.no_grad()
    def _install(self, i: int, cfg: Config) -> None:
        """Slot i starts member `cfg` from scratch."""
        t, tr = self.trainer, cfg.train
        t.configs[i] = cfg
        gen = torch.Generator().manual_seed(tr.seed)  # G's layers, then D's, as at construction
        for net in (t.G, t.D):
            for layer in (m for m in net.modules() if isinstance(m, CohortModule)):
                layer.init_member(i, gen)
        for net, on in ((t.G, tr.sn_g), (t.D, tr.sn_d)):
            for m in net.modules():
                if isinstance(m, SpectralNorm):
                    m.enabled[i] = on
        for opt, lr in ((t.optG, tr.lr_g), (t.optD, tr.lr_d)):
            opt.reset_member(i, lr, tr.beta1, tr.beta2)
        if t.G_avg is not None:
            t.G_avg.reset_member(i, tr.g_ema)
        t.streams[i] = member_stream(tr.seed, t.device)
        t.start[i] = t.step
        t.start_t[i] = t.step
        t.alive[i] = True
        t.diverged_at[i] = -1
        t.status[i] = "running"
        t.ended_at[i] = None
        t.last_eval[i] = {}
        t.eval_log[i] = []
        t._fresh[i] = True
        t.moves.restart(i)
        if t.folder is not None:
            t.member_ids[i] = t.folder.add_member(i, cfg, t.columns)
