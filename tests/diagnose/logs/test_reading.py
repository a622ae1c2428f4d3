"""read_logs: a run folder gives one log per member, a member folder or its trace.csv the same one,
and a path that is no log says why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganstab.diagnose.logs import COLUMNS, LoadedLog, LogError, read_logs
from ganstab.engine.trace import read_trace
from tests.diagnose.logs.log_files import _err, _rows, _write_csv

# ------------------------------------------------------------------------------ ganstab run folders


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from ganstab.engine import CohortTrainer, apply_overrides, preset

    cfg = apply_overrides(
        preset("vanilla"),
        # evaluations every 50 steps: g_move gets the three values the rich model needs
        [
            "train.steps=300",
            "train.eval_every=50",
            "train.device=cpu",
            "model.hidden=16",
            "train.batch_size=64",
        ],
    )
    out = tmp_path_factory.mktemp("runs") / "myrun"
    CohortTrainer([cfg], out).train()
    return out


def test_run_folder_gives_one_log_per_member_in_the_schema(run_dir: Path) -> None:
    logs = read_logs(run_dir)
    assert len(logs) == 1
    log = logs[0]
    assert isinstance(log, LoadedLog)
    assert log.name == "myrun/member 000"
    assert log.path == run_dir / "members" / "000" / "trace.csv"
    assert list(log.trace) == list(COLUMNS)  # lr_*, noise_std and eval_* dropped
    raw = read_trace(log.path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(10, 301, 10, dtype=float))
    for col in COLUMNS:
        assert log.trace[col].dtype == np.float64
        np.testing.assert_array_equal(log.trace[col], raw[col])
    from ganstab.diagnose.classifier import diagnose_trace

    assert diagnose_trace(log.trace).model == "rich"  # ganstab's own runs get the rich model


def test_member_folder_and_its_trace_file_read_the_same(run_dir: Path) -> None:
    member = run_dir / "members" / "000"
    whole = read_logs(run_dir)[0]
    for path in (member, member / "trace.csv", str(member)):
        (log,) = read_logs(path)
        assert log.name == "myrun/member 000"
        for col in COLUMNS:
            np.testing.assert_array_equal(log.trace[col], whole.trace[col])


# ---------------------------------------------------------------------------------------- errors


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(LogError, match=_err(tmp_path / "nope.csv", "does not exist")):
        read_logs(tmp_path / "nope.csv")


def test_unknown_format(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("the GAN went badly\n")
    with pytest.raises(LogError, match=_err(text, "unknown format; expected a ganstab run folder")):
        read_logs(text)
    binary = tmp_path / "weights.npy"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(LogError, match=_err(binary, "not UTF-8 text")):
        read_logs(binary)
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    with pytest.raises(LogError, match=_err(empty_folder, "folder without trace.csv")):
        read_logs(empty_folder)


def test_keep_going_gives_a_member_that_cannot_be_read_its_error(tmp_path: Path) -> None:
    for member, n in (("000", 25), ("001", 5), ("002", 25)):
        (tmp_path / "run" / "members" / member).mkdir(parents=True)
        _write_csv(tmp_path / "run" / "members" / member / "trace.csv", "step,d_loss,g_loss", _rows(n))
    with pytest.raises(LogError, match=r"001/trace.csv` has 5 rows"):
        read_logs(tmp_path / "run")
    logs = read_logs(tmp_path / "run", keep_going=True)
    assert [log.error is None for log in logs] == [True, False, True]
    assert "has 5 rows (distinct steps); diagnosis needs at least 20" in logs[1].error
    assert logs[1].trace == {} and len(logs[2].trace["step"]) == 25
    summary = [{"member": 0, "status": "finished"}, {"member": 1, "status": "stopped", "steps_trained": 50}]
    (tmp_path / "run" / "summary.json").write_text(json.dumps(summary))  # a search pruned member 1
    logs = read_logs(tmp_path / "run", keep_going=True)
    assert logs[1].error.endswith("(summary.json: the run stopped this member at step 50, e.g. pruned)")
