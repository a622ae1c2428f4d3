"""Stability diagnosis: label a GAN run converging, collapsing or oscillating from its loss
traces (diverged on NaN/Inf), for ganstab's runs and anybody's logs. Knows the trace schema,
never the engine's internals."""

from __future__ import annotations

from ganstab.diagnose.result import DIVERGED, LABELS, Diagnosis

__all__ = ["DIVERGED", "LABELS", "Diagnosis", "DiagnosisPruner", "StabilityMonitor", "diagnose_trace"]


def __getattr__(name: str):
    # Lazy: importing ganstab must not import scikit-learn's models or optuna.
    if name in ("StabilityMonitor", "DiagnosisPruner"):
        from ganstab.diagnose import monitor

        return getattr(monitor, name)
    if name == "diagnose_trace":
        from ganstab.diagnose.classifier import diagnose_trace

        return diagnose_trace
    raise AttributeError(f"module 'ganstab.diagnose' has no attribute {name!r}")
