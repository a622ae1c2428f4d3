"""What the commands show while they run and when they end: the training's live line and summary
table, the search's event lines and leaderboard, and times left as a person reads them."""

from __future__ import annotations

import math
import time
from typing import Any

from ganstab.formatting import short_value


def duration(seconds: float) -> str:
    """A time left as a person reads it: '42 s', '3 min 05 s', '2 h 07 min'; '?' when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


# ---------------------------------------------------------------------------------------- train


def _metric_keys(trainer) -> list[str]:
    return [f"eval_{c}" for c in trainer.evaluator.columns()] + ["eval_score"]


def summary_table(trainer, summary: list[dict[str, Any]]):
    """The finished training: one row per member, its status, last losses and metrics."""
    from rich.table import Table

    table = Table(title=f"ganstab: {trainer.step} steps in {trainer.wall_time:.1f} s")
    for col in ("member", "seed", "status", "d_loss", "g_loss"):
        table.add_column(col, justify="right")
    keys = _metric_keys(trainer)
    for k in keys:
        table.add_column(k.removeprefix("eval_"), justify="right")
    for m in summary:
        status = m["status"] + (f" @ {m['diverged_at']}" if m["status"] == "diverged" else "")
        table.add_row(
            str(m["member"]),
            str(m["seed"]),
            status,
            short_value(m.get("d_loss")),
            short_value(m.get("g_loss")),
            *[short_value(m.get(k)) for k in keys],
        )
    return table


class LiveDisplay:
    """Step, steps/s, losses and the latest metric, refreshed at each logged step."""

    def __init__(self, console, trainer) -> None:
        from rich.live import Live

        self.console, self.trainer = console, trainer
        self.live = (
            Live(console=console, refresh_per_second=4, transient=False) if console.is_terminal else None
        )
        self.last_print = 0.0

    def __enter__(self):
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def _line(self) -> str:
        t = self.trainer
        rate = t.step / max(t.wall_time, 1e-9)
        views = [t.member_view(i) for i in range(t.k)]
        running = [v for v in views if v["status"] == "running"] or views
        mean = lambda key: sum(v.get(key, math.nan) for v in running) / len(running)  # noqa: E731
        scores = [v["eval_score"] for v in views if "eval_score" in v and not math.isnan(v["eval_score"])]
        metric = f"best score {max(scores):.3f}" if scores else "no evaluation yet"
        diverged = sum(v["status"] == "diverged" for v in views)
        left = (t.steps - t.step) / rate if t.step > 0 else math.nan  # evaluations included in the rate
        return (
            f"step {t.step}/{t.steps}  {rate:.0f} steps/s ({rate * t.k:.0f} member-steps/s)  "
            f"{duration(left)} left  "
            f"d_loss {mean('d_loss'):.3f}  g_loss {mean('g_loss'):.3f}  {metric}"
            + (f"  diverged {diverged}/{t.k}" if diverged else "")
        )

    def update(self, trainer) -> None:
        if self.live is not None:
            self.live.update(self._line())
        elif time.monotonic() - self.last_print > 10 or trainer.step == trainer.steps:
            self.console.print(self._line())  # not a terminal (CI, pipes): a line every 10 s
            self.last_print = time.monotonic()


# --------------------------------------------------------------------------------------- search


class SearchProgress:
    """The search's event lines; after each trial that counts toward --trials, how many are done,
    and once the cohorts under way have all reported, the time left at this run's pace (a cohort's
    trials settle together, so a per-trial pace would jump within a cohort)."""

    def __init__(self, console, n_trials: int, done_before: int) -> None:
        self.console, self.n_trials, self.done = console, n_trials, done_before
        self.settled = 0  # counted trials this run settled
        self.pending: set[int] = set()  # trials of the cohorts under way
        self.started = time.monotonic()

    def __call__(self, event) -> None:
        from ganstab.search.outcomes import COUNTED_FAIL_STATUSES

        message = event.message
        if event.kind == "cohort":
            self.pending.update(event.data.get("trials", ()))
        r = event.data.get("result") if event.kind == "trial" else None
        if r is not None:
            self.pending.discard(r.trial_number)
            counted = r.state != "FAIL" or r.status in COUNTED_FAIL_STATUSES
            self.settled += counted
            self.done += counted
            if counted or not self.pending:
                tail = f"{min(self.done, self.n_trials)}/{self.n_trials} done"
                if not self.pending and self.settled:
                    per_trial = (time.monotonic() - self.started) / self.settled
                    left = max(self.n_trials - self.done, 0) * per_trial
                    tail += f", about {duration(left)} left"
                message += f"  [{tail}]"
        self.console.print(message, markup=False)


def leaderboard_table(board: list[dict[str, Any]], study_name: str, *, robust: bool):
    """The search's best trials (`leaderboard`'s rows) as a table; `robust`: the study's objective
    is late-robust, which the caption says."""
    from rich.table import Table

    from ganstab.search.leaderboard import quality_columns, score_words

    quality = quality_columns(board)
    table = Table(
        title=f"leaderboard: {study_name}",
        caption=f"score: {'mean minus spread of the' if robust else 'the mean'} quality score of a "
        f"trial's last third of evaluations ({score_words(board) if board else 'none yet'}); "
        f"{' and '.join(h for _, h in quality)}: its last evaluation",
    )
    for col in ("rank", "trial", "score", *(h for _, h in quality), "params", "diagnosis"):
        table.add_column(col)
    for row in board:
        params = ", ".join(f"{k.split('.')[-1]}={short_value(v)}" for k, v in row["params"].items())
        last = row["metrics"]
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            short_value(row["value"]),
            *(short_value(last.get(m, "-")) for m, _ in quality),
            params,
            str(row.get("diagnosis") or "-"),
        )
    return table
