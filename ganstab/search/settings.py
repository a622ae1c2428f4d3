"""How a search runs: `SearchSettings` (made once, checked when made) and the checks that need the
search space too (`check_search`), before anything is opened or trained.

Every error is a `SearchError` naming the option and the value, with `key` set to the
`SearchSettings` field it is about.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from ganstab.checks import whole_number
from ganstab.engine.config import ConfigError, parse_overrides, qualify_key
from ganstab.search.errors import SearchError
from ganstab.search.factories import SCHEDULERS, make_sampler
from ganstab.search.heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S
from ganstab.search.space_model import SearchSpace
from ganstab.storage.urls import StorageError, mask_url, require_lasting

__all__ = [
    "DIRECTION",
    "OBJECTIVES",
    "SearchError",
    "SearchSettings",
    "check_classifier",
    "check_objective",
    "check_search",
]

DIRECTION = "maximize"  # eval_score: higher is better (ganstab.engine.metrics.score)
OBJECTIVES = ("late-mean", "late-robust")  # a finished trial's value (`late_score`)
POOL_FACTOR = 4  # asha: trials per cohort slot (about 0.26 of a full trial's steps each)


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise SearchError(
            f"objective must be one of {', '.join(OBJECTIVES)}, but got {objective!r}.", key="objective"
        )


def check_classifier() -> None:
    """Fail before any training when diagnosis is on but the shipped classifier is missing."""
    from ganstab.diagnose.classifier import MODELS, shipped_model
    from ganstab.diagnose.model_files import MODEL_DIR

    for kind in MODELS:
        try:
            shipped_model(kind)
        except (FileNotFoundError, ValueError) as e:
            raise SearchError(
                f"diagnose=True needs the diagnosis model {str(MODEL_DIR / f'{kind}.skops')!r}: {e} "
                f"Run without diagnosis (diagnose=False) until it exists.",
                key="diagnose",
            ) from e


def folder_name(study_name: str) -> str:
    """A study name as one safe folder name (runs_dir/<study>)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", study_name).strip(".") or "study"


def _whole(key: str, value: Any, minimum: int = 1, unit: str = "") -> int:
    """checks.whole_number, its error a SearchError about `key`."""
    try:
        return whole_number(key, value, minimum, unit=unit, error=SearchError)
    except SearchError as e:
        raise SearchError(str(e), key=key) from None


def _parse_extra(extra: Any) -> tuple[tuple[tuple[str, Any], ...], dict[str, str]]:
    """`extra_overrides` (key=value strings, or a mapping {key: value}) as qualified (key, value)
    pairs, parsed once, and how the user wrote each key's override (for messages)."""
    if isinstance(extra, Mapping):
        bad_keys = [k for k in extra if not isinstance(k, str) or not k.strip()]
        if bad_keys:
            raise SearchError(
                f"extra_overrides keys must be config keys, but got {bad_keys[0]!r}.", key="extra_overrides"
            )
        items = [(k.strip(), v, f"{k}: {v!r}") for k, v in extra.items()]
    else:
        bad = [x for x in extra if not isinstance(x, str) or "=" not in x]
        if bad:
            raise SearchError(
                f"extra_overrides must be key=value strings, but got {bad[0]!r}.", key="extra_overrides"
            )
        items = [(*next(iter(parse_overrides([x]).items())), x) for x in extra]
    pairs, written = [], {}
    for key, value, text in items:
        key = qualify_key(key)
        pairs.append((key, value))
        written[key] = text
    return tuple(pairs), written


