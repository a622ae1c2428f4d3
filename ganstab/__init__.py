"""ganstab: stable GAN training configurations, found, diagnosed and recommended."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["DiagnosisPruner", "StabilityMonitor", "__version__", "api"]


def __getattr__(name: str):
    # `ganstab.StabilityMonitor` / `ganstab.DiagnosisPruner` / `ganstab.api` (search, train and
    # recommend from Python) without importing torch or optuna at `import ganstab`.
    if name == "api":
        import importlib

        return importlib.import_module("ganstab.api")
    if name in ("StabilityMonitor", "DiagnosisPruner"):
        from ganstab.diagnose import monitor

        return getattr(monitor, name)
    raise AttributeError(f"module 'ganstab' has no attribute {name!r}")
