"""StabilityMonitor inside a training loop (issue 16 item 6): the model is loaded when the monitor
is made, and `diagnosis()` re-diagnoses only once the trace has grown by `refresh`, returning the
last diagnosis in between, except that a NaN/Inf loss is reported at once. Its speed is measured
by bench/monitor_speed.py, not here. On runs of the committed corpus: it follows a run live, waits
for the rich model's columns, and its pruner ignores a transient spike."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from ganstab.diagnose import DiagnosisPruner, StabilityMonitor
from ganstab.diagnose.classifier import diagnose_trace, held_out, shipped_model
from ganstab.diagnose.features import OPTIONAL_COLUMNS
from tests.diagnose.corpus_examples import _first


def _losses(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return 1.3 + 0.1 * rng.standard_normal(n), 0.8 + 0.1 * rng.standard_normal(n)


def test_the_models_are_loaded_when_the_monitor_is_made(monkeypatch) -> None:
    from ganstab.diagnose import monitor as monitor_module

    asked = []  # the real (cached) loader, recording what the monitor asks it for

    def loader(kind):
        asked.append(kind)
        return shipped_model(kind)

    monkeypatch.setattr(monitor_module, "shipped_model", loader)
    StabilityMonitor(model="losses")
    assert asked == ["losses"]
    StabilityMonitor()  # "auto" may use either model
    assert asked == ["losses", "losses", "rich"]
    assert shipped_model.cache_info().currsize == 2  # both in memory before any diagnosis()
    with pytest.raises(
        ValueError, match="Unknown diagnosis model 'richer'; choose one of auto, losses, rich"
    ):
        StabilityMonitor(model="richer")  # a wrong name fails before training, not in the loop
    with pytest.raises(ValueError, match=r"`refresh` must be in \[0, 1\].*but got 2"):
        StabilityMonitor(refresh=2)


def test_diagnosis_is_refreshed_once_the_trace_grew_by_refresh() -> None:
    d, g = _losses(500)
    monitor = StabilityMonitor(refresh=0.05)
    for i in range(400):
        monitor.update(i, d[i], g[i])
    first = monitor.diagnosis()
    assert first is not None and first.rows == 400
    for i in range(400, 419):  # 19 rows: under 5 % of 400
        monitor.update(i, d[i], g[i])
        assert monitor.diagnosis() is first
    monitor.update(419, d[419], g[419])  # the 20th new row: 5 %
    second = monitor.diagnosis()
    assert second is not first and second.rows == 420
    trace = monitor.trace()
    assert second.probabilities == diagnose_trace(trace).probabilities  # a fresh diagnosis of it all
    monitor.update(420, math.nan, g[420])  # divergence is never held back
    diverged = monitor.diagnosis()
    assert diverged.label == "diverged" and diverged.diverged_at == 420 and diverged.rows == 421
    monitor.update(421, 1.0, 1.0)
    assert monitor.diagnosis() is diverged


def test_refresh_zero_diagnoses_on_every_call_as_the_pruner_does() -> None:
    d, g = _losses(60, seed=1)
    monitor = StabilityMonitor(refresh=0)
    seen = []
    for i in range(60):
        monitor.update(i, d[i], g[i])
        if (diagnosis := monitor.diagnosis()) is not None:
            seen.append(diagnosis.rows)
    assert seen == list(range(20, 61))

    class Trial:
        number = 7

    assert DiagnosisPruner().monitor_for(Trial()).refresh == 0.0  # every prune() sees every row


def test_monitor_follows_a_run_live(examples):
    e = _first(examples, "collapsing")
    monitor = StabilityMonitor()
    for i in range(len(e.trace["step"])):
        monitor.update(int(e.trace["step"][i]), e.trace["d_loss"][i], e.trace["g_loss"][i])
        if monitor.rows == 10:
            assert monitor.diagnosis() is None
    assert (
        monitor.diagnosis().label
        == diagnose_trace({k: e.trace[k] for k in ("step", "d_loss", "g_loss")}).label
    )
    with pytest.raises(ValueError, match="must increase"):
        monitor.update(1, 0.0, 0.0)


def test_a_monitor_asked_for_the_rich_model_waits_for_its_columns(examples):
    """g_move arrives once per evaluation: a monitor (or pruner) named "rich" says nothing until
    the third value, rather than raising in the middle of a training loop; then it diagnoses."""
    e = _first(examples, "oscillating")
    extra = [c for c in e.trace if c in OPTIONAL_COLUMNS]
    monitor, seen = StabilityMonitor(model="rich"), []
    for i in range(len(e.trace["step"])):
        monitor.update(
            int(e.trace["step"][i]),
            e.trace["d_loss"][i],
            e.trace["g_loss"][i],
            **{c: e.trace[c][i] for c in extra},
        )
        values = int(np.isfinite(e.trace["g_move"][: i + 1]).sum())
        seen.append((monitor.rows, values, monitor.diagnosis()))
    waiting = [d for rows, values, d in seen if rows >= 20 and values < 3]
    ready = [d for rows, values, d in seen if rows >= 20 and values >= 3]
    assert waiting and all(d is None for d in waiting)
    assert ready and all(d is not None and d.model == "rich" for d in ready)


def _run_study(trace: dict[str, np.ndarray], pruner: DiagnosisPruner) -> optuna.trial.FrozenTrial:
    study = optuna.create_study(direction="maximize", pruner=pruner)

    def objective(trial):
        monitor = pruner.monitor_for(trial)
        for i in range(len(trace["step"])):
            monitor.update(int(trace["step"][i]), trace["d_loss"][i], trace["g_loss"][i])
            if i % 10 == 9:
                trial.report(0.0, i)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return 1.0

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=1)
    return study.trials[0]


def test_pruner_ignores_a_transient_spike_but_stops_collapse_and_divergence(examples):
    """Lesson 2: a loss spike that recovers is not a reason to stop."""
    converging = next(
        e for e in examples
        if e.label == "converging" and held_out(e.id)
        and diagnose_trace({k: e.trace[k] for k in ("step", "d_loss", "g_loss")}).confidence >= 0.9
    )  # fmt: skip
    spiky = {k: converging.trace[k].copy() for k in ("step", "d_loss", "g_loss")}
    mid = len(spiky["step"]) // 2
    spiky["d_loss"][mid : mid + 3] *= 25  # a transient spike, then back to normal
    spiky["g_loss"][mid : mid + 3] *= 25
    pruner = DiagnosisPruner(threshold=0.9)
    assert _run_study(spiky, pruner).state == optuna.trial.TrialState.COMPLETE
    assert all(d.label != "diverged" for d in pruner.last.values())

    collapsing = max(
        (e for e in examples if e.label == "collapsing" and held_out(e.id)),
        key=lambda e: diagnose_trace({k: e.trace[k] for k in ("step", "d_loss", "g_loss")}).probabilities[
            "collapsing"
        ],
    )
    losses = {k: collapsing.trace[k] for k in ("step", "d_loss", "g_loss")}
    assert _run_study(losses, DiagnosisPruner(threshold=0.6)).state == optuna.trial.TrialState.PRUNED

    nan = {k: v.copy() for k, v in spiky.items()}
    nan["d_loss"][mid + 20 :] = np.inf
    assert _run_study(nan, DiagnosisPruner()).state == optuna.trial.TrialState.PRUNED
