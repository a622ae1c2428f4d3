"""`ganstab.api`: search, train and recommend from Python take the commands' options, go through
their parsers, checks and code, raise the errors the commands print (never SystemExit), and hand
back what they made. Real small runs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ganstab import api
from ganstab.cli import main
from ganstab.engine import config as C

TINY = {"train.device": "cpu", "model.hidden": 16, "train.steps": 20, "train.eval_every": 10, "data.n_eval": 200}


def cli_error(args: list[str], capsys) -> str:
    """What `ganstab ARGS` prints after "ganstab: error: " (exit status 2)."""
    assert main(args) == 2
    return capsys.readouterr().err.strip().removeprefix("ganstab: error: ")


def test_import_ganstab_imports_neither_torch_nor_optuna_and_api_is_lazy():
    code = (
        "import sys, ganstab; api = ganstab.api; "
        "print(sorted(m for m in ('torch', 'optuna', 'ray') if m in sys.modules), callable(api.search))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "True"]


def test_train_returns_the_run_and_its_members_summaries(tmp_path):
    pts = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
    np.save(tmp_path / "p.npy", pts)
    values = {**TINY, "data.name": "points", "data.path": tmp_path / "p.npy"}
    run = api.train(preset="lessons", overrides=values, cohort_size=2, out=tmp_path / "runs", name="r",
                    no_diagnose=True, quiet=True)  # fmt: skip
    assert run.run_dir == tmp_path / "runs" / "r" and (run.run_dir / "summary.json").exists()
    assert [m["seed"] for m in run.summary] == [0, 1] and run.trainer.k == 2
    assert all(m["status"] == "finished" and 0 <= m["eval_score"] <= 1 and "eval_coverage" in m for m in run.summary)
    assert run.config.data.path == str(tmp_path / "p.npy") and run.config.train.sn_d  # the preset's


def test_dry_run_gives_the_resolved_config_and_a_dict_equals_set_strings(tmp_path):
    as_dict = api.train(preset="vanilla", overrides={"train.lr_d": 4e-4, "data.name": "grid25"}, dry_run=True, quiet=True)
    as_text = api.train(preset="vanilla", overrides=["train.lr_d=4e-4", "data.name=grid25"], dry_run=True, quiet=True)
    assert as_dict.run_dir is None and as_dict.summary == []
    assert C.to_dict(as_dict.config) == C.to_dict(as_text.config)
    assert as_dict.config.train.lr_d == 4e-4 and as_dict.config.data.grid_size == 5  # resolved
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "call, argv",
    [
        (lambda: api.train(preset="vanilla", overrides={"train.steps": 0}, dry_run=True),
         ["train", "--preset", "vanilla", "--set", "train.steps=0", "--dry-run"]),
        (lambda: api.train(preset="vanila", dry_run=True), ["train", "--preset", "vanila", "--dry-run"]),
        (lambda: api.search("quick", "rign8", executor="local"), ["search", "--dataset", "rign8", "--executor", "local"]),
        (lambda: api.search("quick", "ring8", trials=0, executor="local"),
         ["search", "--trials", "0", "--executor", "local"]),
        (lambda: api.recommend("ring8", top=0), ["recommend", "--dataset", "ring8", "--top", "0"]),
        (lambda: api.search("quick", "ring8", reseed=0, executor="local"),
         ["search", "--reseed", "0", "--executor", "local"]),
    ],
)  # fmt: skip
def test_a_bad_value_raises_the_error_the_command_prints(tmp_path, monkeypatch, capsys, call, argv):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as e:  # ConfigError and SearchError are ValueErrors
        call()
    assert str(e.value) == cli_error(argv, capsys)
    assert not any(tmp_path.iterdir())  # nothing made: no database, no run folder


def test_the_parsers_own_checks_raise_instead_of_exiting():
    with pytest.raises(ValueError, match=r"argument --trials: invalid int value: 'many'"):
        api.search(trials="many")
    with pytest.raises(ValueError, match=r"argument --sampler: invalid choice: 'tpw' \(did you mean 'tpe'\?\)"):
        api.search(sampler="tpw")
    with pytest.raises(ValueError, match="argument --preset: not allowed with argument --config"):
        api.train("a.yaml", preset="lessons")
    with pytest.raises(ValueError, match=r"argument --no-prune: must be True or False, but got 'yes'"):
        api.search(no_prune="yes")
    with pytest.raises(TypeError, match=r"search\(\) got an unexpected keyword argument 'trails' \(did you mean trials\?\)"):
        api.search(trails=8)
    with pytest.raises(ValueError, match="overrides must be a dict or a list of key=value strings"):
        api.train(overrides="train.steps=5", dry_run=True)


def test_search_then_recommend_hand_back_the_study_and_the_recommended_config(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    out = api.search("quick", "ring8", overrides=TINY, trials=2, cohort_size=2, executor="local", storage=storage,
                     runs=tmp_path / "runs", no_recommend=True, no_diagnose=True, quiet=True)  # fmt: skip
    assert out.study_name == "quick-ring8" and out.storage == storage and out.recommendation is None
    assert len(out.leaderboard) == 2 and out.leaderboard[0]["value"] >= out.leaderboard[1]["value"]
    assert set(out.leaderboard[0]["params"]) == {"train.lr_d", "train.lr_g"}
    assert out.dashboard.startswith(f"ganstab dashboard --storage {storage}")

    rec = api.recommend("ring8", storage=storage, reseed=1, top=1, workers=1, steps=10, runs=tmp_path / "runs",
                        out=tmp_path / "rec.yaml", overrides={"train.device": "cpu"}, quiet=True)  # fmt: skip
    assert rec.best.label.startswith("quick-ring8 #") and rec.seeds == [1]  # one above the history's seeds (both trials ran on seed 0)
    assert C.to_dict(C.load_yaml(tmp_path / "rec.yaml")) == C.to_dict(rec.config)
    assert rec.config.train.g_ema == 0.99 and rec.config.train.steps == 10  # the space's and --steps


def test_diagnose_returns_each_logs_diagnosis_and_raises_when_none_is_labelled(tmp_path, capsys):
    import math

    from ganstab.diagnose import LABELS

    def log(path, rows):
        lines = ["step,d_loss,g_loss"]
        lines += [f"{10 * i},{1.2 + 0.1 * math.sin(i)},{0.8 + 0.1 * math.cos(i)}" for i in range(1, rows + 1)]
        path.write_text("\n".join(lines) + "\n")
        return path

    good, short = log(tmp_path / "good.csv", 60), log(tmp_path / "short.csv", 5)
    found = api.diagnose(good, short, quiet=True)
    assert found[str(good)].label in LABELS and "short.csv" in found[str(short)]
    with pytest.raises(ValueError) as e:
        api.diagnose(short, quiet=True)
    assert str(e.value) == cli_error(["diagnose", str(short)], capsys)
    with pytest.raises(ValueError) as e:
        api.diagnose(good, min_rows=5, quiet=True)
    assert str(e.value) == cli_error(["diagnose", str(good), "--min-rows", "5"], capsys)
