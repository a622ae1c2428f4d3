"""The user's networks on machines that share no disk (the `ray_nodes` fixture): the module sits
in the driver's working folder, which each worker node sees as an empty tmpfs, so a cohort on a
worker node imports it only from what `ganstab search` shipped (runtime_env py_modules)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from tests.search.test_multinode import TINY, _check_trials, _cli, _quiet_and_placed

pytestmark = pytest.mark.slow

MODULE = """
import torch
from torch import nn


class G(nn.Module):
    def __init__(self, latent=8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z):
        return self.net(z)


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x)
"""


def test_user_networks_reach_worker_nodes_that_lack_them(ray_nodes: Any) -> None:
    folder = ray_nodes.folder / "user-code"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clusternets.py").write_text(MODULE)
    user = ["--set", "model.generator=clusternets:G", "--set", "model.discriminator=clusternets:D",
            "--set", "model.latent_dim=8", "--set", "model.generator_kwargs={latent: 8}"]  # fmt: skip
    done = _cli(ray_nodes, folder, "search", "--address", ray_nodes.address, *TINY, "--trials", "6", *user)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Your code goes to every Ray worker" in out and "clusternets.py" in out
    _quiet_and_placed(out, ray_nodes)  # a cohort on each worker node: each imported the shipped copy
    study = optuna.load_study(study_name="quick-ring8", storage=f"sqlite:///{folder / 'ganstab.db'}")
    _check_trials(study, 6)
