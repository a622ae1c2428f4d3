"""The graded score: what successive halving's early rungs rank mixture runs by."""

from __future__ import annotations

import math

import pytest
import torch

from ganstab.engine.data import ring_centres
from ganstab.engine.metrics import score
from ganstab.engine.metrics.mixtures import graded_radii, mixture_metrics

STD = 0.02
CENTRES = ring_centres(8, 2.0)


def _at(offset: float, modes: int = 8, n: int = 400) -> torch.Tensor:
    """n samples spread over the first `modes` centres, each `offset` away from its centre."""
    idx = torch.arange(n) % modes
    angle = torch.rand(n, generator=torch.Generator().manual_seed(0)) * 2 * math.pi
    return (CENTRES[idx] + offset * torch.stack([angle.cos(), angle.sin()], dim=1)).unsqueeze(0)


def _metrics(samples: torch.Tensor) -> dict[str, float]:
    out = mixture_metrics(samples, CENTRES, STD)
    res = {k: float(out[k][0]) for k in ("modes", "hq", "kl", "graded")}
    res["score"] = score("mixture", res, 8)
    return res


def test_radii_double_from_three_std_to_half_the_closest_modes() -> None:
    half = float(torch.pdist(CENTRES).min()) / 2  # 0.765 on the default ring
    radii = graded_radii(CENTRES, STD)
    assert radii == pytest.approx([0.06, 0.12, 0.24, 0.48])
    assert radii[-1] < half <= radii[-1] * 2


def test_graded_equals_the_score_when_every_sample_is_hq() -> None:
    for modes in (8, 1):  # all modes, and a collapse onto one
        m = _metrics(_at(STD, modes))
        assert m["hq"] == 100.0 and m["modes"] == modes
        assert m["graded"] == pytest.approx(m["score"]) == pytest.approx(modes / 8)


def test_graded_ranks_samples_near_the_modes_above_samples_nowhere() -> None:
    near, nearer, nowhere = _metrics(_at(0.2)), _metrics(_at(0.1)), _metrics(_at(0.0) * 40)
    assert near["score"] == nearer["score"] == nowhere["score"] == 0.0  # the score cannot tell them apart
    assert nearer["graded"] > near["graded"] > nowhere["graded"] == 0.0
    assert _metrics(_at(0.1, modes=2))["graded"] < nearer["graded"]  # coverage still counts


def test_graded_is_never_below_the_score() -> None:
    gen = torch.Generator().manual_seed(1)
    samples = CENTRES[torch.randint(0, 8, (4, 500), generator=gen)] + 0.08 * torch.randn(4, 500, 2, generator=gen)
    out = mixture_metrics(samples, CENTRES, STD)
    strict = out["modes"] / 8 * out["hq"] / 100
    assert (out["graded"] >= strict - 1e-6).all() and (out["graded"] > strict).all()
