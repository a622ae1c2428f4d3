"""`ganstab search`: its errors name the command's options before Ray starts, Ctrl-C says how to
continue, a continued study's trials count, and the main job ends with a recommendation."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganstab.cli import main
from ganstab.engine import config as C


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
    # Ctrl-C's default handling in the search, as in a terminal: a test run started in the
    # background (`cmd &` in a script) ignores SIGINT, which its children would inherit
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
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


def test_a_continued_studys_settled_trials_count_toward_trials(tmp_path):
    import optuna

    from ganstab.cli.search import done_before

    # a continued study: what it already holds counts (COMPLETE, PRUNED, diverged; not an error)
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert done_before(url, "s") == 0 and not (tmp_path / "s.db").exists()
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.5))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))
    for status in ("diverged", "error"):
        study.add_trial(
            optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"status": status})
        )
    assert done_before(url, "s") == 3 and done_before(url, "other") == 0


def test_gitignore_covers_sqlite_side_files():
    import fnmatch

    repo = Path(__file__).resolve().parents[2]
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


def test_a_dataset_yaml_gives_its_data_section_as_values(tmp_path):
    """The data section passes as values, never as "k=v" text parsed again: a path "007" stays
    the string it is (as text it would come back as the number 7)."""
    from ganstab.cli.search import dataset_values

    cfg = C.Config()
    cfg.data.name, cfg.data.path, cfg.data.std = "points", "007", 0.25
    (tmp_path / "mine.yaml").write_text(C.dump_yaml(cfg))
    values, name = dataset_values(str(tmp_path / "mine.yaml"))
    assert name == "mine" and set(values) == {k for k, v in C.flat_items(cfg).items() if k.startswith("data.") and v is not None}
    assert (values["data.name"], values["data.path"], values["data.std"]) == ("points", "007", 0.25)
    assert dataset_values("ring8") == ({"data.name": "ring8"}, "ring8") and dataset_values(None) == ({}, "default")


def test_set_is_parsed_once_and_overrides_the_data_set():
    from ganstab.cli.search import fixed_values

    fixed = fixed_values({"data.name": "ring8", "data.std": 0.1}, ["data.name=grid25", "lr_d=0.0004"])
    assert fixed == {"data.name": "grid25", "data.std": 0.1, "train.lr_d": 4e-4}
    with pytest.raises(C.ConfigError, match=r"^--dataset and --set give an invalid config: Unknown config key `lr`"):
        fixed_values({}, ["lr=1"])


@pytest.mark.parametrize(
    "args, words",
    [
        (["--concurrent-cohorts", "0"], "--concurrent-cohorts must be a whole number >= 1, but got 0."),
        (["--top", "0"], "--top must be a whole number >= 1, but got 0."),
        (["--executor", "local", "--address", "h:1"], "--address and --gpus-per-cohort need --executor ray."),
    ],
)
def test_the_commands_own_settings_are_refused_before_ray_starts(tmp_path, capsys, args, words):
    base = ["search", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--runs", str(tmp_path / "r")]
    assert main([*base, *args]) == 2
    out = capsys.readouterr()
    assert out.err == f"ganstab: error: {words}\n" and "Search " not in out.out
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "r").exists()
