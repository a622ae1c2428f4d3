"""G and D built from a resolved config: widths, image scales, and each member's own start."""

from __future__ import annotations

import pytest
import torch

from tests.engine.quick import quick_train


def test_capacity_multipliers_change_widths():
    trainer = quick_train("model.g_mult=2", "model.d_mult=0.5")
    assert trainer.G.hidden[0].weight.shape[-1] == 64 and trainer.D.hidden[0].weight.shape[-1] == 16


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
    trainer = quick_train(*overrides, k=2, base="lessons")
    scales = trainer.G(torch.randn(2, 8, 8))
    assert [s.shape[-1] for s in scales] == ([4, 8, 16, 32] if msg else [32])
    assert all(s.shape[:3] == (2, 8, 1) for s in scales)
    assert trainer.D(scales).shape == (2, 8)


def test_a_member_s_initial_weights_do_not_depend_on_the_cohort():
    from ganstab.engine import config as C
    from ganstab.engine.networks import build_member_networks

    def nets(seeds):
        cfgs = [C.resolve(C.apply_overrides(C.preset("vanilla"), [f"train.seed={s}", "train.sn_d=true"])) for s in seeds]
        return build_member_networks(cfgs, (2,), torch.device("cpu"))

    G1, D1, _ = nets([7])
    G3, D3, scales = nets([1, 7, 2])
    assert scales == 1
    for a, b in zip(list(G1.parameters()) + list(D1.parameters()), list(G3.parameters()) + list(D3.parameters())):
        torch.testing.assert_close(a[0], b[1])
