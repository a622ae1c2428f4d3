"""The reader of a search-space document (parsed YAML, see `ganstab.search.space` for the format):
every key, type, bound, choice and condition checked, and every corner of the space resolved to a
valid config, before any trial runs. Each error is one line naming the file, the key and the rule
broken."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ganstab.engine.config import (
    PRESETS,
    SECTIONS,
    TOP_LEVEL_KEYS,
    Config,
    ConfigError,
    flat_items,
    from_dict,
    nest,
    preset,
    resolve,
)
from ganstab.search.space_model import KINDS, OPERATORS, Condition, Param, SearchSpace, SpaceError

__all__ = ["TOP_LEVEL", "read_space", "yaml_error_line"]

TOP_LEVEL = ("description", "base", "fixed", "params")
_PARAM_OPTIONS = ("log", "step", "when", "otherwise")


def read_space(path: Path, doc: Any) -> SearchSpace:
    """The space a parsed document describes (`path` names it in errors); SpaceError if invalid."""
    return _Reader(path).read(doc)


def yaml_error_line(error: yaml.YAMLError) -> str:
    """YAML's multi-line error on one line: each problem, with where it is ('in "file", line 2')."""
    return _one_line(str(error))


def _printable(text: str) -> str:
    """`text` with its control characters escaped (a key may hold a newline): one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line(text: str) -> str:
    """YAML's multi-line error on one line: each problem, with where it is ('in "file", line 2')."""
    joined = ""
    for part in (line.strip() for line in text.splitlines()):
        if part:
            joined += (" " if part.startswith("in ") else "; ") + part if joined else part
    return _printable(joined)


def _config_types() -> dict[str, Any]:
    """Flat config key -> its annotated type."""
    types: dict[str, Any] = {k: typing.get_type_hints(Config)[k] for k in TOP_LEVEL_KEYS}
    cfg = Config()
    for s in SECTIONS:
        for k, tp in typing.get_type_hints(type(getattr(cfg, s))).items():
            types[f"{s}.{k}"] = tp
    return types


