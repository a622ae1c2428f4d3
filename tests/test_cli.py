"""`ganstab train` end to end: dry run, errors, run folder, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
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


# ------------------------------------------------------------------------- what the user sees


def test_help_lists_the_commands_and_hides_the_hidden_ones():
    from ganstab.cli import build_parser

    text = build_parser().format_help()
    assert "==SUPPRESS==" not in text
    assert "diagnose-train" not in text and "diagnose-evaluate" not in text
    for name in ("train", "diagnose", "search", "recommend", "dashboard", "corpus"):
        assert re.search(rf"^    {name} +[a-z]", text, re.MULTILINE), (name, text)  # help beside it
    # still reachable, as `ganstab diagnose train|evaluate`
    assert build_parser().parse_args(["diagnose-evaluate"]).command == "diagnose-evaluate"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["trian"], "unknown command 'trian' (did you mean 'train'?); choose from train, diagnose,"),
        (["serach", "--trials", "2"], "unknown command 'serach' (did you mean 'search'?)"),
        (["search", "--sampler", "tpw"], "invalid choice: 'tpw' (did you mean 'tpe'?); choose from tpe,"),
    ],
)
def test_a_mistyped_command_or_choice_gets_a_did_you_mean(argv, expected, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert expected in capsys.readouterr().err


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


def test_search_input_errors_name_the_options_not_internal_names(tmp_path, capsys):
    base = ["search", "--executor", "local", "--storage", f"sqlite:///{tmp_path / 's.db'}"]
    base += ["--runs", str(tmp_path / "runs"), "--trials", "1"]
    assert main([*base, "--dataset", "rign8"]) == 2
    err = capsys.readouterr().err
    assert "--dataset 'rign8' is not a data set (did you mean 'ring8'?); choose one of ring8," in err
    assert main([*base, "--dataset", "ring8", "--set", "train.steps=0"]) == 2
    err2 = capsys.readouterr().err
    assert "--dataset and --set give an invalid config: `train.steps` must be >= 1, but got 0." in err2
    for text in (err, err2):
        assert "extra_overrides" not in text and len(text.strip().splitlines()) == 1
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--trials", "0"], "--trials must be a whole number >= 1, but got 0."),
        (["--budget", "0"], "--budget must be a whole number of member-steps >= 1, but got 0."),
        (["--timeout", "0"], "--timeout must be a number of minutes > 0, but got 0.0."),
        (["--set", "train.lr_d=1e-3"], "train.lr_d"),  # a searched key may not be fixed
    ],
)
def test_search_settings_are_refused_before_ray_starts(tmp_path, capsys, args, words):
    """Every setting is checked before the Ray executor starts (it takes seconds, or joins a
    cluster), and the error names the command's option, not SearchSettings' field."""
    base = ["search", "--space", "quick", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--runs", str(tmp_path / "r")]
    assert main([*base, *args]) == 2
    out = capsys.readouterr()
    assert words in out.err and "n_trials" not in out.err
    assert "Ray:" not in out.out and "Search " not in out.out  # neither Ray nor the search started
    assert not (tmp_path / "s.db").exists()


def test_ctrl_c_of_a_search_says_that_the_same_command_continues_it(tmp_path):
    """A real `ganstab search` stopped with SIGINT (Ctrl-C) mid-cohort: exit 130, a line saying
    that running the same command again continues the study (not `train --resume`), and the
    interrupted trials FAIL with their parameters queued again, as that line promises."""
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    cmd = [sys.executable, "-m", "ganstab.cli", "search", "--space", "quick", "--executor", "local",
           "--storage", url, "--study", "s", "--runs", str(tmp_path / "runs"), "--trials", "2",
           "--cohort-size", "2", "--no-diagnose", "--no-recommend", "--set", "train.device=cpu",
           "--set", "model.hidden=16", "--set", "train.steps=100000", "--set", "train.eval_every=50000"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:  # the cohort has started training
            if line.startswith("cohort 0:"):
                break
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "ganstab: interrupted. Run the same `ganstab search` command again to continue the study" in err
    assert "--resume" not in err
    trials = optuna.load_study(study_name="s", storage=url).trials
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 2 and all(t.user_attrs["status"] == "interrupted" for t in failed)
    waiting = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert sorted(t.user_attrs["retry_of"] for t in waiting) == sorted(t.number for t in failed)


def test_duration_reads_as_a_person_says_it():
    from ganstab.cli import _duration

    assert [_duration(s) for s in (0.2, 42, 185, 3599.6, 7620, float("nan"), -1)] == [
        "0 s",
        "42 s",
        "3 min 05 s",
        "1 h 00 min",
        "2 h 07 min",
        "?",
        "?",
    ]


def test_train_progress_line_shows_the_time_left():
    from io import StringIO

    from rich.console import Console

    from ganstab.cli import _duration, _LiveDisplay
    from ganstab.engine.trainer import CohortTrainer

    cfg = C.apply_overrides(C.preset("lessons"), ["train.steps=40", "train.eval_every=0", *FAST[1::2]])
    trainer = CohortTrainer([cfg], None)
    display = _LiveDisplay(Console(file=StringIO()), trainer)
    seen = []
    trainer.train(on_log=lambda t: seen.append((t.step, t.wall_time, display._line())))
    assert [step for step, _, _ in seen] == [10, 20, 30, 40]
    for step, wall, line in seen:
        rate = step / max(wall, 1e-9)
        assert f"  {_duration((40 - step) / rate)} left  " in line, line
    assert "  0 s left  " in seen[-1][2]


def test_search_progress_counts_the_trials_done_and_estimates_the_time_left(tmp_path):
    from io import StringIO

    import optuna
    from rich.console import Console

    from ganstab.cli import _done_before, _SearchProgress
    from ganstab.search.cohort_job import MemberResult
    from ganstab.search.events import SearchEvent

    # a continued study: what it already holds counts (COMPLETE, PRUNED, diverged; not an error)
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert _done_before(url, "s") == 0 and not (tmp_path / "s.db").exists()
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.5))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))
    for status in ("diverged", "error"):
        study.add_trial(
            optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"status": status})
        )
    assert _done_before(url, "s") == 3 and _done_before(url, "other") == 0

    out = StringIO()
    progress = _SearchProgress(Console(file=out, width=200), n_trials=7, done_before=3)
    progress(SearchEvent("cohort", "cohort 1: trials [4, 5, 6]", {"trials": [4, 5, 6]}))
    progress(
        SearchEvent("trial", "trial 4: COMPLETE", {"result": MemberResult(4, "COMPLETE", "finished", 0.5)})
    )
    progress(SearchEvent("trial", "trial 5: FAIL", {"result": MemberResult(5, "FAIL", "error", None)}))
    time.sleep(0.2)
    progress(SearchEvent("trial", "trial 6: PRUNED", {"result": MemberResult(6, "PRUNED", "pruned", None)}))
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["cohort 1: trials [4, 5, 6]", "trial 4: COMPLETE  [4/7 done]", "trial 5: FAIL"]
    # the cohort has reported: 2 counted trials in >= 0.2 s, 2 to go -> about as long again
    assert lines[3].startswith("trial 6: PRUNED  [5/7 done, about ") and lines[3].endswith(" s left]")
    assert 0 <= int(lines[3].split("about ")[1].split(" s")[0]) <= 5


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
    from ganstab.cli import member_diagnoses
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
    assert label in LABELS and 0 < float(rest.rstrip(")")) <= 1, calm_text
    assert wild_text == f"diverged at step {trainer.ended_at[1]}"


def test_gitignore_covers_sqlite_side_files():
    import fnmatch

    repo = Path(__file__).resolve().parents[1]
    names = ["ganstab.db-wal", "ganstab.db-shm", "ganstab.db-journal", "runs/study.sqlite-wal"]
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=repo, capture_output=True, text=True
    )
    if proc.returncode in (0, 1):  # git's own rules: every name it prints is ignored
        assert proc.stdout.split() == names
    else:  # not a git checkout: the patterns without a slash, matched against the file name
        patterns = [p for p in (repo / ".gitignore").read_text().split() if not p.startswith("#")]
        for name in names:
            assert any(fnmatch.fnmatch(Path(name).name, p) for p in patterns), name


def test_the_main_job_ends_with_a_recommendation_of_the_quick_space(tmp_path):
    """The README's main command, shrunk (tiny trials, local executor): the search over the quick
    space, then the recommendation (`--top 1`: one candidate on 3 new seeds) writes
    recommended-ring8.yaml with the quick space's fixed settings (G's weight average, no SN)."""
    cmd = [sys.executable, "-m", "ganstab.cli", "search", "--space", "quick", "--dataset", "ring8",
           "--trials", "2", "--cohort-size", "2", "--top", "1", "--executor", "local", "--no-diagnose",
           "--set", "train.device=cpu", "--set", "model.hidden=16", "--set", "train.steps=60",
           "--set", "train.eval_every=30"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    # the one candidate on seeds 1-3, in as many cohorts as this machine has CPUs (up to 3)
    retrained = [line for line in out.stdout.splitlines() if "member(s)" in line]
    seeds = [int(x) for line in retrained for x in re.search(r"seeds \[([\d, ]+)\]", line).group(1).split(",")]
    assert 1 <= len(retrained) <= 3 and sorted(seeds) == [1, 2, 3], out.stdout
    written = C.load_yaml(tmp_path / "recommended-ring8.yaml")
    assert (written.data.name, written.train.g_ema, written.train.sn_g, written.train.steps) == ("ring8", 0.99, False, 60)
    refused = subprocess.run([*cmd, "--top", "0"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert refused.returncode == 2 and "--top must be a whole number >= 1, but got 0." in refused.stderr
    assert "Search" not in refused.stdout  # refused before anything ran
