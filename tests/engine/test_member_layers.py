"""Per-member stacked layers: spectral norm per member, the channels-last layout, initialisation
from each member's own generator."""

from __future__ import annotations

import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset
from tests.engine.quick import quick_train


def test_spectral_norm_bounds_the_discriminator_layers():
    trainer = quick_train("train.sn_d=true", "train.lr_d=1e-2")
    plain = quick_train("train.lr_d=1e-2")
    for t, bounded in ((trainer, True), (plain, False)):
        layer = t.D.hidden[1]
        w = layer.weight[0].detach()
        if bounded:
            w = w * layer.sn.scale(layer.weight.transpose(1, 2).detach())[0]
        top = torch.linalg.matrix_norm(w, ord=2).item()
        assert (abs(top - 1) < 0.1) if bounded else (top > 1.5)


def test_channels_last_convolutions_compute_the_same_networks():
    """GPUs run image cohorts on NHWC tensors (rank-5 cohort weights refuse
    `Module.to(memory_format=...)`); the layout must not change what the networks compute."""
    from ganstab.engine.member_layers import CohortConv2d, set_channels_last

    cfg = apply_overrides(
        preset("lessons"),
        [
            "data.name=digits",
            "model.channels=8",
            "model.latent_dim=8",
            "train.batch_size=8",
            "model.msg=true",
        ],
    )
    plain, nhwc = CohortTrainer([cfg, cfg]), CohortTrainer([cfg, cfg])
    set_channels_last(nhwc.G, True)
    set_channels_last(nhwc.D, True)
    layouts = []
    conv = next(m for m in nhwc.D.modules() if isinstance(m, CohortConv2d))
    conv.register_forward_hook(
        lambda m, i, out: layouts.append(out.is_contiguous(memory_format=torch.channels_last))
    )
    z = torch.randn(2, 8, 8)
    a, b = plain.G(z), nhwc.G(z)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plain.D(a), nhwc.D(a), rtol=1e-4, atol=1e-5)
    assert layouts == [True]  # the NHWC path really ran
