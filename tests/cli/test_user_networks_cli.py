"""`ganstab train` and `ganstab search` with the user's own networks and data: every problem is
refused before anything is trained, stored or made on disk; a good config trains and searches."""

from __future__ import annotations

import json

import pytest

from ganstab.cli import main

NETS = "tests.user_nets.nets"
USER = [
    "--set", f"model.generator={NETS}:MLPGenerator", "--set", f"model.discriminator={NETS}:MLPDiscriminator",
    "--set", "model.generator_kwargs={latent: 8}", "--set", "model.latent_dim=8",
    "--set", "data.name=factory", "--set", f"data.factory={NETS}:ring_points", "--set", "train.device=cpu",
]  # fmt: skip


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--set", "model.generator=nowhere:G"], "`model.generator` 'nowhere:G' does not import"),
        (["--set", f"model.discriminator={NETS}:WideDiscriminator"], "one score per sample"),
        (["--set", "model.g_mult=2"], "`model.g_mult` does not apply to your own networks"),
    ],
)
def test_dry_run_checks_the_users_code(tmp_path, capsys, extra, words):
    assert main(["train", *USER, *extra, "--dry-run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_train_names_the_cohort_path_in_its_log(tmp_path, capsys):
    args = ["train", *USER, "--set", "train.steps=30", "--set", "train.eval_every=0", "--set", "train.batch_size=32",
            "--cohort-size", "2", "--out", str(tmp_path), "--name", "run", "--quiet", "--no-diagnose"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Your networks, a cohort of 2: G: batched (torch.func.vmap)" in out
    assert "vmap" in (tmp_path / "run" / "networks.txt").read_text()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [m["status"] for m in summary] == ["finished", "finished"]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--dataset", "points"], "`data.path` is required for data set 'points'"),
        (USER + ["--set", f"data.factory={NETS}:broken_factory"], "RuntimeError: no data here"),
        (USER + ["--set", f"model.discriminator={NETS}:WideDiscriminator"], "one score per sample"),
    ],
)
def test_a_search_that_cannot_start_touches_nothing(tmp_path, capsys, extra, words):
    args = ["search", "--executor", "local", "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--runs", str(tmp_path / "runs"), "--trials", "2", "--no-recommend", *extra]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "runs").exists()


def test_a_search_refuses_a_space_that_samples_a_refused_key(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("description: widths\nbase: vanilla\nparams:\n  model.g_mult: {uniform: [0.5, 2]}\n")
    args = ["search", "--space", str(space), "--executor", "local", "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--runs", str(tmp_path / "runs"), "--trials", "2", "--no-recommend", *USER]  # fmt: skip
    assert main(args) == 2
    assert "samples `model.g_mult`, which does not apply to your own networks" in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists()


def test_a_search_over_user_networks_runs_its_trials(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(
        "description: lr\nbase: vanilla\nfixed:\n  train.steps: 40\n  train.eval_every: 20\n  train.batch_size: 32\n"
        "params:\n  train.lr_d: {log_uniform: [1e-4, 1e-3]}\n"
    )
    args = ["search", "--space", str(space), "--executor", "local", "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--runs", str(tmp_path / "runs"), "--trials", "2", "--cohort-size", "2", "--no-recommend",
            "--no-diagnose", *USER]  # fmt: skip
    assert main(args) == 0
    import optuna

    study = optuna.load_study(study_name="space-default", storage=f"sqlite:///{tmp_path / 's.db'}")
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "COMPLETE"]
