"""`ganstab train` end to end: dry run, errors, run folder, resume after SIGKILL, and each
member's diagnosis at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ganstab.cli import main
from ganstab.engine import config as C
from ganstab.engine.trace import STEP_COLUMNS, read_trace

FAST = ["--set", "train.device=cpu", "--set", "model.hidden=32"]


def test_dry_run_prints_the_resolved_config_and_stops(tmp_path, capsys):
    code = main(
        ["train", "--preset", "lessons", "--set", "data.name=grid25", "--dry-run", "--out", str(tmp_path)]
    )
    assert code == 0
    out = capsys.readouterr().out
    cfg = C.from_dict(yaml.safe_load(out.split("\n", 1)[1]))
    assert cfg.data.name == "grid25" and cfg.data.std == 0.05 and cfg.train.lr_d == 4e-4
    assert not any(tmp_path.iterdir())


def test_errors_name_the_key_and_value_and_exit_2(tmp_path, capsys):
    assert main(["train", "--set", "train.n_dis=0", "--out", str(tmp_path)]) == 2
    assert "`train.n_dis` must be >= 1, but got 0." in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "Cannot read config file" in capsys.readouterr().err


def test_help_lists_registered_losses_and_data_sets():
    proc = subprocess.run(
        [sys.executable, "-m", "ganstab.cli", "train", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    for name in ("ns", "minimax", "hinge", "ls", "wgan-gp", "ring8", "grid25", "digits", "mnist", "folder"):
        assert name in proc.stdout


def test_train_writes_a_complete_run_folder(tmp_path):
    args = [
        "train",
        "--preset",
        "lessons",
        "--cohort-size",
        "2",
        "--out",
        str(tmp_path),
        "--name",
        "run",
        "--quiet",
    ]
    args += ["--set", "train.steps=60", "--set", "train.eval_every=30", *FAST]
    assert main(args) == 0
    run = tmp_path / "run"
    assert C.load_yaml(run / "config.yaml").train.lr_d == 4e-4
    for i in range(2):
        member = run / "members" / f"{i:03d}"
        assert C.load_yaml(member / "config.yaml").train.seed == i
        trace = read_trace(member / "trace.csv")
        assert list(trace)[: len(STEP_COLUMNS)] == list(STEP_COLUMNS)
        assert trace["step"].tolist() == list(range(10, 61, 10))
        assert np.isfinite(trace["eval_hq"][trace["step"] % 30 == 0]).all()
        assert np.isnan(trace["eval_hq"][trace["step"] % 30 != 0]).all()
        # g_move: on evaluation rows from the second evaluation on (it compares two)
        assert np.isnan(trace["g_move"][trace["step"] != 60]).all()
        assert trace["g_move"][trace["step"] == 60][0] > 0
        assert sorted(p.name for p in (member / "samples").iterdir()) == [
            "step_000030.png",
            "step_000060.png",
        ]
    summary = json.loads((run / "summary.json").read_text())
    assert [m["status"] for m in summary] == ["finished", "finished"]
    assert (run / "checkpoint.pt").exists()


def _params(run: Path) -> list[torch.Tensor]:
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    return [state["G"][k] for k in sorted(state["G"])] + [state["D"][k] for k in sorted(state["D"])]


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    common = [
        "--preset",
        "lessons",
        "--out",
        str(tmp_path),
        "--quiet",
        "--set",
        "train.steps=600",
        "--set",
        "train.eval_every=200",
        "--set",
        "train.noise_std=0.1",
        *FAST,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "ganstab.cli", "train", *common]
    subprocess.run([*cmd, "--name", "straight"], check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*cmd, "--name", "killed"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.2)  # let it run past the checkpoint, so rows after it must be dropped
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step_at_kill = torch.load(killed / "checkpoint.pt", weights_only=False)["step"]
    assert 0 < step_at_kill < 600

    resumed = subprocess.run(
        [*cmd[:4], "--resume", str(killed), "--quiet"], env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"at step {step_at_kill}" in resumed.stdout
    a = read_trace(tmp_path / "straight" / "members" / "000" / "trace.csv")
    b = read_trace(killed / "members" / "000" / "trace.csv")
    assert a["step"].tolist() == b["step"].tolist()  # no duplicated or missing rows
    for col in a:
        np.testing.assert_allclose(a[col], b[col], rtol=1e-6, atol=1e-7, equal_nan=True)
    for pa, pb in zip(_params(tmp_path / "straight"), _params(killed)):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)


def test_resume_refuses_other_overrides_and_missing_checkpoints(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "holds no checkpoint.pt" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--set", "train.lr_d=1"]) == 2
    assert "--resume accepts only --set train.steps=N" in capsys.readouterr().err


def test_resume_refuses_a_run_whose_traces_have_other_columns(tmp_path, capsys):
    args = ["train", "--out", str(tmp_path), "--name", "r", "--quiet", "--set", "train.steps=20", *FAST]
    assert main(args) == 0
    trace = tmp_path / "r" / "members" / "000" / "trace.csv"
    lines = trace.read_text().splitlines()
    old = [",".join(line.split(",")[:12]) for line in lines]  # as written before data_spread
    trace.write_text("\n".join(old) + "\n")
    assert main(["train", "--resume", str(tmp_path / "r"), "--set", "train.steps=40"]) == 2
    err = capsys.readouterr().err
    assert "start a new run" in err and "data_spread" in err
    assert trace.read_text() == "\n".join(old) + "\n"  # nothing lost or rewritten


def test_a_mistyped_set_key_gets_a_did_you_mean(capsys):
    assert main(["train", "--set", "lr=1e-4", "--dry-run"]) == 2
    assert "Unknown config key `lr` (did you mean `train.lr_g` or `train.lr_d`?)." in capsys.readouterr().err


def test_dry_run_refuses_the_cohort_size_a_run_refuses(tmp_path, capsys):
    assert main(["train", "--cohort-size", "0", "--out", str(tmp_path)]) == 2
    real = capsys.readouterr().err
    assert "must be >= 1, but got 0." in real
    assert main(["train", "--cohort-size", "0", "--dry-run", "--out", str(tmp_path)]) == 2
    dry = capsys.readouterr()
    assert dry.err == real and dry.out == ""
    assert not any(tmp_path.iterdir())


def test_train_ends_with_each_members_diagnosis(tmp_path, capsys):
    args = ["train", "--preset", "lessons", "--cohort-size", "2", "--out", str(tmp_path), "--name", "short"]
    assert main([*args, "--quiet", "--set", "train.steps=30", *FAST]) == 0
    out = capsys.readouterr().out
    # too short a trace to diagnose: said, and the command still succeeds
    for i in range(2):
        assert f"  member {i} (seed {i}): not diagnosed: 3 logged rows, the diagnosis needs 20 " in out
    assert main([*args, "--quiet", "--no-diagnose", "--name", "none", "--set", "train.steps=30", *FAST]) == 0
    assert "Diagnosis" not in capsys.readouterr().out


def test_member_diagnoses_label_each_member_and_name_the_diverged():
    from ganstab.cli.train import member_diagnoses
    from ganstab.diagnose import LABELS
    from ganstab.engine.trainer import CohortTrainer

    base = ["train.steps=200", "train.eval_every=100", *FAST[1::2]]
    calm = C.apply_overrides(C.preset("vanilla"), base)
    wild = C.apply_overrides(calm, ["train.lr_d=1e6", "train.lr_g=1e6", "train.beta1=0.0"])
    trainer = CohortTrainer([calm, wild], None)
    trainer.train()
    assert trainer.status == ["finished", "diverged"]
    calm_text, wild_text = member_diagnoses(trainer)
    label, _, rest = calm_text.partition(" (confidence ")
    # an uncertain one names its two likeliest ("A or B"), or all three ("A, B or C")
    label = label.removeprefix("uncertain: ").split(" or ")[0].split(", ")[0]
    assert label in LABELS and 0 < float(rest.rstrip(")")) <= 1, calm_text
    assert wild_text == f"diverged at step {trainer.ended_at[1]}"
    # issue 30: `ganstab diagnose` says the same diagnosis in the same words
    from rich.console import Console

    from ganstab.diagnose import diagnose_trace
    from ganstab.diagnose.report import render_text

    rows = trainer.member_trace(0)
    d = diagnose_trace({c: rows[:, j] for j, c in enumerate(trainer.columns)})
    console = Console(width=400, record=True)
    console.print(render_text("member 000", d))
    assert calm_text == d.verdict and f"member 000: {calm_text}  (" in console.export_text()
