"""Every registered loss through the same contract, and the loss values at known points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganstab.engine.losses import LOSSES
from tests.engine.quick import quick_train


@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_trains_finite_and_moves_the_losses(loss):
    trainer = quick_train(f"train.loss={loss}", k=2)
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


