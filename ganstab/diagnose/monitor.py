"""Live diagnosis: `StabilityMonitor` inside anybody's training loop, and `DiagnosisPruner`, an
Optuna pruner that stops trials confidently diagnosed collapsing or diverged.

Lesson 2 (don't stop on a loss spike): nothing here reacts to one loss value. A diagnosis looks at
the whole trace so far, and the pruner acts only on a confident label from the classifier (or on a
NaN/Inf, which is divergence, not a spike).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ganstab.diagnose.classifier import MIN_ROWS, MODELS, diagnose_trace, shipped_model
from ganstab.diagnose.features import OPTIONAL_COLUMNS
from ganstab.diagnose.result import DIVERGED, Diagnosis

OPTIONAL = OPTIONAL_COLUMNS


class StabilityMonitor:
    """Feed it each logged step's losses; ask for the diagnosis of the run so far.

        monitor = StabilityMonitor()  # loads the classifier now (seconds), not in the loop
        for step in ...:
            ...
            monitor.update(step, d_loss=loss_d.item(), g_loss=loss_g.item())
            if (d := monitor.diagnosis()) is not None:  # cheap enough to ask every step
                print(d.label, d.confidence, d.advice)

    Extra keyword values named in docs/traces.md (`d_real`, `d_fake`, `grad_norm_d`,
    `grad_norm_g`, `g_spread`, `g_drift`, `data_spread`, `g_move`) are kept; with all of them
    (`g_move` from its third value on) the "rich" model is used, before that "losses".

    Cost: the models are loaded when the monitor is made. A diagnosis reads the whole trace
    (about 0.1 s for 10,000 rows on a 2-core CPU), so `diagnosis()` makes a new one only once the
    trace has grown by `refresh` (a fraction of its rows, default 5 %) since the last one, and
    returns that last one in between: its `rows` says how much of the trace it saw, never more
    than 5 % behind. A NaN/Inf loss is reported at the next call, however recent. `refresh=0`
    diagnoses afresh on every call (what DiagnosisPruner does).
    """

    def __init__(self, *, model: str = "auto", min_rows: int = MIN_ROWS, refresh: float = 0.05) -> None:
        if model != "auto" and model not in MODELS:
            raise ValueError(f"Unknown diagnosis model {model!r}; choose one of auto, {', '.join(MODELS)}.")
        if not 0.0 <= refresh <= 1.0:
            raise ValueError(f"`refresh` must be in [0, 1] (a fraction of the rows), but got {refresh}.")
        self.model = model
        self.min_rows = max(min_rows, MIN_ROWS)
        self.refresh = refresh
        # Load now: the first load takes seconds (skops checks every type), which a training
        # loop should pay before it starts, not at its first diagnosis. Cached per process.
        for kind in MODELS if model == "auto" else (model,):
            shipped_model(kind)
        self._rows: dict[str, list[float]] = {"step": [], "d_loss": [], "g_loss": []}
        self._last: Diagnosis | None = None  # the last diagnosis made, returned until `refresh`
        self._diverged = False  # a NaN/Inf loss was fed: the next call must see it

    def update(self, step: int, d_loss: float, g_loss: float, **extra: float) -> None:
        if self._rows["step"] and step <= self._rows["step"][-1]:
            raise ValueError(f"`step` must increase, but got {step} after {self._rows['step'][-1]}.")
        unknown = set(extra) - set(OPTIONAL)
        if unknown:
            raise ValueError(f"Unknown trace values {sorted(unknown)}; known: {', '.join(OPTIONAL)}.")
        n = len(self._rows["step"])
        for key, value in (("step", step), ("d_loss", d_loss), ("g_loss", g_loss), *extra.items()):
            column = self._rows.setdefault(key, [math.nan] * n)  # a value first seen late
            column.append(float(value))
        for column in self._rows.values():
            if len(column) == n:
                column.append(math.nan)
        if not (math.isfinite(self._rows["d_loss"][-1]) and math.isfinite(self._rows["g_loss"][-1])):
            self._diverged = True

    @property
    def rows(self) -> int:
        return len(self._rows["step"])

    def trace(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=float) for k, v in self._rows.items()}

    def diagnosis(self) -> Diagnosis | None:
        """The diagnosis of the run so far (at most `refresh` of its rows behind, see the class),
        or None before `min_rows` rows (or, with a model named explicitly, before the run has
        logged the columns it reads)."""
        if self.rows < self.min_rows:
            return None
        last = self._last
        if last is not None and (last.label == DIVERGED or not self._stale(last.rows)):
            return last  # a divergence never changes: its first NaN/Inf stays where it was
        self._last = diagnose_trace(self.trace(), model=self.model, wait=True)
        return self._last

    def _stale(self, seen: int) -> bool:
        return self._diverged or self.rows - seen >= max(1.0, self.refresh * seen)


def _base_pruner():
    try:
        import optuna
    except ImportError as e:  # optional dependency: only the pruner needs it
        raise ImportError("DiagnosisPruner needs optuna: pip install optuna") from e
    return optuna.pruners.BasePruner


class DiagnosisPruner(_base_pruner()):
    """Prune a trial when its run is diagnosed `collapsing` (with probability >= `threshold`) or
    `diverged`.

    The objective feeds the trial's losses into `pruner.monitor_for(trial)` and calls
    `trial.should_prune()` as usual. `wrapped` (e.g. a MedianPruner on the quality metric) is
    consulted first. `trace_for(frozen_trial)` can replace the monitors, for traces kept elsewhere.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.9,
        labels: tuple[str, ...] = ("collapsing", DIVERGED),
        min_rows: int = 40,
        wrapped=None,
        trace_for: Callable | None = None,
        model: str = "auto",
    ) -> None:
        if not 0.5 <= threshold <= 1.0:
            raise ValueError(f"`threshold` must be in [0.5, 1], but got {threshold}.")
        self.threshold = threshold
        self.labels = labels
        self.min_rows = min_rows
        self.wrapped = wrapped
        self.trace_for = trace_for
        self.model = model
        self._monitors: dict[int, StabilityMonitor] = {}
        self.last: dict[int, Diagnosis] = {}  # the latest diagnosis per trial number

    def monitor_for(self, trial) -> StabilityMonitor:
        number = trial.number
        if number not in self._monitors:
            # refresh=0: the pruner asks once per report, and each answer must see every row so far
            self._monitors[number] = StabilityMonitor(model=self.model, min_rows=self.min_rows, refresh=0.0)
        return self._monitors[number]

    def prune(self, study, trial) -> bool:
        if self.wrapped is not None and self.wrapped.prune(study, trial):
            return True
        if self.trace_for is not None:
            trace = self.trace_for(trial)
            if trace is None or len(trace["d_loss"]) < self.min_rows:
                return False
            diagnosis = diagnose_trace(trace, model=self.model, wait=True)
        else:
            monitor = self._monitors.get(trial.number)
            diagnosis = monitor.diagnosis() if monitor is not None else None
        if diagnosis is None:
            return False
        self.last[trial.number] = diagnosis
        return diagnosis.label in self.labels and diagnosis.confidence >= self.threshold
