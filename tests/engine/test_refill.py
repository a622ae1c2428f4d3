"""Slot refill: a member that takes over a stopped member's slot evolves exactly as a solo run of
its config (weights, Adam state, spectral-norm vectors, random streams, steps, evaluations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.config import Config

STEPS = 40


def _cfg(overrides: list[str]) -> Config:
    base = ["train.device=cpu", "model.hidden=32", f"train.steps={STEPS}", "train.eval_every=10", "train.log_every=5"]
    return apply_overrides(preset("vanilla"), [*base, *overrides])


FIRST = [
    _cfg(["train.seed=0", "train.lr_d=2e-3", "train.lr_g=2e-3"]),
    _cfg(["train.seed=1", "train.loss=hinge"]),
    _cfg(["train.seed=2", "train.n_dis=2"]),
]
# the newcomer differs in every member key the trainer must reset: loss, rates, betas, SN, n_dis,
# smoothing and instance noise (annealed over its own steps)
NEWCOMER = _cfg(
    ["train.seed=7", "train.loss=ls", "train.lr_d=5e-4", "train.lr_g=1e-3", "train.beta1=0.0", "train.beta2=0.9",
     "train.sn_d=true", "train.n_dis=3", "train.label_smoothing=0.9", "train.noise_std=0.2", "train.noise_anneal=0.5"]
)  # fmt: skip


def _params(trainer: CohortTrainer, member: int) -> list[torch.Tensor]:
    return [p.detach()[member].clone() for p in list(trainer.G.parameters()) + list(trainer.D.parameters())]


def _run_with_refill(stop_at: int, diverge: bool = False) -> tuple[CohortTrainer, list[int]]:
    """Train FIRST; at the evaluation at `stop_at` (or when member 1 is seen diverged) stop
    member 1 and hand its slot to NEWCOMER. Step 10 is no chunk boundary (16 steps for points):
    the newcomer waits for step 16."""
    first = list(FIRST)
    if diverge:
        first[1] = apply_overrides(first[1], ["train.lr_d=1e12", "train.lr_g=1e12", "train.loss=minimax"])
    trainer = CohortTrainer(first, reserve=[NEWCOMER])
    refilled_at: list[int] = []
    seen: list[str] = []  # member 1's status when its slot was refilled

    def report(step: int, members: list[dict]) -> list[bool]:
        keep = [True] * len(members)
        if not refilled_at and (step >= stop_at or members[1]["status"] == "diverged"):
            keep[1] = False
            trainer.stop_member(1)
            trainer.refill(1, NEWCOMER)
            refilled_at.append(step)
            seen.append(members[1]["status"])
        return keep

    trainer.train(report=report)
    assert seen == ["diverged" if diverge else "running"]
    return trainer, refilled_at


@pytest.mark.parametrize("diverge", [False, True])
def test_a_refilled_member_matches_its_solo_run(diverge):
    cohort, refilled = _run_with_refill(stop_at=10, diverge=diverge)
    assert refilled, "the slot was never refilled"
    solo = CohortTrainer([NEWCOMER])
    solo.train()
    a, b = cohort.member_trace(1), solo.member_trace(0)
    assert a.shape == b.shape and a[:, 0].tolist() == b[:, 0].tolist()  # its own steps, as logged
    assert cohort.start[1] % 16 == 0 and cohort.start[1] >= refilled[0]  # started on a chunk boundary
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, equal_nan=True)
    for pa, pb in zip(_params(cohort, 1), _params(solo, 0)):
        torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-4)
    steps = [e["step"] for e in cohort.eval_log[1]]
    assert steps == [e["step"] for e in solo.eval_log[0]] == [10, 20, 30, 40]
    np.testing.assert_allclose(
        [e["score"] for e in cohort.eval_log[1]], [e["score"] for e in solo.eval_log[0]], rtol=1e-3, atol=1e-4
    )
    assert cohort.status == ["finished", "finished", "finished"]
    # the members that stayed were not disturbed: member 0 matches its own solo run
    alone = CohortTrainer([FIRST[0]])
    alone.train()
    np.testing.assert_allclose(cohort.member_trace(0), alone.member_trace(0), rtol=1e-3, atol=1e-4, equal_nan=True)


def test_refill_refuses_a_running_slot_and_unbuilt_spectral_norm():
    trainer = CohortTrainer(FIRST[:2])
    with pytest.raises(ValueError, match="still holds a running member"):
        trainer.refill(0, NEWCOMER)
    trainer.stop_member(0)
    with pytest.raises(ValueError, match="reserve"):
        trainer.refill(0, NEWCOMER)  # SN on D, but the cohort was built without it
    other = apply_overrides(NEWCOMER, ["model.hidden=64"])
    reserved = CohortTrainer(FIRST[:2], reserve=[NEWCOMER])
    reserved.stop_member(0)
    with pytest.raises(ValueError, match="model.hidden"):
        reserved.refill(0, other)  # another shape
