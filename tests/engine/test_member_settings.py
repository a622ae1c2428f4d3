"""MemberSettings: each member's hyperparameters as per-member values, each member's own loss."""

from __future__ import annotations

import torch

from ganstab.engine import config as C
from ganstab.engine.losses import LOSSES
from ganstab.engine.member_settings import MemberSettings


def _settings() -> MemberSettings:
    a = C.apply_overrides(C.preset("vanilla"), ["train.loss=ns", "train.label_smoothing=0.9", "train.n_dis=2"])
    b = C.apply_overrides(C.preset("vanilla"), ["train.loss=wgan-gp", "train.gp_weight=5", "train.noise_std=0.1", "train.noise_anneal=0.5", "train.sn_d=true"])
    return MemberSettings.of([C.resolve(a), C.resolve(b)], torch.device("cpu"), steps=100)


def test_values_per_member():
    hp = _settings()
    assert hp.loss_names == ["ns", "wgan-gp"] and hp.gp_members == [False, True]
    assert hp.smooth.shape == (2, 1) and hp.smooth[:, 0].tolist() == [0.8999999761581421, 1.0]
    assert hp.gp_weight.tolist() == [0.0, 5.0] and hp.noise_members == [False, True]
    assert hp.noise_end.tolist() == [100.0, 50.0] and hp.nd_max == 2 and hp.has_sn
    assert hp.dis_mask.tolist() == [[True, True], [True, False]]  # member 1 takes one D step of 2


def test_each_member_gets_its_own_loss():
    hp = _settings()
    real, fake = torch.randn(2, 6), torch.randn(2, 6)
    d = hp.loss("d", real, fake, hp.smooth)
    ns = LOSSES.get("ns").d(real, fake, hp.smooth).mean(dim=1)
    wgan = LOSSES.get("wgan-gp").d(real, fake, hp.smooth).mean(dim=1)
    torch.testing.assert_close(d, torch.stack([ns[0], wgan[1]]))
