"""The user's own G and D as a cohort: each member equals its solo run on both paths (vmap and
the per-member loop), with BatchNorm and with spectral norm, and the lessons' switches act on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.config import Config
from ganstab.engine.user_networks import UserCohort
from tests.user_nets import MLP_OVERRIDES, NETS

STEPS = 8
MLP = [*MLP_OVERRIDES, "train.batch_size=32"]
DCGAN = [
    f"model.generator={NETS}:DCGANGenerator",
    f"model.discriminator={NETS}:DCGANDiscriminator",
    "model.generator_kwargs={nz: 16}",
    "model.latent_dim=16",
    "data.name=digits",
    "train.batch_size=16",
]
# members differing in the lessons' switches: loss, learning rates, betas, SN, n_dis, smoothing,
# instance noise, G's weight average
MEMBERS = [
    ["train.seed=0", "train.loss=ns", "train.lr_d=4e-4", "train.lr_g=1e-4", "train.label_smoothing=0.9"],
    [
        "train.seed=1",
        "train.loss=hinge",
        "train.sn_d=true",
        "train.sn_g=true",
        "train.beta1=0.0",
        "train.beta2=0.9",
    ],
    [
        "train.seed=2",
        "train.loss=wgan-gp",
        "train.n_dis=2",
        "train.noise_std=0.2",
        "train.g_ema=0.9",
        "train.lr_d=1e-3",
    ],
]


def _cfg(net: list[str], mode: str, member: list[str]) -> Config:
    common = [
        f"train.steps={STEPS}",
        "train.log_every=1",
        "train.eval_every=0",
        "train.device=cpu",
        "data.n_eval=64",
    ]
    return apply_overrides(preset("vanilla"), [*net, f"model.user_cohort={mode}", *common, *member])


def _state(t: CohortTrainer, i: int) -> list[torch.Tensor]:
    """Member i's parameters and the user modules' buffers (BatchNorm statistics) of G and D."""
    tensors = [*t.G.parameters(), *t.D.parameters(), *t.G.state.buffers(), *t.D.state.buffers()]
    return [x.detach()[i].float().clone() for x in tensors]


@pytest.mark.parametrize("mode", ["vmap", "loop"])
@pytest.mark.parametrize("net", [MLP, DCGAN], ids=["mlp", "dcgan-batchnorm"])
def test_each_member_of_a_user_cohort_equals_its_solo_run(net, mode):
    """Tolerance: the loop is exact to 1e-6; vmap batches the matmuls and may round differently
    (~1e-7 per op), which 8 GAN steps amplify: 1e-4 relative, as tests/engine/test_trainer.py."""
    configs = [_cfg(net, mode, m) for m in MEMBERS]
    cohort = CohortTrainer(configs)
    assert all(u.mode == mode for u in (cohort.G, cohort.D))
    cohort.train()
    tol = 1e-6 if mode == "loop" else 1e-4
    for i, cfg in enumerate(configs):
        solo = CohortTrainer([cfg])
        solo.train()
        a, b = cohort.member_trace(i), solo.member_trace(0)
        assert a.shape == b.shape and a.shape[0] == STEPS
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
        for x, y in zip(_state(cohort, i), _state(solo, 0)):
            torch.testing.assert_close(x, y, rtol=tol, atol=tol)
    # the members really differ, and BatchNorm's running statistics moved
    assert not np.allclose(cohort.member_trace(0)[:, 1], cohort.member_trace(1)[:, 1])
    if net is DCGAN:
        running = [b for n, b in cohort.G.named_buffers() if n.endswith("running_mean")]
        assert running and all(r.abs().sum() > 0 for r in running)


def test_the_two_paths_agree():
    """vmap and the loop are the same computation: a cohort trained either way ends alike."""
    ends = []
    for mode in ("vmap", "loop"):
        t = CohortTrainer([_cfg(DCGAN, mode, m) for m in MEMBERS])
        t.train()
        ends.append(torch.cat([p.detach().flatten() for p in t.G.parameters()]))
    torch.testing.assert_close(ends[0], ends[1], rtol=1e-4, atol=1e-4)


def test_auto_picks_vmap_and_falls_back_to_the_loop_for_dropout():
    t = CohortTrainer([_cfg(MLP, "auto", m) for m in MEMBERS[:2]])
    assert (t.G.mode, t.D.mode) == ("vmap", "vmap")
    drop = [f"model.discriminator={NETS}:DropoutDiscriminator"]
    t = CohortTrainer([_cfg(MLP + drop, "auto", m) for m in MEMBERS[:2]])
    assert t.G.mode == "vmap" and t.D.mode == "loop"
    assert "vmap failed" in t.D.why and "per-member loop" in t.networks_note


def test_spectral_norm_wraps_every_linear_and_conv_per_member():
    t = CohortTrainer([_cfg(DCGAN, "auto", m) for m in MEMBERS[:2]])  # member 1 has SN on G and D
    g, d = t.G, t.D
    assert isinstance(g, UserCohort) and g.sn is not None
    assert len(g.sn) == 3 and len(d.sn) == 3  # 2 ConvTranspose + 1 Conv; 3 Conv
    for sn in [*g.sn.values(), *d.sn.values()]:
        assert sn.enabled.tolist() == [False, True]
    # member 1's normalized weights have spectral norm ~1 after enough power iterations
    weights = None
    for _ in range(30):
        weights = d._weights()
    for target in d.sn_targets:
        mat = target.matrix(weights[target.name])
        assert abs(torch.linalg.matrix_norm(mat[1], ord=2).item() - 1) < 0.05
        assert torch.equal(weights[target.name][0], getattr(d.params, target.name.replace(".", "__"))[0])


def test_a_user_cohort_checkpoints_and_resumes_exactly(tmp_path):
    configs = [_cfg(DCGAN, "vmap", m) for m in MEMBERS[:2]]
    whole = CohortTrainer(configs)
    whole.train()
    for c in configs:
        c.train.steps = 4
    first = CohortTrainer(configs, tmp_path / "run")
    first.train()
    assert "vmap" in (tmp_path / "run" / "networks.txt").read_text()
    resumed = CohortTrainer.resume(tmp_path / "run", steps=STEPS)
    resumed.train()
    for i in range(2):
        for x, y in zip(_state(whole, i), _state(resumed, i)):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


def test_a_refilled_slot_starts_as_its_solo_run():
    configs = [_cfg(MLP, "vmap", m) for m in MEMBERS[:2]]
    t = CohortTrainer(configs, reserve=[configs[1]])
    new = apply_overrides(configs[1], ["train.seed=7"])
    t.stop_member(0)
    t.refill(0, new)
    t.refills.apply()
    solo = CohortTrainer([new])
    for x, y in zip(_state(t, 0), _state(solo, 0)):
        torch.testing.assert_close(x, y)


def test_a_layer_the_user_froze_stays_frozen():
    frozen = [f"model.generator={NETS}:FrozenFirstLayerGenerator"]
    t = CohortTrainer([_cfg(MLP + frozen, "vmap", m) for m in MEMBERS[:2]])
    first, second = (getattr(t.G.params, n).detach().clone() for n in ("net__0__weight", "net__2__weight"))
    t.train()
    assert not t.G.params.net__0__weight.requires_grad
    assert torch.equal(first, t.G.params.net__0__weight)  # frozen: as made
    assert not torch.equal(second, t.G.params.net__2__weight)  # the rest trained


def test_dropout_on_the_loop_path_draws_each_members_own_numbers(tmp_path):
    """A D with dropout runs as the per-member loop; each member draws its dropout masks from its
    own generator (seeded with the member), so it equals its solo run whatever the global
    generator holds, and a resumed run draws what the whole run drew."""
    drop = [f"model.discriminator={NETS}:DropoutDiscriminator"]
    configs = [_cfg(MLP + drop, "loop", m) for m in MEMBERS]
    cohort = CohortTrainer(configs)
    cohort.train()
    for i, cfg in enumerate(configs):
        torch.manual_seed(1000 + i)  # the global generator elsewhere: no part of the member's numbers
        solo = CohortTrainer([cfg])
        solo.train()
        np.testing.assert_allclose(cohort.member_trace(i), solo.member_trace(0), rtol=1e-6, atol=1e-6, equal_nan=True)
        for x, y in zip(_state(cohort, i), _state(solo, 0)):
            torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)
    # members 0 and 1: member 2's instance noise anneals over train.steps, which the resume changes
    first = [apply_overrides(c, ["train.steps=4"]) for c in configs[:2]]
    CohortTrainer(first, tmp_path / "run").train()
    torch.manual_seed(123)  # the global generator elsewhere: no part of the run's numbers
    resumed = CohortTrainer.resume(tmp_path / "run", steps=STEPS)
    resumed.train()
    for i in range(2):
        for x, y in zip(_state(cohort, i), _state(resumed, i)):
            torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)
