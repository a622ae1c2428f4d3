"""Member streams: a member draws the same numbers whatever cohort it is in."""

from __future__ import annotations

import torch

from ganstab.engine import config as C
from ganstab.engine.data import build_dataset
from ganstab.engine.member_settings import MemberSettings
from ganstab.engine.streams import draw_chunk, member_stream

CPU = torch.device("cpu")


def _chunk(overrides: list[list[str]]) -> dict[str, torch.Tensor]:
    configs = [C.resolve(C.apply_overrides(C.preset("vanilla"), o + ["train.batch_size=4"])) for o in overrides]
    hp = MemberSettings.of(configs, CPU, steps=100)
    streams = [member_stream(c.train.seed, CPU) for c in configs]
    dataset = build_dataset(configs[0].data)
    return draw_chunk(streams, dataset, hp, device=CPU, steps=3, batch=4, latent=configs[0].model.latent_dim)


def test_a_member_draws_the_same_alone_and_beside_others():
    alone = _chunk([["train.seed=5"]])
    beside = _chunk([["train.seed=1", "train.n_dis=3", "train.noise_std=0.2", "train.loss=wgan-gp"], ["train.seed=5"]])
    assert set(beside) == {"real", "z_d", "z_g", "noise_real", "noise_fake", "noise_g", "eps"}
    assert set(alone) == {"real", "z_d", "z_g"}  # no draws for tricks no member uses
    assert beside["z_d"].shape[:3] == (2, 3, 3)  # [K, steps, n_dis max]
    torch.testing.assert_close(beside["real"][1, :, :1], alone["real"][0])
    torch.testing.assert_close(beside["z_d"][1, :, :1], alone["z_d"][0])
    torch.testing.assert_close(beside["z_g"][1], alone["z_g"][0])


def test_unused_draws_are_zeros_and_a_stream_is_reproducible():
    chunk = _chunk([["train.seed=1", "train.n_dis=2", "train.noise_std=0.2"], ["train.seed=2"]])
    assert (chunk["z_d"][1, :, 1] == 0).all() and (chunk["noise_real"][1] == 0).all()
    assert (chunk["noise_real"][0] != 0).any()
    again = _chunk([["train.seed=1", "train.n_dis=2", "train.noise_std=0.2"], ["train.seed=2"]])
    assert all(torch.equal(chunk[k], again[k]) for k in chunk)
