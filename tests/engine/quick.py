"""A quick training run for the engine tests."""

from __future__ import annotations

from ganstab.engine import CohortTrainer, apply_overrides, preset

QUICK = ["train.device=cpu", "train.steps=30", "train.log_every=1", "train.eval_every=0", "model.hidden=32"]


def quick_train(*overrides: str, k: int = 1, base: str = "vanilla") -> CohortTrainer:
    """K members (seeds 0..K-1) of a small point run, trained 30 steps on the CPU."""
    cfgs = [apply_overrides(preset(base), [*QUICK, *overrides, f"train.seed={i}"]) for i in range(k)]
    trainer = CohortTrainer(cfgs)
    trainer.train()
    return trainer

