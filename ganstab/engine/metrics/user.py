"""A user's own quality metric, named in the config by import path: `metric: "mypkg.quality:score"`.

The function is called at every evaluation, once per cohort member, as

    fn(real, fake) -> dict[str, float]

with `real` and `fake` CPU float tensors `[N, ...]` shaped like one sample of the data (points
`[N, D]`, images `[N, C, H, W]` in [-1, 1]). It returns a dict of numbers; the entry named
"score" is the objective (higher is better: return minus a distance), the others are reported
beside it (trace columns `eval_NAME`, the trial's attributes, the leaderboard). The data set's own
metrics are still computed, but the user's "score" replaces the family's as what a search
maximizes and what the recommendation's seed check ranks.

The name resolves from the working folder and the Python path. Before training starts the
function is imported and called once on two halves of the real data, so a name that does not
import, a function that raises or returns something else is an error naming the key `metric`.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from ganstab.engine.config_error import ConfigError

__all__ = ["METRIC_KEY", "SCORE_NAME", "UserMetric", "check_metric_name", "load_metric"]

METRIC_KEY = "metric"  # the config key
SCORE_NAME = "score"  # the entry of the returned dict that is the objective
_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_COLUMN = re.compile(r"^[A-Za-z_]\w*$")


def check_metric_name(spec: str) -> None:
    """The form `module.path:function`, checked without importing anything."""
    if not isinstance(spec, str) or not _SPEC.match(spec):
        raise ConfigError(f"`{METRIC_KEY}` must be an import path 'module.path:function', but got {spec!r}.")


@functools.cache
def load_metric(spec: str) -> Callable[..., Any]:
    """The function `spec` names ("pkg.mod:fn"), importable from the working folder too."""
    check_metric_name(spec)
    module_name, _, attr = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:  # the `ganstab` script, unlike `python -m`, leaves it out
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or whatever the user's module raises when imported
        raise ConfigError(
            f"`{METRIC_KEY}` {spec!r}: cannot import module {module_name!r} "
            f"({type(e).__name__}: {e}); it must import from the working folder or the Python path."
        ) from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"`{METRIC_KEY}` {spec!r}: module {module_name!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"`{METRIC_KEY}` {spec!r} must name a function, but it is a {type(obj).__name__}.")
    return obj


class UserMetric:
    """The user's function, checked once on real data; `columns` are its reported names (the
    score's excluded), `__call__` one member's dict."""

    def __init__(self, spec: str, real, taken: tuple[str, ...] = ()) -> None:
        self.spec = spec
        self.fn = load_metric(spec)
        half = real.shape[0] // 2
        probe = self._call(real[:half], real[half:])
        names = [n for n in probe if n != SCORE_NAME]
        clash = [n for n in names if n in taken]
        if clash:
            raise self._error(
                f"returned {clash[0]!r}, a name the data set's own metrics use ({', '.join(taken)})"
            )
        self.columns = tuple(names)

    def _error(self, what: str) -> ConfigError:
        return ConfigError(f"`{METRIC_KEY}` {self.spec!r} {what}.")

    def _call(self, real, fake) -> dict[str, float]:
        try:
            out = self.fn(real.detach().float().cpu(), fake.detach().float().cpu())
        except Exception as e:
            raise self._error(f"raised {type(e).__name__}: {e}") from e
        if not isinstance(out, dict):
            raise self._error(
                f"must return a dict of numbers with a {SCORE_NAME!r} entry, but returned {type(out).__name__}"
            )
        if SCORE_NAME not in out:
            raise self._error(
                f"must return a {SCORE_NAME!r} entry (the objective, higher is better); it returned {sorted(out)}"
            )
        values = {}
        for name, value in out.items():
            if not isinstance(name, str) or not _COLUMN.match(name):
                raise self._error(
                    f"returned the name {name!r}; names must be identifiers (they become columns eval_NAME)"
                )
            try:
                values[name] = float(value)
            except (TypeError, ValueError):
                raise self._error(f"returned {name}={value!r}, which is not a number") from None
        return values

    def __call__(self, real, fake) -> dict[str, float]:
        import torch

        if not bool(torch.isfinite(fake).all()):
            return {n: math.nan for n in (*self.columns, SCORE_NAME)}
        out = self._call(real, fake)
        return {n: out.get(n, math.nan) for n in (*self.columns, SCORE_NAME)}
