"""The trace: one CSV row per logged step of one run (one cohort member). Schema in docs/traces.md.

Written once here, read by diagnosis, the dashboard and the corpus tools. Columns:

    step         G updates done so far (1-based)
    d_loss       D's loss at this step (first D update of the step; WGAN-GP includes the penalty)
    g_loss       G's loss at this step
    d_real       mean D output (logit) on the real batch
    d_fake       mean D output (logit) on the fake batch
    grad_norm_d  L2 norm of D's gradient (all parameters)
    grad_norm_g  L2 norm of G's gradient
    lr_d, lr_g   learning rates in force
    noise_std    instance-noise std in force (0 = off)
    g_spread     mean per-coordinate std of G's outputs within the batch (a label-free collapse signal)
    g_drift      how far the batch mean of G's outputs moved since the previous step, in units of
                 g_spread (a label-free signal of mass jumping between modes)
    data_spread  the real data's mean per-coordinate std (the same on every row): what g_spread is
                 for a generator that spreads like the data
    g_move       only on evaluation rows: how far G's samples of the fixed evaluation latents moved
                 since the previous evaluation, in units of the data's scale (what a fixed-noise
                 sample grid shows; label-free: no mode, class or metric is used)
    eval_*       quality metrics, only on evaluation rows (empty elsewhere); eval_score is the
                 family's single higher-is-better number (ganstab.engine.metrics.score)
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

STEP_COLUMNS = (
    "step",
    "d_loss",
    "g_loss",
    "d_real",
    "d_fake",
    "grad_norm_d",
    "grad_norm_g",
    "lr_d",
    "lr_g",
    "noise_std",
    "g_spread",
    "g_drift",
    "data_spread",
)
# Label-free columns measured at evaluations (NaN on other rows), kept in corpora beside STEP_COLUMNS.
EVAL_PROBE_COLUMNS = ("g_move",)


def columns_for(metric_names: tuple[str, ...]) -> list[str]:
    return (
        list(STEP_COLUMNS) + list(EVAL_PROBE_COLUMNS) + [f"eval_{m}" for m in metric_names] + ["eval_score"]
    )


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


class TraceWriter:
    """Appends rows to a trace CSV, writing the header once."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = Path(path)
        self.columns = columns
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(columns)

    def write(self, rows: list[dict[str, object]]) -> None:
        if not rows:
            return
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            for row in rows:
                w.writerow([_fmt(row.get(c)) for c in self.columns])

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after `step` (written after the last checkpoint, before a crash)."""
        with self.path.open(newline="") as f:
            rows = list(csv.reader(f))
        keep = [rows[0]] + [r for r in rows[1:] if r and int(float(r[0])) <= step]
        with self.path.open("w", newline="") as f:
            csv.writer(f).writerows(keep)


def read_header(path: str | Path) -> list[str] | None:
    """A trace CSV's column names (None if there is no file, or it is empty)."""
    path = Path(path)
    if not path.exists():
        return None
    with path.open(newline="") as f:
        return next(csv.reader(f), None)


def read_trace(path: str | Path) -> dict[str, np.ndarray]:
    """A trace CSV as {column: float array}; empty cells are NaN."""
    with Path(path).open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if r]
    out = {}
    for i, name in enumerate(header):
        out[name] = np.array([float(r[i]) if r[i] != "" else math.nan for r in rows], dtype=float)
    return out


def json_safe(o: object) -> object:
    """NaN and +-Inf -> None, recursively, for JSON (which has neither)."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: json_safe(v) for k, v in o.items()}
    if isinstance(o, list):
        return [json_safe(v) for v in o]
    return o
