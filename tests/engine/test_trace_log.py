"""TraceLog: which cohort rows are a member's own (by its own steps and its end), and writing
only the rows not yet on disk."""

from __future__ import annotations

import numpy as np

from ganstab.engine.trace_log import TraceLog, logged_steps


def test_logged_steps_are_every_log_every_every_eval_and_the_last():
    local = np.arange(0, 13)
    due = logged_steps(local, steps=11, log_every=4, eval_every=3)
    assert local[due].tolist() == [3, 4, 6, 8, 9, 11]  # not 0, not past the end (12)


def _log(steps: int = 6) -> TraceLog:
    log = TraceLog(["step", "x"], steps=steps, log_every=1, eval_every=0)
    # two slots; slot 1's member was refilled at cohort step 3 (its own steps restart at 1)
    for step in range(1, 9):
        own = [step, step - 3 if step > 3 else step]
        log.append(step, np.array([[own[0]], [own[1]]], dtype=float), k=2)
    return log


def test_a_refilled_slot_shows_only_its_new_member_s_rows():
    log = _log()
    assert log.member_trace(1, start=3, end=None)[:, 0].tolist() == [1, 2, 3, 4, 5]
    assert log.member_trace(0, start=0, end=None)[:, 0].tolist() == [1, 2, 3, 4, 5, 6]  # not past steps
    assert log.member_trace(0, start=0, end=2)[:, 0].tolist() == [1, 2]  # stopped at its step 2
    assert np.isnan(log.rows[0][0, 1])  # columns past the scalars wait for evaluations


class _Folder:
    def __init__(self) -> None:
        self.rows: dict[int, list] = {0: [], 1: []}
        self.evals: dict[int, list] = {}

    def write_rows(self, i, rows):
        self.rows[i] += rows

    def write_evals(self, i, evals):
        self.evals[i] = evals


def test_write_sends_each_row_once():
    log, folder = _log(), _Folder()
    log.write(folder, [0, 3], [None, None], [[{"step": 1}], []])
    log.append(9, np.array([[9.0], [6.0]]), k=2)
    log.write(folder, [0, 3], [None, None], [[{"step": 1}], []])
    assert [r["step"] for r in folder.rows[0]] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in folder.rows[1]] == [1, 2, 3, 4, 5, 6]
    assert folder.evals == {0: [{"step": 1}], 1: []} and log.written == 9
