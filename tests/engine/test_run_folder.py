"""RunFolder: the files of a run (configs, traces, evaluations, summary, samples, checkpoint)."""

from __future__ import annotations

import json

import pytest
import torch

from ganstab.engine import config as C
from ganstab.engine.run_folder import CHECKPOINT_FORMAT, CheckpointError, RunFolder
from ganstab.engine.trace import read_trace

COLUMNS = ["step", "d_loss"]


def _configs(k: int = 2) -> list[C.Config]:
    return [C.resolve(c) for c in C.member_configs(C.preset("vanilla"), k)]


def test_open_writes_each_member_s_config_and_an_empty_trace(tmp_path):
    folder = RunFolder(tmp_path / "run")
    configs = _configs()
    folder.open(configs, COLUMNS)
    assert C.load_yaml(tmp_path / "run" / "config.yaml") == configs[0]
    assert folder.member_configs() == configs
    folder.write_rows(1, [{"step": 1, "d_loss": 0.5}])
    assert read_trace(folder.member_dir(1) / "trace.csv")["d_loss"].tolist() == [0.5]


def test_a_refill_gets_the_next_member_number(tmp_path):
    folder = RunFolder(tmp_path)
    folder.open(_configs(), COLUMNS)
    assert folder.add_member(0, _configs(1)[0], COLUMNS) == 2
    assert folder.member_dir(0).name == "002" and folder.member_dir(1).name == "001"
    assert (tmp_path / "members" / "002" / "trace.csv").exists()


def test_evaluations_and_summary_are_json_without_nan(tmp_path):
    folder = RunFolder(tmp_path)
    folder.open(_configs(1), COLUMNS)
    folder.write_evals(0, [{"step": 10, "kl": float("nan"), "hist": torch.tensor([1, 2])}])
    folder.write_summary([{"member": 0, "score": float("inf")}])
    assert json.loads((folder.member_dir(0) / "evals.jsonl").read_text()) == {"step": 10, "kl": None, "hist": [1, 2]}
    assert json.loads((tmp_path / "summary.json").read_text()) == [{"member": 0, "score": None}]


def test_last_sample_policy_keeps_only_the_newest_picture(tmp_path):
    folder = RunFolder(tmp_path, samples="last")
    folder.open(_configs(1), COLUMNS)
    for step in (10, 20):
        folder.save_samples(step, torch.randn(1, 50, 2), [0], "points")
        folder.flush()
    assert [p.name for p in (folder.member_dir(0) / "samples").iterdir()] == ["step_000020.png"]
    folder.close()
    with pytest.raises(ValueError, match="`samples` must be one of all, last, but got 'some'"):
        RunFolder(tmp_path, samples="some")


def test_a_checkpoint_round_trips_and_a_foreign_one_is_refused(tmp_path):
    folder = RunFolder(tmp_path)
    state = {"step": 3, "w": torch.ones(2), "status": ["running"], "ended_at": [None], "last_eval": [{}], "eval_log": [[]]}
    folder.save_checkpoint(state)
    loaded = folder.load_checkpoint(torch.device("cpu"))
    assert loaded["step"] == 3 and loaded["status"] == ["running"] and loaded["format"] == CHECKPOINT_FORMAT
    torch.save({"format": 1}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this ganstab version"):
        folder.load_checkpoint(torch.device("cpu"))
    assert not RunFolder(tmp_path / "other", checkpoints=False).has_checkpoint()
