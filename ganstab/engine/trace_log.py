"""A cohort's trace in memory: one row `[K, columns]` per logged cohort step, which of those rows
are each member's own (a refilled slot holds members that started at different steps), and their
writing to the run folder. The file format itself is engine/trace.py's."""

from __future__ import annotations

import numpy as np

from ganstab.engine.run_folder import RunFolder


def logged_steps(local: np.ndarray, *, steps: int, log_every: int, eval_every: int) -> np.ndarray:
    """Which of a member's own steps its trace logs: every `log_every`, and its evaluations."""
    due = (local % log_every == 0) | (local == steps)
    if eval_every > 0:
        due |= local % eval_every == 0
    return due & (local >= 1) & (local <= steps)


class TraceLog:
    """The logged rows of a cohort and the cohort step of each; `written` rows are on disk."""

    def __init__(self, columns: list[str], *, steps: int, log_every: int, eval_every: int) -> None:
        self.columns = columns
        self.col = {c: i for i, c in enumerate(columns)}
        self.rows: list[np.ndarray] = []  # rows [K, len(columns)], one per logged step
        self.steps: list[int] = []  # the cohort step of each row
        self.written = 0  # rows already written to disk
        self._schedule = {"steps": steps, "log_every": log_every, "eval_every": eval_every}

    def logged(self, local: np.ndarray) -> np.ndarray:
        return logged_steps(local, **self._schedule)

    def append(self, step: int, scalars: np.ndarray, k: int) -> np.ndarray:
        """A new row at cohort `step` holding the step's scalars (evaluations fill in the rest)."""
        row = np.full((k, len(self.columns)), np.nan)
        row[:, : scalars.shape[1]] = scalars
        self.rows.append(row)
        self.steps.append(step)
        return row

    def member_rows(self, i: int, start: int, end: int | None, first: int = 0) -> list[np.ndarray]:
        """Slot i's rows among rows `first`.. for the member that started at cohort step `start`
        and stopped training at its own step `end` (None: still training), as its trace logs them."""
        rows = [t[i] for t, g in zip(self.rows[first:], self.steps[first:]) if g > start]
        if not rows:
            return []
        local = np.array([r[0] for r in rows])
        keep = self.logged(local) & (local <= end if end is not None else True)
        return [r for r, k in zip(rows, keep) if k]

    def member_trace(self, i: int, start: int, end: int | None) -> np.ndarray:
        rows = self.member_rows(i, start, end)
        return np.stack(rows) if rows else np.zeros((0, len(self.columns)))

    def write(self, folder: RunFolder, starts: list[int], ends: list[int | None], eval_log: list[list]) -> None:
        """Each member's evaluations and its rows not yet on disk."""
        for i, (start, end) in enumerate(zip(starts, ends)):
            folder.write_evals(i, eval_log[i])
            rows = [dict(zip(self.columns, r.tolist())) for r in self.member_rows(i, start, end, self.written)]
            folder.write_rows(i, rows)
        self.written = len(self.rows)
