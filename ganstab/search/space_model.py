"""A loaded search space: the base config and fixed values every trial starts from, and the params
a study samples (`Param`), each under its conditions (`Condition`). How a space is written in
YAML and read is `ganstab.search.space`'s."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganstab.engine.config import (
    MEMBER_KEYS,
    Config,
    apply_overrides,
    apply_values,
    flat_items,
    from_dict,
    nest,
    preset,
    resolve,
)

if TYPE_CHECKING:
    import optuna

__all__ = ["KINDS", "OPERATORS", "Condition", "Param", "SearchSpace", "SpaceError"]

KINDS = ("log_uniform", "uniform", "int", "choice")
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "ge", "lt", "le")


class SpaceError(ValueError):
    """A search-space file is invalid; the message names the file, the key and the problem."""


@dataclass(frozen=True)
class Condition:
    """`KEY OP VALUE`, one entry of a param's `when`."""

    key: str
    op: str  # one of OPERATORS
    value: Any  # converted to the key's type; a tuple for in / not_in

    def holds(self, actual: Any) -> bool:
        op, v = self.op, self.value
        if op == "eq":
            return actual == v
        if op == "ne":
            return actual != v
        if op == "in":
            return actual in v
        if op == "not_in":
            return actual not in v
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return False
        return {"gt": actual > v, "ge": actual >= v, "lt": actual < v, "le": actual <= v}[op]

    def __str__(self) -> str:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.key} {self.op} {value!r}"


@dataclass(frozen=True)
class Param:
    """One searched config key: its distribution, its condition and its value when inactive."""

    key: str
    kind: str  # one of KINDS
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    when: tuple[Condition, ...] = ()
    otherwise: Any = None
    has_otherwise: bool = False  # `otherwise: null` is a value of its own

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether the `when` conditions hold on `values` (flat key -> value the trial runs with)."""
        return all(c.holds(values[c.key]) for c in self.when)

    def suggest(self, trial: optuna.trial.Trial) -> Any:
        """Ask Optuna for a value; the full key is the parameter name the dashboard shows."""
        if self.kind == "log_uniform":
            return trial.suggest_float(self.key, self.low, self.high, log=True)
        if self.kind == "uniform":
            return trial.suggest_float(self.key, self.low, self.high, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_categorical(self.key, list(self.choices))

    def corners(self) -> list[Any]:
        """The extreme values a trial can get: every choice, or the lowest and highest number."""
        if self.kind == "choice":
            return list(self.choices)
        high = self.high
        if self.kind == "int" and self.step:
            high = self.low + (self.high - self.low) // self.step * self.step
        return [self.low, high]

    def describe(self) -> str:
        if self.kind == "choice":
            text = f"{self.key}: one of {list(self.choices)}"
        else:
            scale = " (log)" if self.kind == "log_uniform" or self.log else ""
            step = f" step {self.step}" if self.step else ""
            kind = "integer" if self.kind == "int" else "float"
            text = f"{self.key}: {kind} in [{self.low}, {self.high}]{scale}{step}"
        if self.when:
            text += f", when {' and '.join(str(c) for c in self.when)}"
            if self.has_otherwise:
                text += f", otherwise {self.otherwise!r}"
        return text


@dataclass
class SearchSpace:
    """A loaded search space: a base config, fixed values and the params a study samples."""

    name: str
    description: str = ""
    base: str | None = None  # preset name; None = the config defaults
    fixed: dict[str, Any] = field(default_factory=dict)  # flat key -> value
    params: list[Param] = field(default_factory=list)
    path: Path | None = None
    # (base, fixed) -> (start config, its flat items), made once: a search builds a config per
    # trial, and the preset and fixed values are the same for every one (`_start`)
    _start_cache: tuple[Any, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def start_config(self) -> Config:
        """The base preset with the fixed values applied: what every trial starts from."""
        return from_dict(None, self._start()[0])  # a copy: the caller may change it

    def _start(self) -> tuple[Config, dict[str, Any]]:
        """The start config and its flat items, shared (never changed): remade only if `base` or
        `fixed` changed since."""
        cache = self._start_cache
        if cache is None or cache[0] != self.base or cache[1] != self.fixed:
            cfg = from_dict(nest(self.fixed), preset(self.base) if self.base else Config())
            cache = self._start_cache = (self.base, copy.deepcopy(self.fixed), cfg, flat_items(cfg))
        return cache[2], cache[3]

    def _assign(self, pick: Callable[[Param], Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Walk the params in order; return (every value set, the values picked by `pick`)."""
        values = dict(self._start()[1])
        chosen: dict[str, Any] = dict(self.fixed)
        picked: dict[str, Any] = {}
        for p in self.params:
            if p.active(values):
                value = picked[p.key] = pick(p)
            elif p.has_otherwise:
                value = p.otherwise
            else:
                continue
            values[p.key] = chosen[p.key] = value
        return chosen, picked

    def sample(self, trial: optuna.trial.Trial) -> dict[str, Any]:
        """Sample one trial: flat key -> value, the fixed values, sampled params and `otherwise`
        values (for `config(values=...)`)."""
        return self._assign(lambda p: p.suggest(trial))[0]

    def config(
        self, overrides: Iterable[str] | Mapping[str, Any] = (), *, values: Mapping[str, Any] | None = None
    ) -> Config:
        """Base preset + fixed + `values` (flat key -> value, as `sample` gives them: applied as
        they are, never written out and parsed back) + `overrides` (a mapping {key: value}, as
        `SearchSettings.overrides` holds them, or `--set`-style `key=value` strings, a user's
        input), resolved: an invalid combination raises ConfigError."""
        cfg = from_dict(nest(values) if values else None, self._start()[0])
        if isinstance(overrides, Mapping):
            return resolve(apply_values(cfg, overrides))
        return resolve(apply_overrides(cfg, list(overrides)))

    def shape_keys(self) -> list[str]:
        """Params outside MEMBER_KEYS: they change tensor shapes, so only trials equal in them share a cohort."""
        return [p.key for p in self.params if p.key not in MEMBER_KEYS]

    def describe(self) -> str:
        """A few lines for the CLI: what the space is, what it starts from and what it varies."""
        lines = [f"{self.name}: {self.description}".rstrip(": "), f"  base: {self.base or 'defaults'}"]
        lines += [f"  fixed {k} = {v!r}" for k, v in self.fixed.items()]
        lines += [f"  {p.describe()}" for p in self.params]
        return "\n".join(lines)
