"""G's weight average (`train.g_ema`): what it averages, that it is what evaluation samples, that
members with and without it stay independent, and that it survives a refill and a resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.average import WeightAverage
from ganstab.engine.config import Config, ConfigError
from ganstab.engine.member_layers import CohortLinear, init_members

STEPS = 48


def _cfg(overrides: list[str]) -> Config:
    base = ["train.device=cpu", "model.hidden=32", f"train.steps={STEPS}", "train.eval_every=16", "train.log_every=4"]
    return apply_overrides(preset("vanilla"), [*base, *overrides])


AVERAGED = _cfg(["train.seed=0", "train.g_ema=0.9", "train.lr_d=2e-3", "train.lr_g=2e-3"])
PLAIN = _cfg(["train.seed=1"])


def test_the_average_follows_its_formula_per_member():
    net = CohortLinear(3, 2, 2)
    init_members(net, [torch.Generator().manual_seed(s) for s in range(3)])
    avg = WeightAverage(net, [0.9, 0.0, 0.5])
    start = [p.detach().clone() for p in avg.net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    n = torch.tensor([100, 100, 1])
    avg.update(torch.tensor([True, True, False]), n)
    for a, s, p in zip(avg.net.parameters(), start, net.parameters()):
        # member 0: decay min(0.9, 101/110) = 0.9; member 1: no average, its weights exactly;
        # member 2 was not updated this step: unchanged
        torch.testing.assert_close(a[0], 0.9 * s[0] + 0.1 * p[0])
        assert torch.equal(a[1], p[1])
        assert torch.equal(a[2], s[2])
    avg.update(torch.tensor([False, False, True]), n)  # its first update: decay (1+1)/(10+1)
    for a, s, p in zip(avg.net.parameters(), start, net.parameters()):
        torch.testing.assert_close(a[2], 2 / 11 * s[2] + 9 / 11 * p[2])


def test_evaluation_samples_the_average_and_training_is_unchanged():
    with_avg = CohortTrainer([AVERAGED])
    with_avg.train()
    without = CohortTrainer([apply_overrides(AVERAGED, ["train.g_ema=0"])])
    without.train()
    # training (trace step columns, G's weights) does not see the average
    np.testing.assert_allclose(with_avg.member_trace(0)[:, :8], without.member_trace(0)[:, :8], rtol=1e-6)
    for a, b in zip(with_avg.G.parameters(), without.G.parameters()):
        assert torch.equal(a, b)
    # evaluation does: its samples are the average's, which differ from G's
    averaged = with_avg.sample(64)
    z_net = with_avg.G_avg.net
    assert not torch.equal(averaged, without.sample(64))
    for a, p in zip(z_net.parameters(), with_avg.G.parameters()):
        assert not torch.equal(a, p)


def test_members_with_and_without_an_average_match_their_solo_runs():
    cohort = CohortTrainer([AVERAGED, PLAIN])
    cohort.train()
    for i, cfg in enumerate([AVERAGED, PLAIN]):
        solo = CohortTrainer([cfg])
        solo.train()
        np.testing.assert_allclose(cohort.member_trace(i), solo.member_trace(0), rtol=1e-3, atol=1e-4, equal_nan=True)
        np.testing.assert_allclose(
            [e["kl"] for e in cohort.eval_log[i]], [e["kl"] for e in solo.eval_log[0]], rtol=1e-3, atol=1e-4
        )
        torch.testing.assert_close(cohort.sample(64)[i], solo.sample(64)[0], rtol=1e-3, atol=1e-4)
    assert cohort.G_avg is not None and CohortTrainer([PLAIN]).G_avg is None  # no average, no copy


def test_a_refilled_member_starts_its_own_average():
    trainer = CohortTrainer([PLAIN, _cfg(["train.seed=2"])], reserve=[AVERAGED])
    done: list[int] = []

    def report(step: int, members: list[dict]) -> list[bool]:
        if done:
            return [True, True]
        trainer.stop_member(1)
        trainer.refill(1, AVERAGED)
        done.append(step)
        return [True, False]

    trainer.train(report=report)
    solo = CohortTrainer([AVERAGED])
    solo.train()
    np.testing.assert_allclose(
        [e["kl"] for e in trainer.eval_log[1]], [e["kl"] for e in solo.eval_log[0]], rtol=1e-3, atol=1e-4
    )
    for a, b in zip(trainer.G_avg.net.parameters(), solo.G_avg.net.parameters()):
        torch.testing.assert_close(a[1], b[0], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(trainer.sample(64)[1], solo.sample(64)[0], rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="weight average"):
        unreserved = CohortTrainer([PLAIN])
        unreserved.stop_member(0)
        unreserved.refill(0, AVERAGED)


def test_resume_continues_the_average(tmp_path):
    whole = CohortTrainer([AVERAGED, PLAIN])
    whole.train()
    half = CohortTrainer([apply_overrides(c, [f"train.steps={STEPS // 2}"]) for c in (AVERAGED, PLAIN)], tmp_path / "run")
    half.train()
    resumed = CohortTrainer.resume(tmp_path / "run", steps=STEPS)
    resumed.train()
    for a, b in zip(resumed.G_avg.net.parameters(), whole.G_avg.net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # the half run also evaluated at its own end (step 24); the evaluations they share agree
    kl = {e["step"]: e["kl"] for e in resumed.eval_log[0]}
    assert [kl[e["step"]] for e in whole.eval_log[0]] == pytest.approx([e["kl"] for e in whole.eval_log[0]], rel=1e-3)
    torch.testing.assert_close(resumed.sample(64), whole.sample(64), rtol=1e-4, atol=1e-5)


def test_a_decay_outside_0_1_is_refused():
    with pytest.raises(ConfigError, match=r"train.g_ema.*1.0"):
        CohortTrainer([_cfg(["train.g_ema=1.0"])])