@dataclass(frozen=True, kw_only=True, repr=False)
class SearchSettings:
    """How `run_search` runs a study (what it searches is the `SearchSpace`). Made once, checked
    when made: a bad value raises SearchError naming the option and the value.

    - `storage`: one SQLAlchemy URL for Optuna's tables and ganstab's (not an in-memory one).
    - `study_name`: the study to run or continue; `n_trials`: the verdicts it should hold (see
      `counts_toward_budget`).
    - `runs_dir`: run folders go to `runs_dir/<study>/cohort-NNN`, artifacts to
      `runs_dir/artifacts` (one store that `ganstab dashboard` serves for every study).
    - `sampler` (`SAMPLERS`) seeded with `seed`; `cohort_size` trials per cohort,
      `concurrent_cohorts` cohorts per round (run together where the executor has `run_many`).
    - `extra_overrides`: values applied to every trial's config, as `--set`-style `key=value`
      strings or a mapping {key: value}; parsed once, into `overrides` (qualified (key, value)
      pairs). They may not set a searched key.
    - `prune`: stop poor trials early with `quality_pruner` on `eval_score` (None: the
      scheduler's default, see `default_pruner`); with `diagnose` the classifier may prune too,
      and every finished member is diagnosed.
    - `scheduler`: "median" (every trial runs until pruned or done) or "asha": successive halving
      inside cohorts of `cohort_size` slots, a freed slot taking the next of the cohort's waiting
      trials (POOL_FACTOR x `cohort_size` of them).
    - `objective`: a finished trial's value from its last third of evaluations (`late-mean`, or
      `late-robust`: mean minus spread); None: the study's own, late-mean for a new one.
    - `budget` (member-steps) and `timeout` (minutes): no new trial starts once either is spent.
    - `heartbeat_interval` and `grace_period` (seconds): how a dead worker's trials are found.
    """

    storage: str
    study_name: str
    n_trials: int
    runs_dir: Path
    sampler: str = "tpe"
    seed: int = 0
    cohort_size: int = 4
    concurrent_cohorts: int = 1
    extra_overrides: tuple[str, ...] | Mapping[str, Any] = ()
    prune: bool = True
    diagnose: bool = True
    quality_pruner: optuna.pruners.BasePruner | None = None
    scheduler: str = "median"
    objective: str | None = None
    budget: int | None = None
    timeout: float | None = None
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int | None = GRACE_PERIOD_S
    # extra_overrides parsed: (qualified key, value) pairs, and each key's override as written
    overrides: tuple[tuple[str, Any], ...] = field(init=False, default=(), compare=False)
    _written: dict[str, str] = field(init=False, default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for key in ("n_trials", "cohort_size", "concurrent_cohorts"):
            object.__setattr__(self, key, _whole(key, getattr(self, key)))
        if not isinstance(self.study_name, str) or not self.study_name.strip():
            raise SearchError(f"study_name must be a non-empty string, but got {self.study_name!r}.", key="study_name")
        try:
            require_lasting(self.storage, "a search")
        except StorageError as e:
            raise SearchError(str(e), key="storage") from e
        if not isinstance(self.runs_dir, (str, os.PathLike)):
            raise SearchError(f"runs_dir must be a folder path, but got {self.runs_dir!r}.", key="runs_dir")
        object.__setattr__(self, "runs_dir", Path(self.runs_dir))
        self._set_overrides()
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SearchError(f"seed must be a whole number, but got {self.seed!r}.", key="seed")
        make_sampler(self.sampler, self.seed)  # a bad name or a missing package fails before any connection
        for name in ("prune", "diagnose"):
            if not isinstance(getattr(self, name), bool):
                raise SearchError(f"{name} must be True or False, but got {getattr(self, name)!r}.", key=name)
        if self.quality_pruner is not None and not isinstance(self.quality_pruner, optuna.pruners.BasePruner):
            raise SearchError(
                f"quality_pruner must be an Optuna pruner or None, but got {self.quality_pruner!r}.",
                key="quality_pruner",
            )
        if self.scheduler not in SCHEDULERS:
            raise SearchError(
                f"scheduler must be one of {', '.join(SCHEDULERS)}, but got {self.scheduler!r}.", key="scheduler"
            )
        if self.objective is not None:
            check_objective(self.objective)
        self._check_limits()

    def _set_overrides(self) -> None:
        extra = () if self.extra_overrides is None else self.extra_overrides
        if isinstance(extra, str) or not isinstance(extra, Iterable):
            raise SearchError(
                f"extra_overrides must be a list of key=value strings, but got {extra!r}.", key="extra_overrides"
            )
        extra = dict(extra) if isinstance(extra, Mapping) else tuple(extra)
        try:
            pairs, written = _parse_extra(extra)
        except ConfigError as e:
            raise SearchError(
                f"extra_overrides {_shown(extra)} give an invalid config: {e}", key="extra_overrides"
            ) from e
        object.__setattr__(self, "extra_overrides", extra)
        object.__setattr__(self, "overrides", pairs)
        object.__setattr__(self, "_written", written)

    def _check_limits(self) -> None:
        if self.budget is not None:
            object.__setattr__(self, "budget", _whole("budget", self.budget, unit=" of member-steps"))
        if self.timeout is not None and (
            isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0
        ):
            raise SearchError(f"timeout must be a number of minutes > 0, but got {self.timeout!r}.", key="timeout")
        interval = _whole("heartbeat_interval", self.heartbeat_interval, unit=" of seconds")
        object.__setattr__(self, "heartbeat_interval", interval)
        if self.grace_period is not None and (
            isinstance(self.grace_period, bool)
            or not isinstance(self.grace_period, int)
            or self.grace_period <= self.heartbeat_interval
        ):
            raise SearchError(
                f"grace_period must be a whole number of seconds above heartbeat_interval "
                f"({self.heartbeat_interval}), or None, but got {self.grace_period!r}.",
                key="grace_period",
            )

    def __repr__(self) -> str:  # the storage URL's password stays out of logs and tracebacks
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        shown["storage"] = mask_url(self.storage)
        return f"SearchSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def study_dir(self) -> Path:
        """The study's run folders: runs_dir/<study name as one safe folder name>."""
        return self.runs_dir / folder_name(self.study_name)

    @property
    def artifact_dir(self) -> Path:
        """One artifact store for every study, as `ganstab dashboard` serves it."""
        return self.runs_dir / "artifacts"

    @property
    def pool(self) -> int:
        """Trials per cohort: more than its slots under asha."""
        return self.cohort_size * POOL_FACTOR if self.scheduler == "asha" else self.cohort_size

    @property
    def slots(self) -> int:
        """Members a cohort trains at once (CohortJob.slots; 0: all its trials)."""
        return self.cohort_size if self.scheduler == "asha" else 0

    @property
    def override_values(self) -> dict[str, Any]:
        """`overrides` as {qualified key: value}, for `SearchSpace.config`."""
        return dict(self.overrides)


def _shown(extra: tuple[str, ...] | dict[str, Any]) -> Any:
    """extra_overrides as a message shows them: the list of strings, or the mapping."""
    return extra if isinstance(extra, dict) else list(extra)


def _check_overrides(space: SearchSpace, settings: SearchSettings) -> None:
    """Overrides may set anything but a searched key (they would silently replace the sampled
    value, so the trial's parameters would lie); the base config with them must be valid."""
    searched = {p.key for p in space.params}
    for key, _ in settings.overrides:
        if key in searched:
            raise SearchError(
                f"extra override {settings._written[key]!r} sets `{key}`, which the search space "
                f"{space.name!r} samples; drop the override or make the key `fixed` in the space.",
                key="extra_overrides",
            )
    try:
        space.config(settings.override_values)
    except ConfigError as e:
        raise SearchError(
            f"extra_overrides {_shown(settings.extra_overrides)} give an invalid config: {e}", key="extra_overrides"
        ) from e


_CHECKED_DATA: set[str] = set()  # configs whose data and networks passed (run_search checks again)


def _check_data_and_networks(space: SearchSpace, settings: SearchSettings) -> None:
    """The data set builds (a missing data.path, a factory that fails) and the user's networks
    import and fit it, before any study, trial or folder exists; a space may not sample a key
    that the user's networks refuse (model.g_mult, model.hidden, ...)."""
    from ganstab.engine import config as C
    from ganstab.engine.data import build_dataset
    from ganstab.engine.user_networks import check_user_code

    cfg = space.config(settings.override_values)
    if C.uses_user_networks(cfg.model):
        refused = {f"model.{k}" for k in (*C.G_ONLY_KEYS, *C.D_ONLY_KEYS, *C.SHAPE_KEYS, "msg")}
        for p in space.params:
            if p.key in refused:
                raise SearchError(
                    f"search space {space.name!r} samples `{p.key}`, which does not apply to your own networks "
                    f"(model.generator/model.discriminator are set); search another space or make it fixed.",
                    key="extra_overrides",
                )
    key = C.shape_key(cfg)
    if key in _CHECKED_DATA:
        return
    try:
        if cfg.data.name == "factory" or C.uses_user_networks(cfg.model):
            check_user_code(cfg)
        else:
            build_dataset(cfg.data)
    except ConfigError as e:
        raise SearchError(
            f"extra_overrides {_shown(settings.extra_overrides)} give an invalid config: {e}", key="extra_overrides"
        ) from e
    _CHECKED_DATA.add(key)


def check_search(space: SearchSpace, settings: SearchSettings) -> None:
    """What `run_search` checks before it opens anything, for a caller that wants the errors
    before it starts something costly (a Ray cluster): the settings against the space (no
    `extra_overrides` on a searched key), the data set and the user's networks (they build and
    fit), and, with `diagnose`, the diagnosis models."""
    if not isinstance(settings, SearchSettings):
        raise SearchError(f"settings must be a SearchSettings, but got {type(settings).__name__}.")
    _check_overrides(space, settings)
    _check_data_and_networks(space, settings)
    if settings.diagnose:
        check_classifier()
