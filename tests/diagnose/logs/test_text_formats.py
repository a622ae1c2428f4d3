"""CSV, JSONL and JSON array logs: read in the trace schema, and every error they promise to explain."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ganstab.diagnose.logs import LogError, read_logs
from tests.diagnose.logs.log_files import _err, _rows, _write_csv


def test_csv_any_column_order_extra_columns_dropped_empty_optional_is_nan(tmp_path: Path) -> None:
    rows = [f"{0.5 + s},run-a,{s},{1.0 / s},,{s * 0.1}" for s in range(1, 26)]
    rows[3] = "inf,run-a,4,nan,0.2,0.4"  # a NaN/Inf loss is kept: it means divergence
    path = _write_csv(tmp_path / "log.csv", "g_loss,phase,step,d_loss,d_real,g_spread", rows)
    (log,) = read_logs(path)
    assert log.name == str(path) and log.path == path
    assert list(log.trace) == ["step", "d_loss", "g_loss", "d_real", "g_spread"]
    np.testing.assert_array_equal(log.trace["step"], np.arange(1, 26))
    assert log.trace["d_loss"][0] == 1.0 and math.isnan(log.trace["d_loss"][3])
    assert log.trace["g_loss"][3] == math.inf
    assert log.trace["d_real"][3] == 0.2 and np.isnan(np.delete(log.trace["d_real"], 3)).all()
    assert log.trace["g_spread"][24] == pytest.approx(2.5)


def test_jsonl_with_extra_keys_blank_lines_nulls_and_text_numbers(tmp_path: Path) -> None:
    lines = []
    for s in range(1, 23):
        rec = {"step": s, "d_loss": 1.0 / s, "g_loss": 2.0, "lr": 1e-4, "tag": "x"}
        if s % 2:
            rec["grad_norm_d"] = float(s)
        lines.append(json.dumps(rec))
    lines[4] = json.dumps({"step": 5, "d_loss": None, "g_loss": "NaN"})  # null, as JSON.stringify(NaN)
    lines[5] = json.dumps({"step": "6", "d_loss": "0.25", "g_loss": float("inf")})  # Python's Infinity
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines[:10]) + "\n\n   \n" + "\n".join(lines[10:]) + "\n")
    (log,) = read_logs(path)
    assert list(log.trace) == ["step", "d_loss", "g_loss", "grad_norm_d"]
    assert len(log.trace["step"]) == 22
    assert math.isnan(log.trace["d_loss"][4]) and math.isnan(log.trace["g_loss"][4])
    assert (log.trace["step"][5], log.trace["d_loss"][5], log.trace["g_loss"][5]) == (6.0, 0.25, math.inf)
    assert log.trace["grad_norm_d"][0] == 1.0 and math.isnan(log.trace["grad_norm_d"][1])


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    path.write_text(json.dumps([{"step": s, "d_loss": 1.0, "g_loss": 2.0} for s in range(20)]))
    (log,) = read_logs(path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(20))


def test_unknown_suffix_is_sniffed(tmp_path: Path) -> None:
    csv_path = _write_csv(tmp_path / "train.log", "step,d_loss,g_loss", _rows(20))
    assert len(read_logs(csv_path)[0].trace["step"]) == 20
    jl = tmp_path / "train.out"
    jl.write_text("\n".join(json.dumps({"step": s, "d_loss": 1, "g_loss": 2}) for s in range(20)))
    assert len(read_logs(jl)[0].trace["step"]) == 20


def test_non_numeric_values_name_column_and_line(tmp_path: Path) -> None:
    rows = _rows(25)
    rows[1] = "2,abc,0.5"
    path = _write_csv(tmp_path / "log.csv", "step,d_loss,g_loss", rows)
    with pytest.raises(LogError, match=_err(path, r"line 3: `d_loss` must be a number, but got 'abc'")):
        read_logs(path)
    rows[1] = "2,1.0,"
    _write_csv(path, "step,d_loss,g_loss", rows)
    with pytest.raises(LogError, match=_err(path, "line 3: `g_loss` is empty")):
        read_logs(path)
    rows[1] = "nan,1.0,1.0"
    _write_csv(path, "step,d_loss,g_loss", rows)
    with pytest.raises(LogError, match=_err(path, r"line 3: `step` \(the step\) must be a finite number")):
        read_logs(path)
    jl = tmp_path / "log.jsonl"
    recs = [{"step": s, "d_loss": 1.0, "g_loss": 1.0} for s in range(25)]
    recs[6]["g_loss"] = "abc"
    jl.write_text("\n".join(map(json.dumps, recs)))
    with pytest.raises(LogError, match=_err(jl, r"line 7: `g_loss` must be a number, but got 'abc'")):
        read_logs(jl)
    jl.write_text("\n".join(map(json.dumps, recs[:3])) + "\n{not json\n")
    with pytest.raises(LogError, match=_err(jl, "line 4 is not valid JSON")):
        read_logs(jl)
