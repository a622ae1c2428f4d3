"""Columns found by name: schema names, aliases and `tags`, and the errors that list what a log has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganstab.diagnose.logs import LogError, read_logs
from tests.diagnose.logs.log_files import _err, _rows, _write_csv


def test_csv_aliases_and_tags_name_the_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "dcgan.csv", "iteration,errD,errG,lossD_alt", _rows(20, "{s},{d},{g},{g}"))
    (log,) = read_logs(path)  # iteration, errD, errG are known aliases
    assert log.trace["d_loss"][0] == pytest.approx(1.01)
    (log,) = read_logs(path, tags={"d_loss": "lossD_alt"})
    assert log.trace["d_loss"][0] == pytest.approx(0.52)


def test_missing_required_column_names_it_and_lists_the_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "trace.csv", "step,d_loss", [f"{s},1.0" for s in range(30)])
    with pytest.raises(LogError, match=_err(path, r"needs a `g_loss` column.*found: step, d_loss")):
        read_logs(path)
    jl = tmp_path / "log.jsonl"
    jl.write_text("\n".join(json.dumps({"step": s, "g_loss": 1.0, "misc": 0}) for s in range(30)))
    with pytest.raises(LogError, match=_err(jl, r"needs a `d_loss` key.*found: step, g_loss, misc")):
        read_logs(jl)
    jl.write_text(
        json.dumps({"step": 1, "d_loss": 1, "g_loss": 2}) + "\n" + json.dumps({"step": 2, "d_loss": 1})
    )
    with pytest.raises(LogError, match=_err(jl, "line 2: the object has no `g_loss` key")):
        read_logs(jl)


def test_unknown_tag_column_is_an_error(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "log.csv", "step,d_loss,g_loss", _rows(20))
    with pytest.raises(LogError, match="tags: `loss_d` is not a trace column; choose from: step, d_loss"):
        read_logs(path, tags={"loss_d": "x"})
