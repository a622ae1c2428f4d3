"""A ganstab member's trace.csv read with its run's summary.json: a divergence between logged
steps, or before the first row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganstab.diagnose.logs import read_logs


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory) -> Path:
    """A real 3-member cohort whose member 1 (learning rates 1e12) diverges at step 2, before its
    first logged step: its trace has no rows, only summary.json tells."""
    from ganstab.engine import CohortTrainer, apply_overrides, preset
    from ganstab.engine.config import member_configs

    cfg = apply_overrides(
        preset("vanilla"), ["train.steps=200", "train.device=cpu", "model.hidden=16", "train.batch_size=64"]
    )
    cfgs = member_configs(cfg, 3)
    cfgs[1].train.lr_d = cfgs[1].train.lr_g = 1e12
    out = tmp_path_factory.mktemp("runs") / "boom"
    summary = CohortTrainer(cfgs, out).train()
    assert [m["status"] for m in summary] == ["finished", "diverged", "finished"]
    return out


def test_a_member_that_diverged_before_its_first_row_is_read_from_summary_json(diverged_run: Path) -> None:
    logs = read_logs(diverged_run)
    assert [len(log.trace["step"]) for log in logs] == [20, 0, 20]
    at = json.loads((diverged_run / "summary.json").read_text())[1]["diverged_at"]
    assert at <= 2  # before the first logged step (10)
    assert [log.diverged_at for log in logs] == [None, at, None]
    assert logs[1].diverged_why == f"summary.json says it diverged at step {at}"
    for path in (diverged_run / "members" / "001", diverged_run / "members" / "001" / "trace.csv"):
        (log,) = read_logs(path)
        assert log.diverged_at == at


def test_diagnose_labels_every_member_when_one_diverged_at_step_2(diverged_run: Path, capsys) -> None:
    """Issue 16: `ganstab diagnose RUN_DIR` exited 2 with no labels because member 1 had no rows."""
    from ganstab.cli import main

    assert main(["diagnose", str(diverged_run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["name"] for o in out] == ["boom/member 000", "boom/member 001", "boom/member 002"]
    assert out[1]["label"] == "diverged" and out[1]["rows"] == 0 and out[1]["diverged_at"] <= 2
    assert out[0]["label"] in ("converging", "collapsing", "oscillating") and out[0]["rows"] == 20
    assert out[2]["label"] in ("converging", "collapsing", "oscillating")
    assert main(["diagnose", str(diverged_run)]) == 0
    text = capsys.readouterr().out
    assert "boom/member 001: diverged at step" in text and "(summary.json says it diverged at step" in text
