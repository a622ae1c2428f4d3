"""From a log's cells to a trace: numbers checked (`number`), rows sorted by step with a repeated
step's last row kept, a restarting step counter numbered on, and the first sign of divergence
found (`finish`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ganstab.diagnose.logs.columns import COLUMNS, EVERY_STEP, VALUE_COLUMNS, shown
from ganstab.diagnose.logs.results import LogError, Parsed


def number(v: Any, col: str, name: str, path: Path, where: str) -> float:
    """A cell as a float: numbers and number text ("1.5", "nan", "inf"); anything else is an error."""
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return math.nan
        try:
            x = float(s)
        except ValueError:
            x = None
        if x is not None and "_" not in s:  # float() also takes "1_0"
            return _finite_step(x, col, name, v, path, where)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            x = float(v)
        except OverflowError:  # a JSON integer past float's range: infinite, as its text would read
            x = math.inf if v > 0 else -math.inf
        return _finite_step(x, col, name, v, path, where)
    raise LogError(f"`{path}` {where}: `{shown(name)}` must be a number, but got {v!r}.")


def _finite_step(x: float, col: str, name: str, raw: Any, path: Path, where: str) -> float:
    if col == "step" and not math.isfinite(x):
        raise LogError(f"`{path}` {where}: `{shown(name)}` (the step) must be a finite number, but got {raw!r}.")
    return x


def finish(
    values: dict[str, list[float]],
    path: Path,
    min_rows: int,
    *,
    gaps: dict[str, list[bool]] | None = None,
    where: list[str] | None = None,
    known: tuple[float, str] | None = None,
) -> Parsed:
    """Arrays in schema order, sorted by step with the last row of a repeated step kept, a
    restarting step counter numbered on, and the first sign of divergence found.

    `gaps[col]` marks cells that were not measured (an empty CSV cell, a missing key or a JSON
    null): their NaN is no sign of divergence. `where` names each row for notes ("line 7").
    `known`: (step, why) of a divergence the run's summary.json reports."""
    arrays = {c: np.asarray(values[c], dtype=float) for c in COLUMNS if c in values}
    step, note = renumber_epochs(arrays["step"], path, where)
    notes = [note] if note else []
    order = np.argsort(step, kind="stable")  # equal steps keep file order, so the last comes last
    s = step[order]
    keep = order[np.r_[s[1:] != s[:-1], True]] if len(s) else order
    if len(keep) < len(step):
        notes.append(
            f"`{path}`: {len(step) - len(keep)} rows log a step again (a resumed run); "
            "the later row of each step is kept."
        )
    trace = {c: a[keep] for c, a in arrays.items()}
    trace["step"] = step[keep]
    n = len(trace["step"])
    diverged_at, why = _first_bad_row(trace, {c: np.asarray(g, bool)[keep] for c, g in (gaps or {}).items()})
    if known is not None and (diverged_at is None or known[0] < diverged_at):
        diverged_at, why = known
    if diverged_at is None and n < min_rows:
        raise LogError(
            f"`{path}` has {n} rows (distinct steps); diagnosis needs at least {min_rows}. "
            "Log more often or train longer."
        )
    return Parsed(trace, diverged_at, why, notes)


def _first_bad_row(trace: dict[str, np.ndarray], gaps: dict[str, np.ndarray]) -> tuple[float | None, str]:
    """Step and words of the first row with a sign of divergence: a NaN/Inf loss, an Inf in any
    column, or a measured NaN in an EVERY_STEP column."""
    n = len(trace["step"])
    signs: dict[str, np.ndarray] = {}
    for c in VALUE_COLUMNS:
        if c not in trace:
            continue
        x = trace[c]
        sign = np.isinf(x)
        if c in EVERY_STEP:
            sign |= np.isnan(x) & ~gaps.get(c, np.zeros(n, bool))
        if sign.any():
            signs[c] = sign
    if not signs:
        return None, ""
    row = min(int(np.argmax(sign)) for sign in signs.values())
    what = ", ".join(f"{c} is {trace[c][row]}" for c, sign in signs.items() if sign[row])
    at = float(trace["step"][row])
    return at, f"{what} at step {step_text(at)}"


def renumber_epochs(step: np.ndarray, path: Path, where: list[str] | None = None) -> tuple[np.ndarray, str]:
    """Rows numbered on where the step counter starts again from the log's first step (a per-epoch
    counter: 0..49, 0..49, ...), with a note; unchanged otherwise. That is the case when every
    place the step goes back starts a run of at least two rows from the first step or below. A
    step that goes back to a later step than the first is a resumed run, and rows in no order are
    just sorted: `finish` resolves both."""
    if len(step) < 2:
        return step, ""
    restarts = [int(i) for i in np.flatnonzero(np.diff(step) < 0) + 1]
    bounds = [0, *restarts, len(step)]
    if not restarts or any(step[i] > step[0] for i in restarts) or min(np.diff(bounds)) < 2:
        return step, ""
    diffs = np.diff(step)
    dt = float(np.median(diffs[diffs > 0])) if (diffs > 0).any() else 1.0  # the logging interval
    out = step.copy()
    bounds = [*restarts, len(step)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        out[a:b] = step[a:b] - step[a] + out[a - 1] + dt
    first = where[restarts[0]] if where else f"row {restarts[0] + 1}"
    note = (
        f"`{path}`: the step counter starts again {len(restarts)} time(s) (first at {first}, "
        f"back to {step_text(step[restarts[0]])}), as a per-epoch counter does; its {len(step)} rows "
        f"are read as one run, steps numbered on ({step_text(out[0])} to {step_text(out[-1])}). "
        "If they are separate runs, give each its own file."
    )
    return out, note


def step_text(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and x == int(x) else f"{x:g}"
