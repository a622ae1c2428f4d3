"""The trace CSV: its columns, appending, truncation after a checkpoint, reading back."""

from __future__ import annotations

import math

import numpy as np

from ganstab.engine.trace import STEP_COLUMNS, TraceWriter, columns_for, json_safe, read_header, read_trace


def test_columns_are_the_step_columns_then_probes_then_metrics():
    cols = columns_for(("modes", "hq"))
    assert cols[: len(STEP_COLUMNS)] == list(STEP_COLUMNS)
    assert cols[len(STEP_COLUMNS) :] == ["g_move", "eval_modes", "eval_hq", "eval_score"]


def test_rows_append_and_read_back_with_nan_for_empty_cells(tmp_path):
    path = tmp_path / "m" / "trace.csv"
    w = TraceWriter(path, ["step", "d_loss", "eval_x"])
    w.write([{"step": 1, "d_loss": 0.5}, {"step": 2, "d_loss": float("nan"), "eval_x": 3.0}])
    TraceWriter(path, ["step", "d_loss", "eval_x"]).write([{"step": 3, "d_loss": 0.25}])  # no second header
    assert read_header(path) == ["step", "d_loss", "eval_x"]
    t = read_trace(path)
    np.testing.assert_array_equal(t["step"], [1, 2, 3])
    assert t["d_loss"][0] == 0.5 and math.isnan(t["d_loss"][1])
    assert math.isnan(t["eval_x"][0]) and t["eval_x"][1] == 3.0


def test_truncate_after_drops_the_rows_logged_after_a_step(tmp_path):
    path = tmp_path / "trace.csv"
    w = TraceWriter(path, ["step", "d_loss"])
    w.write([{"step": s, "d_loss": s / 10} for s in range(1, 6)])
    w.truncate_after(3)
    np.testing.assert_array_equal(read_trace(path)["step"], [1, 2, 3])


def test_no_file_has_no_header_and_json_safe_drops_non_finite(tmp_path):
    assert read_header(tmp_path / "missing.csv") is None
    assert json_safe({"a": [1.0, float("nan")], "b": float("inf"), "c": "x"}) == {"a": [1.0, None], "b": None, "c": "x"}