def _number(value: Any) -> float | None:
    """A YAML number (also 1e-5, which YAML 1.1 reads as a string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


_KEY_IN_MESSAGE = re.compile(r"^`([^`]+)`")


class _Reader:
    """Turns a parsed YAML document into a SearchSpace, failing at the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.types = _config_types()
        assert set(self.types) == set(flat_items(Config())), "config keys and type hints disagree"

    def fail(self, where: str, problem: str) -> typing.NoReturn:
        raise SpaceError(_printable(f"{self.path}: `{where}`: {problem}"))

    # ---- keys and values

    def check_key(self, where: str, key: Any) -> str:
        if not isinstance(key, str):
            self.fail(where, f"keys are dotted config keys such as train.lr_d, but got {key!r}.")
        if key in self.types:
            return key
        hint = ""
        close = difflib.get_close_matches(key, list(self.types), n=1)
        if "." not in key:
            owners = [k for k in self.types if k.endswith(f".{key}")]
            if owners:
                close = owners
        if close:
            hint = f"; did you mean `{close[0]}`?"
        self.fail(where, f"unknown config key {key!r} (write section.name, e.g. train.lr_d){hint}")

    def check_value(self, where: str, key: str, value: Any) -> Any:
        """Convert `value` to the key's type as the config does; losses and data sets must exist."""
        try:
            converted = flat_items(from_dict(nest({key: value})))[key]
        except ConfigError as e:
            self.fail(where, f"{value!r} does not fit the key: {e}")
        if key == "train.loss" or key == "data.name":
            from ganstab.engine.dataset_registry import DATASETS
            from ganstab.engine.losses import LOSSES

            registry = LOSSES if key == "train.loss" else DATASETS
            if converted not in registry:
                self.fail(
                    where, f"{value!r} is not a registered {registry.kind}; choose from {registry.names()}."
                )
        return converted

    def numeric(self, key: str) -> str | None:
        """'int' or 'float' for numeric keys, else None."""
        tp = self.types[key]
        return "int" if tp is int else "float" if tp is float else None

    # ---- document

    def read(self, doc: Any) -> SearchSpace:
        if doc is None:
            self.fail("params", "the file is empty; a search space is a mapping with `params`.")
        if not isinstance(doc, dict):
            self.fail(
                "<top level>", f"a search space is a mapping with keys {list(TOP_LEVEL)}, but got {doc!r}."
            )
        for key in doc:
            if key not in TOP_LEVEL:
                self.fail(str(key), f"unknown top-level key; valid keys are {list(TOP_LEVEL)}.")
        description = doc.get("description") or ""
        if not isinstance(description, str):
            self.fail("description", f"must be text, but got {description!r}.")
        base = doc.get("base")
        if base is not None and (not isinstance(base, str) or base not in PRESETS):
            self.fail("base", f"must be a preset, one of {list(PRESETS)}, but got {base!r}.")
        fixed_doc = doc.get("fixed") or {}
        if not isinstance(fixed_doc, dict):
            self.fail("fixed", f"must be a mapping of config key to value, but got {fixed_doc!r}.")
        fixed = {}
        for key, value in fixed_doc.items():
            key = self.check_key(f"fixed.{key}", key)
            fixed[key] = self.check_value(f"fixed.{key}", key, value)
        if "params" not in doc:
            self.fail("params", "missing; a search space needs a `params` mapping (it may be `{}`).")
        params_doc = doc["params"] if doc["params"] is not None else {}
        if not isinstance(params_doc, dict):
            self.fail("params", f"must be a mapping of config key to distribution, but got {params_doc!r}.")
        space = SearchSpace(self.path.stem, description.strip(), base, fixed, [], self.path)
        for key, spec in params_doc.items():
            key = self.check_key(f"params.{key}", key)
            if key in fixed:
                self.fail(f"params.{key}", "is also in `fixed`; a key is either fixed or searched.")
            space.params.append(self.read_param(key, spec, space))
        self.check_corners(space)
        return space

    def read_param(self, key: str, spec: Any, space: SearchSpace) -> Param:
        where = f"params.{key}"
        if not isinstance(spec, dict):
            self.fail(where, f"must be a mapping such as {{log_uniform: [1e-5, 1e-2]}}, but got {spec!r}.")
        kinds = [k for k in spec if k in KINDS]
        unknown = [k for k in spec if k not in KINDS and k not in _PARAM_OPTIONS]
        if unknown:
            self.fail(
                where,
                f"unknown entry {unknown[0]!r}; a param has one distribution of {list(KINDS)} "
                f"and optionally {list(_PARAM_OPTIONS)}.",
            )
        if len(kinds) != 1:
            self.fail(where, f"needs exactly one distribution of {list(KINDS)}, but got {kinds or 'none'}.")
        kind = kinds[0]
        if kind == "choice":
            param = self.read_choice(where, key, spec)
        else:
            param = self.read_range(where, key, kind, spec)
        when = tuple(self.read_when(where, spec["when"], space)) if "when" in spec else ()
        has_otherwise = "otherwise" in spec
        if has_otherwise and not when:
            self.fail(f"{where}.otherwise", "only applies to a param with a `when`.")
        otherwise = self.check_value(f"{where}.otherwise", key, spec["otherwise"]) if has_otherwise else None
        return dataclasses.replace(param, when=when, otherwise=otherwise, has_otherwise=has_otherwise)

    def read_choice(self, where: str, key: str, spec: dict[str, Any]) -> Param:
        for option in ("log", "step"):
            if option in spec:
                self.fail(f"{where}.{option}", "only applies to `uniform` and `int`.")
        raw = spec["choice"]
        if not isinstance(raw, list) or not raw:
            self.fail(f"{where}.choice", f"needs a non-empty list of values, but got {raw!r}.")
        choices = []
        for value in raw:
            if isinstance(value, (list, dict)):
                self.fail(
                    f"{where}.choice",
                    f"values must be single numbers, strings or true/false, but got {value!r}.",
                )
            converted = self.check_value(f"{where}.choice", key, value)
            if converted in choices:
                self.fail(f"{where}.choice", f"{value!r} is listed twice.")
            choices.append(converted)
        return Param(key, "choice", choices=tuple(choices))

    def read_range(self, where: str, key: str, kind: str, spec: dict[str, Any]) -> Param:
        numeric = self.numeric(key)
        wanted = "int" if kind == "int" else "float"
        if numeric != wanted:
            use = (
                "`choice`"
                if numeric is None
                else "`int`"
                if numeric == "int"
                else "`uniform` or `log_uniform`"
            )
            self.fail(
                f"{where}.{kind}",
                f"needs a {wanted} key, but {key} is {_type_name(self.types[key])}; use {use}.",
            )
        bounds = spec[kind]
        if not isinstance(bounds, list) or len(bounds) != 2:
            self.fail(f"{where}.{kind}", f"needs [low, high], but got {bounds!r}.")
        if kind == "int":
            if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
                self.fail(f"{where}.int", f"bounds must be integers, but got {bounds!r}.")
            low, high = bounds
        else:
            low, high = (_number(b) for b in bounds)
            if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
                self.fail(f"{where}.{kind}", f"bounds must be finite numbers, but got {bounds!r}.")
            low, high = float(low), float(high)
        if not low < high:
            self.fail(f"{where}.{kind}", f"needs low < high, but got {bounds!r}; use `fixed` for one value.")
        log = spec.get("log", False)
        if kind == "log_uniform":
            if low <= 0:
                self.fail(f"{where}.log_uniform", f"needs 0 < low < high, but got {bounds!r}.")
            if "log" in spec:
                self.fail(f"{where}.log", "log_uniform is already on a log scale; drop `log`.")
            log = True
        if kind == "uniform" and "log" in spec:
            self.fail(f"{where}.log", "use `log_uniform` for a float on a log scale.")
        if not isinstance(log, bool):
            self.fail(f"{where}.log", f"must be true or false, but got {log!r}.")
        if log and low <= 0:
            self.fail(f"{where}.int", f"with log: true needs 0 < low < high, but got {bounds!r}.")
        step = spec.get("step")
        if step is not None:
            if kind == "log_uniform" or log:
                self.fail(f"{where}.step", "cannot be combined with a log scale (Optuna's rule).")
            number = _number(step)
            if kind == "int" and not (isinstance(step, int) and not isinstance(step, bool)):
                number = None
            if number is None or not number > 0:
                self.fail(f"{where}.step", f"must be a positive {wanted}, but got {step!r}.")
            step = number
        return Param(key, kind, low=low, high=high, step=step, log=log)

    def read_when(self, where: str, when: Any, space: SearchSpace) -> Iterable[Condition]:
        where = f"{where}.when"
        if not isinstance(when, dict) or not when:
            self.fail(
                where,
                f"needs a mapping {{KEY: CONDITION}}, such as {{train.loss: wgan-gp}}, but got {when!r}.",
            )
        earlier = {p.key: p for p in space.params}
        for key, raw in when.items():
            key = self.check_key(f"{where}.{key}", key)
            here = f"{where}.{key}"
            if key not in earlier and key not in space.fixed:
                self.fail(
                    here, "a condition may only refer to a param listed above this one or to a `fixed` key."
                )
            if isinstance(raw, dict):
                if len(raw) != 1 or next(iter(raw)) not in OPERATORS:
                    self.fail(
                        here, f"needs one operator of {list(OPERATORS)}, such as {{gt: 0}}, but got {raw!r}."
                    )
                op, value = next(iter(raw.items()))
            elif isinstance(raw, list):
                op, value = "in", raw
            else:
                op, value = "eq", raw
            if op in ("in", "not_in"):
                if not isinstance(value, list) or not value:
                    self.fail(here, f"`{op}` needs a non-empty list of values, but got {value!r}.")
                value = tuple(self.check_value(here, key, v) for v in value)
                listed = value
            elif op in ("eq", "ne"):
                value = self.check_value(here, key, value)
                listed = (value,)
            else:
                number = _number(value)
                if self.numeric(key) is None or number is None:
                    self.fail(
                        here,
                        f"`{op}` compares numbers, so it needs a numeric key and a number, but {key} is "
                        f"{_type_name(self.types[key])} and the value is {value!r}.",
                    )
                value, listed = number, ()
            if key in earlier and earlier[key].kind == "choice":
                p = earlier[key]
                extra = [
                    v for v in listed if v not in p.choices and not (p.has_otherwise and v == p.otherwise)
                ]
                if extra:
                    self.fail(here, f"{extra[0]!r} is not among the choices of {key}, {list(p.choices)}.")
            yield Condition(key, op, value)

    # ---- whole-space check

    def check_corners(self, space: SearchSpace) -> None:
        """Every choice and bound of every param, with its conditions made true, must resolve."""
        by_key = {p.key: p for p in space.params}
        if not space.params:
            self.resolve_or_fail(space, None, None, dict(space.fixed))
        for p in space.params:
            for value in p.corners():
                forced = {p.key: value}
                self.force(space, p, by_key, forced)
                chosen, picked = space._assign(lambda q, forced=forced: forced.get(q.key, q.corners()[0]))
                if p.key not in picked:
                    conditions = " and ".join(str(c) for c in p.when)
                    self.fail(
                        f"params.{p.key}.when",
                        f"`{conditions}` never holds together, so it is never sampled.",
                    )
                self.resolve_or_fail(space, p, value, chosen)

    def force(self, space: SearchSpace, p: Param, by_key: dict[str, Param], forced: dict[str, Any]) -> None:
        """Pick values for the params that p's conditions refer to, so that they hold."""
        for c in p.when:
            if c.key in forced:
                continue
            q = by_key.get(c.key)
            if q is None:  # a fixed key: the condition is decided once and for all
                if not c.holds(space.fixed[c.key]):
                    self.fail(
                        f"params.{p.key}.when.{c.key}",
                        f"`{c}` never holds: {c.key} is fixed at {space.fixed[c.key]!r}.",
                    )
                continue
            fits = [v for v in q.corners() if c.holds(v)]
            if not fits:
                self.fail(
                    f"params.{p.key}.when.{c.key}",
                    f"`{c}` never holds for the values {c.key} can take ({q.describe()}).",
                )
            forced[c.key] = fits[0]
            self.force(space, q, by_key, forced)

    def resolve_or_fail(
        self, space: SearchSpace, p: Param | None, value: Any, chosen: dict[str, Any]
    ) -> None:
        try:
            resolve(from_dict(nest(chosen), preset(space.base) if space.base else Config()))
        except ConfigError as e:
            match = _KEY_IN_MESSAGE.match(str(e))
            culprit = match.group(1) if match else None
            if p is None or culprit in space.fixed:
                self.fail(
                    f"fixed.{culprit}" if culprit in space.fixed else "base", f"gives an invalid config: {e}"
                )
            what = "the value" if p.kind == "choice" else "the bound"
            hint = ""
            params = {q.key for q in space.params}
            if culprit in params and culprit != p.key and culprit not in chosen:
                hint = (
                    f" {culprit} is not sampled in that trial and keeps its base value: "
                    f"give it `otherwise:` or change its `when`."
                )
            elif culprit is not None and culprit not in params and culprit in self.types:
                hint = (
                    f" {culprit} comes from `base: {space.base or '(defaults)'}`: "
                    f"set it in `fixed`, or search it with a `when`."
                )
            self.fail(f"params.{p.key}", f"{what} {value!r} gives an invalid config: {e}{hint}")
