"""StabilityMonitor inside a training loop (issue 16 item 6): the model is loaded when the monitor
is made, and `diagnosis()` re-diagnoses only once the trace has grown by `refresh`, returning the
last diagnosis in between, except that a NaN/Inf loss is reported at once. Its speed is measured
by bench/monitor_speed.py, not here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganstab.diagnose import DiagnosisPruner, StabilityMonitor
from ganstab.diagnose.model import diagnose_trace, shipped_model


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
