"""From cells to a trace: rows sorted by step, a repeated step's last row kept, a restarting
step counter numbered on, the first sign of divergence, and the minimum of rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ganstab.diagnose.logs import LogError, read_logs
from tests.diagnose.logs.log_files import _err, _rows, _write_csv


def test_csv_rows_are_sorted_by_step_and_a_repeated_step_keeps_its_last_row(tmp_path: Path) -> None:
    rows = _rows(30)[::-1] + ["5,99.0,98.0", "", "5,7.0,8.0"]  # reversed, then step 5 re-logged twice
    (log,) = read_logs(_write_csv(tmp_path / "log.csv", "step,d_loss,g_loss", rows))
    np.testing.assert_array_equal(log.trace["step"], np.arange(1, 31))
    assert (log.trace["d_loss"][4], log.trace["g_loss"][4]) == (7.0, 8.0)
    assert log.trace["d_loss"][5] == pytest.approx(1.06)


def test_too_few_rows_says_how_many_and_the_minimum(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "short.csv", "step,d_loss,g_loss", _rows(12) + ["12,1.0,1.0"])
    with pytest.raises(LogError, match=_err(path, r"has 12 rows \(distinct steps\); .*at least 20")):
        read_logs(path)
    assert len(read_logs(path, min_rows=10)[0].trace["step"]) == 12
    empty = _write_csv(tmp_path / "empty.csv", "step,d_loss,g_loss", [])
    with pytest.raises(LogError, match=_err(empty, "has 0 rows")):
        read_logs(empty)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(LogError, match=_err(blank, "is empty")):
        read_logs(blank)


def test_a_short_diverged_log_is_kept_for_the_divergence_rule(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "boom.csv", "step,d_loss,g_loss", [*_rows(4), "5,nan,inf"])
    (log,) = read_logs(path)
    assert len(log.trace["step"]) == 5 and math.isnan(log.trace["d_loss"][-1])


def test_an_inf_in_any_column_or_a_written_nan_in_a_per_step_column_is_divergence(tmp_path: Path) -> None:
    rows = [f"{s},1.0,0.7,{0.1 * s},0.5" for s in range(1, 31)]
    rows[14] = "15,1.0,0.7,inf,0.5"  # finite losses, an infinite gradient norm
    (log,) = read_logs(_write_csv(tmp_path / "inf.csv", "step,d_loss,g_loss,grad_norm_d,g_spread", rows))
    assert log.diverged_at == 15 and log.diverged_why == "grad_norm_d is inf at step 15"
    assert len(log.trace["step"]) == 30  # the rows are kept
    rows[14] = "15,1.0,0.7,1.5,nan"  # a NaN written in a column measured on every step
    (log,) = read_logs(_write_csv(tmp_path / "nan.csv", "step,d_loss,g_loss,grad_norm_d,g_spread", rows))
    assert log.diverged_at == 15 and "g_spread is nan" in log.diverged_why
    rows[14] = "15,1.0,0.7,1.5,"  # an empty cell is a value not measured, not a divergence
    (log,) = read_logs(_write_csv(tmp_path / "gap.csv", "step,d_loss,g_loss,grad_norm_d,g_spread", rows))
    assert log.diverged_at is None
    short = _write_csv(
        tmp_path / "short.csv", "step,d_loss,g_loss,d_real", ["1,1.0,1.0,0.1", "2,1.0,1.0,-inf"]
    )
    (log,) = read_logs(short)  # a diverged log is read however short
    assert log.diverged_at == 2 and log.diverged_why == "d_real is -inf at step 2"


def test_jsonl_null_is_a_gap_but_a_nan_literal_in_a_per_step_column_is_divergence(tmp_path: Path) -> None:
    recs = [{"step": s, "d_loss": 1.0, "g_loss": 1.0, "grad_norm_g": None} for s in range(1, 26)]
    jl = tmp_path / "log.jsonl"
    jl.write_text("\n".join(map(json.dumps, recs)))
    assert read_logs(jl)[0].diverged_at is None
    recs[20]["grad_norm_g"] = float("nan")  # json.dumps writes NaN
    jl.write_text("\n".join(map(json.dumps, recs)))
    assert read_logs(jl)[0].diverged_at == 21


def test_a_step_counter_that_restarts_every_epoch_is_numbered_on(tmp_path: Path) -> None:
    """4 epochs x 50 rows logged with a per-epoch step (0..49 each time) are one run of 200 rows,
    not the last epoch's 50; the note says what was done."""
    rows = [f"{s},{1.0 + e + s / 100},{0.5 + s / 50}" for e in range(4) for s in range(50)]
    path = _write_csv(tmp_path / "epochs.csv", "step,d_loss,g_loss", rows)
    (log,) = read_logs(path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(200))
    np.testing.assert_array_equal(log.trace["d_loss"][[0, 50, 199]], [1.0, 2.0, 4.49])
    (note,) = log.notes
    assert "starts again 3 time(s) (first at line 52, back to 0)" in note and "0 to 199" in note
    # a step counter that goes back to a later step is a resumed run: the later rows count
    resumed = _rows(100) + [f"{s},{9.0},{9.0}" for s in range(81, 151)]
    (log,) = read_logs(_write_csv(tmp_path / "resumed.csv", "step,d_loss,g_loss", resumed))
    np.testing.assert_array_equal(log.trace["step"], np.arange(1, 151))
    assert log.trace["d_loss"][80] == 9.0 and log.trace["d_loss"][79] == pytest.approx(1.8)
    assert log.notes == [f"`{tmp_path / 'resumed.csv'}`: 20 rows log a step again (a resumed run); "
                         "the later row of each step is kept."]  # fmt: skip
