"""A cohort member evolves exactly as it would alone, and a diverging member disturbs no one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.config import Config
from tests.engine.quick import quick_train

STEPS = 12


def _cfg(base: Config, overrides: list[str]) -> Config:
    return apply_overrides(
        base,
        [f"train.steps={STEPS}", "train.log_every=1", "train.eval_every=0", "train.device=cpu", *overrides],
    )


POINT_MEMBERS = [
    ["train.seed=0", "train.loss=ns", "train.lr_d=4e-4", "train.lr_g=1e-4", "train.label_smoothing=0.9"],
    [
        "train.seed=1",
        "train.loss=hinge",
        "train.sn_d=true",
        "train.sn_g=true",
        "train.beta1=0.0",
        "train.beta2=0.9",
    ],
    ["train.seed=2", "train.loss=wgan-gp", "train.n_dis=3", "train.gp_weight=5", "train.lr_d=1e-3"],
    ["train.seed=3", "train.loss=ls", "train.noise_std=0.3", "train.noise_anneal=0.5", "train.n_dis=2"],
]


def _params(trainer: CohortTrainer, member: int) -> list[torch.Tensor]:
    return [p.detach()[member].clone() for p in list(trainer.G.parameters()) + list(trainer.D.parameters())]


def _assert_member_matches_solo(cohort: CohortTrainer, member: int, solo: CohortTrainer, tol: float) -> None:
    """Step by step: the first step to 1e-5, later steps within `tol`. Batched and single
    matmuls round differently (~1e-7) and GAN dynamics amplify that, most under hinge + SN."""
    a, b = cohort.member_trace(member), solo.member_trace(0)
    assert a.shape == b.shape and a.shape[0] == STEPS
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol / 10, equal_nan=True)
    for pa, pb in zip(_params(cohort, member), _params(solo, 0)):
        torch.testing.assert_close(pa, pb, rtol=tol, atol=tol / 10)


def _train_and_compare_with_solo_runs(configs: list[Config]) -> CohortTrainer:
    """Train the configs as one cohort and each alone; every member matches its solo run."""
    cohort = CohortTrainer(configs)
    cohort.train()
    for i, cfg in enumerate(configs):
        solo = CohortTrainer([cfg])
        solo.train()
        _assert_member_matches_solo(cohort, i, solo, tol=1e-3)
    return cohort


def test_point_cohort_members_match_solo_runs():
    configs = [_cfg(preset("vanilla"), o) for o in POINT_MEMBERS]
    cohort = _train_and_compare_with_solo_runs(configs)
    # the members really did differ: different losses give different traces
    traces = [cohort.member_trace(i)[:, 1] for i in range(4)]
    assert not np.allclose(traces[0], traces[1])


def test_image_cohort_members_match_solo_runs():
    base = apply_overrides(
        preset("vanilla"),
        [
            "data.name=digits",
            "model.channels=8",
            "model.latent_dim=8",
            "train.batch_size=16",
            "model.msg=true",
        ],
    )
    members = [
        ["train.seed=0", "train.loss=ns", "train.sn_d=true"],
        ["train.seed=5", "train.loss=wgan-gp", "train.n_dis=2", "train.noise_std=0.1"],
    ]
    # grouped convolutions may pick other kernels than a single conv: the same float-noise allowance
    _train_and_compare_with_solo_runs([_cfg(base, o) for o in members])


def test_diverging_member_is_frozen_and_disturbs_no_one():
    ok = _cfg(preset("vanilla"), ["train.seed=0", "train.loss=ls"])
    bad = _cfg(preset("vanilla"), ["train.seed=1", "train.loss=ls", "train.lr_d=1e6", "train.lr_g=1e6"])
    cohort = CohortTrainer([ok, bad, ok])
    before = None
    summary = cohort.train()
    assert [m["status"] for m in summary] == ["finished", "diverged", "finished"]
    step = summary[1]["diverged_at"]
    assert 1 <= step < STEPS
    trace = cohort.member_trace(1)
    assert trace[-1, 0] == step  # the trace ends at the divergence step ...
    assert not (np.isfinite(trace[-1, 1]) and np.isfinite(trace[-1, 2]) and np.isfinite(trace[-1, 5]))
    # ... and the frozen parameters are the last finite ones, not NaN
    for p in _params(cohort, 1):
        assert torch.isfinite(p).all()
    solo = CohortTrainer([ok])
    solo.train()
    _assert_member_matches_solo(cohort, 0, solo, tol=1e-3)
    _assert_member_matches_solo(cohort, 2, solo, tol=1e-3)
    del before


def test_cohort_rejects_members_that_differ_in_shape():
    a = _cfg(preset("vanilla"), [])
    b = _cfg(preset("vanilla"), ["model.hidden=64"])
    with pytest.raises(ValueError, match="model.hidden"):
        CohortTrainer([a, b])


def test_solo_run_is_reproducible():
    cfg = _cfg(preset("lessons"), ["train.seed=7"])
    a, b = CohortTrainer([cfg]), CohortTrainer([cfg])
    a.train()
    b.train()
    np.testing.assert_array_equal(a.member_trace(0), b.member_trace(0))
    assert math.isfinite(a.member_trace(0)[-1, 1])


def test_instance_noise_anneals_linearly_to_zero():
    trainer = quick_train("train.noise_std=0.5", "train.noise_anneal=0.5")
    trace = trainer.member_trace(0)
    steps, noise = trace[:, 0], trace[:, 9]
    expected = 0.5 * np.clip(1 - (steps - 1) / 15, 0, None)  # 0.5 of 30 steps
    np.testing.assert_allclose(noise, expected, atol=1e-6)
    assert noise[-1] == 0 and noise[0] == 0.5


def test_ttur_and_n_dis_change_the_update_counts():
    trainer = quick_train("train.n_dis=3", "train.lr_d=4e-4", "train.lr_g=1e-4")
    assert trainer.optD.t.item() == 90 and trainer.optG.t.item() == 30
    trace = trainer.member_trace(0)
    np.testing.assert_allclose(trace[:, 7], 4e-4, rtol=1e-6)
    np.testing.assert_allclose(trace[:, 8], 1e-4, rtol=1e-6)


def test_bf16_precision_trains():
    trainer = quick_train("train.precision=bf16", base="lessons")
    assert trainer.status == ["finished"] and np.isfinite(trainer.member_trace(0)[:, 1:3]).all()


