"""The user's networks reach Ray workers that do not have them: `ganstab search` ships the module
a config names (runtime_env py_modules). The module lives in a folder that only the driver's
sys.path holds (not its working folder, not PYTHONPATH), so a worker can import it only from
what Ray shipped; the module notes where each process imported it from."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from tests.search.ray_support import user_env

pytestmark = pytest.mark.slow  # starts a Ray instance of its own (~30 s)

MODULE = """
import os
import torch
from torch import nn

with open(os.environ["SHIPNETS_LOG"], "a") as f:
    f.write(__file__ + "\\n")


class G(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, z):
        return self.net(z)


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)
"""


def test_a_search_ships_the_users_module_to_ray_workers(tmp_path: Path) -> None:
    code, cwd = tmp_path / "code", tmp_path / "work"
    code.mkdir(), cwd.mkdir()
    (code / "shipnets.py").write_text(MODULE)
    space = cwd / "space.yaml"
    space.write_text(
        "description: lr\nbase: vanilla\nfixed:\n  train.steps: 20\n  train.eval_every: 10\n"
        "  train.batch_size: 32\nparams:\n  train.lr_d: {log_uniform: [1e-4, 1e-3]}\n"
    )
    db = tmp_path / "s.db"
    args = ["search", "--space", str(space), "--dataset", "ring8", "--storage", f"sqlite:///{db}",
            "--runs", str(cwd / "runs"), "--trials", "2", "--cohort-size", "2", "--no-recommend",
            "--no-diagnose", "--concurrent-cohorts", "1", "--cpus-per-cohort", "1",
            "--set", "model.generator=shipnets:G", "--set", "model.discriminator=shipnets:D",
            "--set", "model.latent_dim=4", "--set", "train.device=cpu"]  # fmt: skip
    driver = (
        f"import sys; sys.path.insert(0, {str(code)!r})\n"
        f"from ganstab.cli import main\nsys.exit(main({args!r}))\n"
    )
    log = tmp_path / "imports.log"
    env = user_env(SHIPNETS_LOG=str(log))
    env["PYTHONPATH"] = str(
        Path(__file__).resolve().parents[2]
    )  # ganstab's checkout, not the module's folder
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(driver)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Your code goes to every Ray worker" in proc.stdout and "shipnets.py" in proc.stdout
    study = optuna.load_study(study_name="space-ring8", storage=f"sqlite:///{db}")
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "COMPLETE"]
    imported = set(log.read_text().split())
    assert str(code / "shipnets.py") in imported  # the driver's own import (the checks)
    shipped = [p for p in imported if "runtime_resources" in p]  # a worker's, from Ray's copy
    assert shipped, imported
