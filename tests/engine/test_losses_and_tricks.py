"""Every registered loss and every trick through the same contract, and each trick's effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.losses import LOSSES

QUICK = ["train.device=cpu", "train.steps=30", "train.log_every=1", "train.eval_every=0", "model.hidden=32"]


def _train(*overrides: str, k: int = 1, base: str = "vanilla") -> CohortTrainer:
    cfgs = [apply_overrides(preset(base), [*QUICK, *overrides, f"train.seed={i}"]) for i in range(k)]
    trainer = CohortTrainer(cfgs)
    trainer.train()
    return trainer


@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_trains_finite_and_moves_the_losses(loss):
    trainer = _train(f"train.loss={loss}", k=2)
    assert trainer.status == ["finished", "finished"]
    trace = trainer.member_trace(0)
    assert np.isfinite(trace[:, 1:7]).all()
    assert trace[:, 1].std() > 0 and trace[:, 2].std() > 0


def test_loss_values_at_known_points():
    zero, smooth = torch.zeros(1, 4), torch.ones(1, 1)
    assert LOSSES.get("ns").d(zero, zero, smooth).mean().item() == pytest.approx(2 * math.log(2))
    assert LOSSES.get("ns").g(zero).mean().item() == pytest.approx(math.log(2))
    assert LOSSES.get("minimax").g(zero).mean().item() == pytest.approx(-math.log(2))
    assert LOSSES.get("hinge").d(zero, zero, smooth).mean().item() == pytest.approx(2.0)
    assert LOSSES.get("ls").d(torch.ones(1, 4), zero, smooth).mean().item() == pytest.approx(0.0)
    # one-sided smoothing: with target 0.9 a confident D (logit 10 on real) pays 0.1 * 10
    big = torch.full((1, 4), 10.0)
    loss = LOSSES.get("ns").d(big, torch.full((1, 4), -30.0), torch.full((1, 1), 0.9)).mean().item()
    assert loss == pytest.approx(0.9 * math.log1p(math.exp(-10)) + 0.1 * math.log1p(math.exp(10)), rel=1e-4)


def test_instance_noise_anneals_linearly_to_zero():
    trainer = _train("train.noise_std=0.5", "train.noise_anneal=0.5")
    trace = trainer.member_trace(0)
    steps, noise = trace[:, 0], trace[:, 9]
    expected = 0.5 * np.clip(1 - (steps - 1) / 15, 0, None)  # 0.5 of 30 steps
    np.testing.assert_allclose(noise, expected, atol=1e-6)
    assert noise[-1] == 0 and noise[0] == 0.5


def test_spectral_norm_bounds_the_discriminator_layers():
    trainer = _train("train.sn_d=true", "train.lr_d=1e-2")
    plain = _train("train.lr_d=1e-2")
    for t, bounded in ((trainer, True), (plain, False)):
        layer = t.D.hidden[1]
        w = layer.weight[0].detach()
        if bounded:
            w = w * layer.sn.scale(layer.weight.transpose(1, 2).detach())[0]
        top = torch.linalg.matrix_norm(w, ord=2).item()
        assert (abs(top - 1) < 0.1) if bounded else (top > 1.5)


def test_ttur_and_n_dis_change_the_update_counts():
    trainer = _train("train.n_dis=3", "train.lr_d=4e-4", "train.lr_g=1e-4")
    assert trainer.optD.t.item() == 90 and trainer.optG.t.item() == 30
    trace = trainer.member_trace(0)
    np.testing.assert_allclose(trace[:, 7], 4e-4, rtol=1e-6)
    np.testing.assert_allclose(trace[:, 8], 1e-4, rtol=1e-6)


def test_capacity_multipliers_change_widths():
    trainer = _train("model.g_mult=2", "model.d_mult=0.5")
    assert trainer.G.hidden[0].weight.shape[-1] == 64 and trainer.D.hidden[0].weight.shape[-1] == 16


def test_bf16_precision_trains():
    trainer = _train("train.precision=bf16", base="lessons")
    assert trainer.status == ["finished"] and np.isfinite(trainer.member_trace(0)[:, 1:3]).all()


@pytest.mark.parametrize("msg", [False, True])
def test_conv_networks_sized_from_the_resolution(msg):
    overrides = [
        "data.name=digits",
        "data.resolution=32",
        "model.channels=4",
        "train.batch_size=8",
        "model.latent_dim=8",
        "train.steps=3",
        f"model.msg={str(msg).lower()}",
    ]
    trainer = _train(*overrides, k=2, base="lessons")
    scales = trainer.G(torch.randn(2, 8, 8))
    assert [s.shape[-1] for s in scales] == ([4, 8, 16, 32] if msg else [32])
    assert all(s.shape[:3] == (2, 8, 1) for s in scales)
    assert trainer.D(scales).shape == (2, 8)
