"""The search driver behind `ganstab search`: Optuna ask/tell over cohorts, resumable after a kill.

Each cohort member is one Optuna trial. The driver asks up to `cohort_size` trials, samples each
from the search space, groups the trials whose configs share every shape-fixing key (anything
outside `MEMBER_KEYS`) into cohorts, and hands each cohort to an executor as a `CohortJob`. The
executor runs `ganstab.search.cohort.run_cohort`, which reports, prunes and tells each trial itself
(in-process here; a Ray remote task later calls the same function on a worker).

Budget: `n_trials` counts the trials that reached a verdict (`counts_toward_budget`): COMPLETE,
PRUNED, and FAIL with `status=diverged`. Trials that failed because their worker died, raised, or
got an invalid config do not count, so the same command with the same `n_trials` continues a
study until it holds that many verdicts.

Resume: the study is loaded if it exists (`load_if_exists=True`). Trials left RUNNING by a dead
driver are marked FAIL at the start (and before every cohort): at once when their worker was a
process of this host that no longer runs, otherwise by Optuna's heartbeat after `grace_period`
seconds without a beat. Their parameters are enqueued again (`retry_of` names the failed trial),
so no sampled point is lost; finished trials are never touched.

Concurrent cohorts: each round asks up to `cohort_size * concurrent_cohorts` trials (never more
than the budget has room for), splits them into cohorts of at most `cohort_size` (one shape per
cohort), and hands all of them to `executor.run_many(jobs)` when the executor has it (Ray runs
them at once), else to `executor(job)` one after another. Until a worker claims a trial (its
`worker` attribute names another process) or settles it, the driver beats for it, so a cohort
that waits in Ray's queue longer than `grace_period` is not taken for a dead one.

Several drivers (processes or machines with the same `storage` and `study_name`) share the work:
each cohort runs in exactly one driver (its trials are asked by it; its folder is claimed with an
atomic mkdir). The guarantee on the count: on SQLite files and PostgreSQL, a round's count of
verdicts and RUNNING trials and its asks are one critical section across all drivers (a
PostgreSQL advisory lock; on SQLite an flock on `<database>.ganstab-lock` beside the file), so
no driver asks a trial the budget has no room for: the study never holds more than `n_trials`
verdicts (the largest `n_trials` when drivers disagree), and exactly `n_trials` once any driver
returns normally (a driver returns only then; one with no room left waits for the others' trials
to settle). Trials that end without a verdict (error, invalid, lost) free their place, so the
study can hold more trials than `n_trials` in all, but only the retries they need. Opening a new
database (creating the tables and the study) is serialized the same way. Other backends get no
lock: concurrent drivers may then overshoot by up to (drivers - 1) x cohort_size x
concurrent_cohorts verdicts. Each round reseeds the sampler with `seed` plus the number of
trials in the study, so drivers started with the same seed do not sample the same points (and a
single driver stays reproducible).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.util
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ganstab.engine.config import TOP_LEVEL_KEYS, Config, ConfigError, flat_items, shape_key
from ganstab.search.cohort import (
    DIRECTION,
    OBJECTIVES,
    CohortJob,
    MemberResult,
    SearchError,
    check_classifier,
    check_objective,
    run_cohort,
)
from ganstab.search.events import EventFn, SearchEvent, emit
from ganstab.search.space import SearchSpace
from ganstab.search.trials import (
    ATTR_STATUS,
    ATTR_WORKER,
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    BatchedWrites,
    Heartbeat,
    StaleTrialRequeuer,
    heartbeat_enabled,
    worker_id,
    worker_is_dead,
)
from ganstab.storage import Store
from ganstab.storage.studies import open_optuna_storage
from ganstab.storage.urls import (
    StorageError,
    connect_args,
    is_memory_sqlite,
    mask_url,
    normalize_url,
    require_lasting,
)

__all__ = [
    "SAMPLERS",
    "CohortJob",
    "Executor",
    "LocalExecutor",
    "MemberResult",
    "SearchError",
    "SearchEvent",
    "SearchSettings",
    "counts_toward_budget",
    "leaderboard",
    "make_sampler",
    "recover_stale_trials",
    "run_search",
]

SAMPLERS = ("tpe", "random", "cmaes", "gp")
SCHEDULERS = ("median", "asha")  # how a cohort spends its steps (see run_search)
ASHA_ETA = 3  # successive halving: a third of each rung goes on
POOL_FACTOR = 4  # asha: trials per cohort slot (about 0.26 of a full trial's steps each)
WARMUP_FRACTION = 0.3  # the default quality pruner ignores the first 30% of training (lesson 2)
N_STARTUP_TRIALS = 5  # ... and prunes nothing before this many trials are COMPLETE
COUNTED_FAIL_STATUSES = ("diverged",)  # FAIL trials that still are a verdict on their config
SPACE_ATTR = "ganstab_space"  # study user attribute: the search space's name
OBJECTIVE_ATTR = "ganstab_objective"  # study user attribute: how trial values are made
LOCK_SUFFIX = ".ganstab-lock"  # beside a SQLite file: the drivers' lock (see "Several drivers")

log = logging.getLogger(__name__)

Executor = Callable[[CohortJob], list[MemberResult]]


class LocalExecutor:
    """Runs each cohort in this process, one after another, on the driver's own connections."""

    def __init__(self, storage: optuna.storages.BaseStorage, store: Store) -> None:
        self.storage = storage
        self.store = store

    def __call__(self, job: CohortJob) -> list[MemberResult]:
        return run_cohort(job, storage=self.storage, store=self.store)


# ------------------------------------------------------------------------------------- helpers


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """A seeded Optuna sampler by name: tpe, random, cmaes (needs `cmaes`), gp (needs torch and
    scipy)."""
    if name == "tpe":
        # A cohort's trials are asked together, before any of them is told: the constant liar
        # keeps TPE from proposing the same region K times; multivariate TPE models the
        # learning rates jointly (lr_d and lr_g matter as a pair, lesson 9).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise SearchError("sampler 'cmaes' needs the cmaes package: pip install cmaes")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        missing = [m for m in ("torch", "scipy") if importlib.util.find_spec(m) is None]
        if missing:
            raise SearchError(f"sampler 'gp' needs {' and '.join(missing)}: pip install {' '.join(missing)}")
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    raise SearchError(f"sampler must be one of {list(SAMPLERS)}, but got {name!r}.")


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Whether a trial is a verdict on its configuration: COMPLETE, PRUNED, or diverged (FAIL)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get(ATTR_STATUS) in COUNTED_FAIL_STATUSES


def _folder_name(study_name: str) -> str:
    """A study name as one safe folder name (runs_dir/<study>)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", study_name).strip(".") or "study"


def _override_key(item: str, known: Iterable[str]) -> str:
    """The full config key an override `key=value` sets (`lr_d` -> `train.lr_d`)."""
    key = item.split("=", 1)[0].strip()
    if "." in key or key in TOP_LEVEL_KEYS:
        return key
    owners = [k for k in known if k.endswith(f".{key}")]
    return owners[0] if len(owners) == 1 else key


def _check_overrides(space: SearchSpace, extra: Sequence[str]) -> None:
    """Overrides may set anything but a searched key (they would silently replace the sampled
    value, so the trial's parameters would lie); the base config with them must be valid."""
    known = list(flat_items(Config()))
    searched = {p.key for p in space.params}
    for item in extra:
        key = _override_key(item, known)
        if key in searched:
            raise SearchError(
                f"extra override {item!r} sets `{key}`, which the search space {space.name!r} samples; "
                f"drop the override or make the key `fixed` in the space."
            )
    try:
        space.config(list(extra))
    except ConfigError as e:
        raise SearchError(f"extra_overrides {list(extra)} give an invalid config: {e}") from e


def recover_stale_trials(
    study: optuna.Study,
    requeue: StaleTrialRequeuer,
    store: Store | None = None,
    grace_period: int | None = GRACE_PERIOD_S,
    orphans: bool = False,
) -> list[int]:
    """Fail the RUNNING trials whose worker is gone and re-enqueue their parameters; returns their
    numbers. A worker of this host that no longer runs is gone at once; any other worker after
    the heartbeat's grace period (Optuna's `fail_stale_trials`, which calls `requeue`). A trial
    that never got a worker attribute (its driver died right after asking it) is gone once it is
    older than the grace period, or at once with `orphans`: the caller holds the drivers' exclusive
    ask lock, inside which every live driver names itself on the trials it asks, so such a trial's
    driver died in there."""
    storage = study._storage
    before = len(requeue.failed)
    if heartbeat_enabled(storage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    now = datetime.now()  # Optuna stores naive local times
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(ATTR_WORKER)
        if isinstance(worker, str):
            if not worker_is_dead(worker):
                continue
            reason = f"its worker {worker} is no longer running"
        else:
            started = trial.datetime_start
            expired = (
                grace_period is not None
                and started is not None
                and (now - started).total_seconds() > grace_period
            )
            if not (orphans or expired):
                continue
            when = f" at {started:%Y-%m-%d %H:%M:%S}" if started is not None else ""
            reason = f"it was asked{when} by a driver that died before naming itself"
        try:
            storage.set_trial_user_attr(trial._trial_id, ATTR_STATUS, "lost")
            storage.set_trial_user_attr(trial._trial_id, "error", f"lost: {reason}")
            if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                requeue(study, trial, reason)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another driver settled it first
    failed = requeue.failed[before:]
    if store is not None:
        for number in failed:
            run = store.find_run(study.study_name, number)
            if run is not None:  # even if it got as far as writing its final status before the kill
                store.set_status(run.id, "lost")
    return failed


class _DriverLock:
    """The lock every ganstab driver of one database takes around a round's count and asks (and
    around opening the database): a PostgreSQL transaction-level advisory lock, one key per name,
    on a connection of its own; on a SQLite file an exclusive flock on `<file>.ganstab-lock`
    (SQLite databases are local files, and every driver of one opens the same path). Other
    backends, in-memory and `file:` SQLite URLs get no lock (`held` then locks nothing). A driver
    that dies releases the lock with its connection or file."""

    def __init__(self, url: str) -> None:
        self.backend = ""
        self.path: Path | None = None
        self._engine: Any = None
        try:
            sa_url = normalize_url(url)
        except Exception:
            return  # SearchSettings names a bad URL
        self.sa_url = sa_url
        self.backend = sa_url.get_backend_name()
        db = sa_url.database or ""
        if self.backend == "sqlite" and not is_memory_sqlite(sa_url) and not db.startswith("file:"):
            self.path = Path(os.path.abspath(db + LOCK_SUFFIX))

    @property
    def exclusive(self) -> bool:
        """Whether `held` really excludes the other drivers (PostgreSQL, SQLite files)."""
        return self.backend == "postgresql" or self.path is not None

    @contextlib.contextmanager
    def held(self, name: str) -> Iterator[None]:
        if self.backend == "postgresql":
            with self._pg_lock(name):
                yield
        elif self.path is not None:
            with self._file_lock():  # two threads of one process exclude each other too
                yield
        else:
            yield

    @contextlib.contextmanager
    def _pg_lock(self, name: str) -> Iterator[None]:
        from sqlalchemy import create_engine, text

        key = int.from_bytes(hashlib.sha256(f"ganstab:{name}".encode()).digest()[:8], "big", signed=True)
        conn = None
        try:
            if self._engine is None:
                self._engine = create_engine(
                    self.sa_url, pool_size=1, pool_pre_ping=True, connect_args=connect_args(self.sa_url)
                )
            conn = self._engine.connect()
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        except Exception as e:
            if conn is not None:
                conn.close()
            raise SearchError(
                f"storage {mask_url(self.sa_url)!r}: cannot take the drivers' lock {name!r}: {e}"
            ) from e
        try:
            yield
        finally:
            conn.rollback()  # ends the transaction: releases the lock
            conn.close()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        assert self.path is not None
        if not self.path.parent.is_dir():  # no database either: opening the storage says so
            yield
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise SearchError(
                f"cannot open the drivers' lock file {str(self.path)!r} beside the SQLite database: {e}"
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class _QueueBeat(Heartbeat):
    """Heartbeats, from the driver, for the trials it asked that no worker has started yet (a
    cohort waiting in Ray's queue): without them, a wait longer than the grace period would make
    another driver fail the trials as stale. A trial leaves the set once it is settled or its
    `worker` attribute names another process (run_cohort then beats for it itself)."""

    name = "ganstab-queue-heartbeat"

    def __init__(self, storage: optuna.storages.BaseStorage, interval: int, me: str) -> None:
        super().__init__(storage, interval)
        self.me = me

    def keep(self, trial_id: int) -> bool:
        trial = self.storage.get_trial(trial_id)
        return trial.state == TrialState.RUNNING and trial.user_attrs.get(ATTR_WORKER) == self.me


def _claim_cohort_dir(study_dir: Path, start: int) -> tuple[int, Path]:
    """The next free cohort-NNN folder, created atomically (two drivers never share one)."""
    index = start
    while True:
        path = study_dir / f"cohort-{index:03d}"
        try:
            path.mkdir(parents=True)
            return index, path
        except FileExistsError:
            index += 1


def _ask(
    study: optuna.Study, me: str, space: SearchSpace, extra: Sequence[str], writes: BatchedWrites
) -> tuple[optuna.Trial, Config | str]:
    """Ask one trial (RUNNING from now on: other drivers count it) and sample its config, then
    name this driver as its owner: a trial with an owner always has all its parameters, so a
    re-run of it after a kill is the same point (a kill before that leaves an orphan, which the
    next round fails at once). The owner and the first heartbeat join `writes` (the caller
    flushes them inside the ask lock); the parameters are stored as they are drawn, so that a
    sampler's constant liar sees the round's earlier trials."""
    with warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for study.optimize; run_cohort beats itself.
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trial = study.ask()
    cfg = _sample(trial, space, extra)
    writes.set_trial_user_attr(trial._trial_id, ATTR_WORKER, me)
    if heartbeat_enabled(study._storage):
        writes.record_heartbeat(trial._trial_id)
    return trial, cfg


def _sample(trial: optuna.Trial, space: SearchSpace, extra: Sequence[str]) -> Config | str:
    """The trial's resolved config, or the error text when the sampled combination is not a
    valid config."""
    try:
        return space.config(extra, values=space.sample(trial))
    except ConfigError as e:
        return str(e)


# ---------------------------------------------------------------------------------------- search


def _whole(name: str, value: Any, low: int = 1, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SearchError(f"{name} must be a whole number{unit} >= {low}, but got {value!r}.")


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
    - `extra_overrides`: `--set`-style `key=value` strings applied to every trial's config; they
      may not set a searched key.
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
    extra_overrides: tuple[str, ...] = ()
    prune: bool = True
    diagnose: bool = True
    quality_pruner: optuna.pruners.BasePruner | None = None
    scheduler: str = "median"
    objective: str | None = None
    budget: int | None = None
    timeout: float | None = None
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int | None = GRACE_PERIOD_S

    def __post_init__(self) -> None:
        _whole("n_trials", self.n_trials)
        _whole("cohort_size", self.cohort_size)
        _whole("concurrent_cohorts", self.concurrent_cohorts)
        if not isinstance(self.study_name, str) or not self.study_name.strip():
            raise SearchError(f"study_name must be a non-empty string, but got {self.study_name!r}.")
        try:
            require_lasting(self.storage, "a search")
        except StorageError as e:
            raise SearchError(str(e)) from e
        if not isinstance(self.runs_dir, (str, os.PathLike)):
            raise SearchError(f"runs_dir must be a folder path, but got {self.runs_dir!r}.")
        object.__setattr__(self, "runs_dir", Path(self.runs_dir))
        extra = () if self.extra_overrides is None else self.extra_overrides
        if isinstance(extra, str) or not isinstance(extra, Iterable):
            raise SearchError(f"extra_overrides must be a list of key=value strings, but got {extra!r}.")
        bad = [x for x in extra if not isinstance(x, str) or "=" not in x]
        if bad:
            raise SearchError(f"extra_overrides must be key=value strings, but got {bad[0]!r}.")
        object.__setattr__(self, "extra_overrides", tuple(extra))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SearchError(f"seed must be a whole number, but got {self.seed!r}.")
        make_sampler(self.sampler, self.seed)  # a bad name or a missing package fails before any connection
        for name in ("prune", "diagnose"):
            if not isinstance(getattr(self, name), bool):
                raise SearchError(f"{name} must be True or False, but got {getattr(self, name)!r}.")
        if self.quality_pruner is not None and not isinstance(self.quality_pruner, optuna.pruners.BasePruner):
            raise SearchError(f"quality_pruner must be an Optuna pruner or None, but got {self.quality_pruner!r}.")
        if self.scheduler not in SCHEDULERS:
            raise SearchError(f"scheduler must be one of {', '.join(SCHEDULERS)}, but got {self.scheduler!r}.")
        if self.objective is not None:
            check_objective(self.objective)
        if self.budget is not None:
            _whole("budget", self.budget, unit=" of member-steps")
        if self.timeout is not None and (
            isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0
        ):
            raise SearchError(f"timeout must be a number of minutes > 0, but got {self.timeout!r}.")
        _whole("heartbeat_interval", self.heartbeat_interval, unit=" of seconds")
        if self.grace_period is not None and (
            isinstance(self.grace_period, bool)
            or not isinstance(self.grace_period, int)
            or self.grace_period <= self.heartbeat_interval
        ):
            raise SearchError(
                f"grace_period must be a whole number of seconds above heartbeat_interval "
                f"({self.heartbeat_interval}), or None, but got {self.grace_period!r}."
            )

    def __repr__(self) -> str:  # the storage URL's password stays out of logs and tracebacks
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["storage"] = mask_url(self.storage)
        return f"SearchSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def study_dir(self) -> Path:
        """The study's run folders: runs_dir/<study name as one safe folder name>."""
        return self.runs_dir / _folder_name(self.study_name)

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


def check_search(space: SearchSpace, settings: SearchSettings) -> None:
    """What `run_search` checks before it opens anything, for a caller that wants the errors
    before it starts something costly (a Ray cluster): the settings against the space (no
    `extra_overrides` on a searched key) and, with `diagnose`, the diagnosis models."""
    if not isinstance(settings, SearchSettings):
        raise SearchError(f"settings must be a SearchSettings, but got {type(settings).__name__}.")
    _check_overrides(space, settings.extra_overrides)
    if settings.diagnose:
        check_classifier()


def run_search(
    space: SearchSpace,
    settings: SearchSettings,
    *,
    executor: Executor | None = None,
    on_event: EventFn | None = None,
) -> optuna.Study:
    """Run (or continue) the study `settings.study_name` in `settings.storage` until it holds
    `settings.n_trials` verdicts (see `SearchSettings` for every option).

    `executor` runs one CohortJob (default: in-process); each round makes up to
    `concurrent_cohorts` cohorts, run together with `executor.run_many(jobs)` where the executor
    has it. `on_event` hears of the search's progress. Several drivers may run the same study at
    once (see the module doc for the guarantee on the count). Returns the study.
    """
    check_search(space, settings)
    deadline = time.time() + 60 * settings.timeout if settings.timeout is not None else None
    study_name = settings.study_name

    requeue = StaleTrialRequeuer()
    lock = _DriverLock(settings.storage)
    store: Store | None = None
    try:
        # Several drivers starting on a new database would race to create the same tables.
        with lock.held("open"):
            try:
                optuna_storage = open_optuna_storage(
                    settings.storage,
                    heartbeat_interval=settings.heartbeat_interval,
                    grace_period=settings.grace_period,
                    on_stale=requeue,
                )
            except StorageError as e:
                raise SearchError(str(e)) from e
            store = Store(settings.storage)
            study = optuna.create_study(
                storage=optuna_storage, study_name=study_name, direction=DIRECTION, load_if_exists=True
            )
            if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
                raise SearchError(
                    f"study {study_name!r} exists with directions {[d.name for d in study.directions]}; a "
                    f"ganstab search maximizes the late eval_score: use another study name."
                )
            known_space = study.user_attrs.get(SPACE_ATTR)
            if known_space is not None and known_space != space.name:
                raise SearchError(
                    f"study {study_name!r} was searched over the space {known_space!r}, not {space.name!r}; "
                    f"use another study name (or the same space) to keep its trials comparable."
                )
            if known_space is None:
                study.set_user_attr(SPACE_ATTR, space.name)
            # a study that ganstab ran before the option existed was late-mean; trials only
            # enqueued (a grid, a user's hand-picked points) have no value yet
            ran_before = any(ATTR_STATUS in t.user_attrs for t in study.trials)
            known_objective = study.user_attrs.get(OBJECTIVE_ATTR, "late-mean" if ran_before else None)
            objective = settings.objective
            if objective is not None and known_objective is not None and known_objective != objective:
                raise SearchError(
                    f"study {study_name!r} values its trials by {known_objective!r}, not {objective!r}; use "
                    f"another study name (or the same objective) to keep its trials comparable."
                )
            objective = objective or known_objective or OBJECTIVES[0]
            if OBJECTIVE_ATTR not in study.user_attrs:
                study.set_user_attr(OBJECTIVE_ATTR, objective)
        # Seeded, but a resumed study must not replay the points its first run drew already
        # (each round reseeds the same way, see _loop).
        study.sampler = make_sampler(settings.sampler, settings.seed + len(study.trials))
        pruner = settings.quality_pruner
        if settings.prune and pruner is None:
            pruner = default_pruner(settings.scheduler, space.config(settings.extra_overrides).train)
        # the settings the cohorts run with: the study's objective, the pruner in use
        settings = dataclasses.replace(
            settings, objective=objective, quality_pruner=pruner if settings.prune else None
        )
        _loop(
            study,
            space,
            settings,
            deadline=deadline,
            lock=lock,
            requeue=requeue,
            store=store,
            executor=executor or LocalExecutor(study._storage, store),
            on_event=on_event,
        )
        return study
    finally:
        if store is not None:
            store.dispose()
        lock.dispose()


def _cohorts(
    members: list[tuple[optuna.Trial, Config]], cohort_size: int
) -> list[list[tuple[optuna.Trial, Config]]]:
    """A round's sampled trials as cohorts: grouped by shape (first-asked first), then split into
    cohorts of at most `cohort_size`."""
    groups: dict[str, list[tuple[optuna.Trial, Config]]] = {}
    for trial, cfg in members:
        groups.setdefault(shape_key(cfg), []).append((trial, cfg))
    return [g[i : i + cohort_size] for g in groups.values() for i in range(0, len(g), cohort_size)]


def _job(
    settings: SearchSettings,
    deadline: float | None,
    study_name: str,
    index: int,
    run_dir: Path,
    members: list[tuple[optuna.Trial, Config]],
) -> CohortJob:
    """One cohort's job, with the run's settings."""
    return CohortJob(
        storage_url=settings.storage,
        study_name=study_name,
        index=index,
        run_dir=str(run_dir),
        artifact_dir=str(settings.artifact_dir),
        trial_ids=tuple(t._trial_id for t, _ in members),
        trial_numbers=tuple(t.number for t, _ in members),
        configs=tuple(c for _, c in members),
        prune=settings.prune,
        diagnose=settings.diagnose,
        quality_pruner=settings.quality_pruner,
        heartbeat_interval=settings.heartbeat_interval,
        grace_period=settings.grace_period,
        objective=settings.objective or OBJECTIVES[0],
        slots=settings.slots,
        deadline=deadline,
        graded=settings.scheduler == "asha",
    )


def _loop(
    study: optuna.Study,
    space: SearchSpace,
    settings: SearchSettings,
    *,
    deadline: float | None,
    lock: _DriverLock,
    requeue: StaleTrialRequeuer,
    store: Store,
    executor: Executor,
    on_event: EventFn | None,
) -> None:
    n_trials, extra = settings.n_trials, settings.extra_overrides
    me = worker_id()
    trials = study.get_trials(deepcopy=False)
    used = [t.user_attrs.get("cohort") for t in trials]
    next_index = max([u for u in used if isinstance(u, int)], default=-1) + 1
    invalid = 0
    beat = _QueueBeat(study._storage, settings.heartbeat_interval, me).start()
    try:
        while True:
            grace = settings.grace_period or 2 * settings.heartbeat_interval
            # The recovery, the count and the asks as one step across every driver of the study:
            # another driver counts these trials as RUNNING before it computes its own room.
            asked: list[tuple[optuna.Trial, Config | str]] = []
            with lock.held(f"ask:{study.study_name}"):
                lost = recover_stale_trials(study, requeue, store, grace, orphans=lock.exclusive)
                if lost:
                    emit(
                        on_event,
                        "recovered",
                        f"trials {lost} were left running by a dead worker: marked FAIL, parameters re-enqueued",
                        trials=lost,
                    )
                trials = study.get_trials(deepcopy=False)
                done = sum(counts_toward_budget(t) for t in trials)
                running = sum(t.state == TrialState.RUNNING for t in trials)
                room = n_trials - done - running
                spent = sum(int(t.user_attrs.get("steps_trained") or 0) for t in trials if t.state.is_finished())
                out = _out_of(settings.budget, spent, deadline)
                if done < n_trials and room > 0 and not out:
                    # never the same seed as another round
                    study.sampler = make_sampler(settings.sampler, settings.seed + len(trials))
                    writes = BatchedWrites(study._storage)
                    n_ask = min(settings.pool * settings.concurrent_cohorts, room)
                    asked = [_ask(study, me, space, extra, writes) for _ in range(n_ask)]
                    writes.flush()
            beat.add(t._trial_id for t, _ in asked)
            if out and not asked:
                emit(on_event, "done", f"study {study.study_name!r}: {out} after {done} trials", done=done)
                return
            if done >= n_trials:
                emit(
                    on_event,
                    "done",
                    f"study {study.study_name!r}: {done} of {n_trials} trials done",
                    done=done,
                )
                return
            if not asked:  # the rest runs elsewhere: wait for it (or for its heartbeat to go stale)
                emit(on_event, "waiting", f"{running} trials run elsewhere; waiting", running=running)
                time.sleep(min(10, settings.heartbeat_interval))
                continue

            sampled: list[tuple[optuna.Trial, Config]] = []
            for trial, cfg in asked:
                if isinstance(cfg, str):
                    invalid += 1
                    trial.set_user_attr(ATTR_STATUS, "invalid")
                    trial.set_user_attr("error", cfg[:500])
                    study.tell(trial, state=TrialState.FAIL)
                    emit(
                        on_event, "trial", f"trial {trial.number}: invalid config: {cfg}", trial=trial.number
                    )
                    if invalid > max(10, n_trials):
                        raise SearchError(
                            f"{invalid} sampled configs of space {space.name!r} were invalid (last: {cfg}); "
                            f"fix the space (conditions, `otherwise`) or the extra overrides."
                        )
                    continue
                sampled.append((trial, cfg))

            jobs = []
            for members in _cohorts(sampled, settings.pool):
                index, run_dir = _claim_cohort_dir(settings.study_dir, next_index)
                next_index = index + 1
                for m, (trial, _) in enumerate(members):
                    writes.set_trial_user_attr(trial._trial_id, "cohort", index)
                    writes.set_trial_user_attr(trial._trial_id, "member", m)
                jobs.append(_job(settings, deadline, study.study_name, index, run_dir, members))
            writes.flush()  # the cohorts' numbers, one transaction
            run_many = getattr(executor, "run_many", None)
            if len(jobs) > 1 and callable(run_many):
                for job in jobs:
                    _emit_cohort(on_event, job)
                for results in run_many(jobs):
                    _emit_results(on_event, results)
                for job in jobs:
                    _fail_unsettled(study, job)
            else:
                for job in jobs:
                    _emit_cohort(on_event, job)
                    _emit_results(on_event, executor(job))
                    _fail_unsettled(study, job)
    finally:
        beat.stop()


def _out_of(budget: int | None, spent: int, deadline: float | None) -> str:
    """Why the search may start no more trials ('' while it may)."""
    if budget is not None and spent >= budget:
        return f"budget spent ({spent:,} of {budget:,} member-steps)"
    if deadline is not None and time.time() >= deadline:
        return "time is up (--timeout)"
    return ""


def default_pruner(scheduler: str, train: Any) -> optuna.pruners.BasePruner:
    """The quality pruner on `eval_score` a scheduler uses unless the caller gives one. median:
    Optuna's MedianPruner after N_STARTUP_TRIALS complete trials and a warm-up of WARMUP_FRACTION
    of the steps (lesson 2). asha: successive halving with rungs at steps/9 and steps/3 (rounded
    up to an evaluation), the top third of each rung going on (Li et al., ASHA)."""
    if scheduler == "asha":
        every = train.eval_every or train.steps
        rung = max(every, -(-(train.steps // ASHA_ETA**2) // every) * every)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=rung, reduction_factor=ASHA_ETA)
    return optuna.pruners.MedianPruner(
        n_startup_trials=N_STARTUP_TRIALS, n_warmup_steps=int(WARMUP_FRACTION * train.steps)
    )


def _emit_cohort(on_event: EventFn | None, job: CohortJob) -> None:
    numbers = list(job.trial_numbers)
    emit(
        on_event,
        "cohort",
        f"cohort {job.index}: trials {numbers} in {job.run_dir}",
        cohort=job.index,
        trials=numbers,
        run_dir=job.run_dir,
    )


def _emit_results(on_event: EventFn | None, results: Iterable[MemberResult]) -> None:
    for r in results:
        value = "" if r.value is None else f" = {r.value:.4g}"
        emit(on_event, "trial", f"trial {r.trial_number}: {r.state} ({r.status}){value}", result=r)


def _fail_unsettled(study: optuna.Study, job: CohortJob) -> None:
    """An executor must settle every trial of its job; one it left RUNNING would otherwise look
    like a trial running elsewhere and the driver would wait for it forever."""
    storage = study._storage
    left = []
    for trial_id, number in zip(job.trial_ids, job.trial_numbers):
        if storage.get_trial(trial_id).state != TrialState.RUNNING:
            continue
        try:
            storage.set_trial_user_attr(trial_id, ATTR_STATUS, "error")
            storage.set_trial_user_attr(
                trial_id, "error", "the executor returned without settling this trial"
            )
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            left.append(number)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    if left:
        raise SearchError(
            f"cohort {job.index}: the executor returned but left trials {left} running (now FAIL); an "
            f"executor must settle every trial of its job, as run_cohort does."
        )


# ------------------------------------------------------------------------------------ leaderboard


def leaderboard(study: optuna.Study, top: int = 10) -> list[dict[str, Any]]:
    """The `top` best COMPLETE trials, best first: number, value, params, final eval_* metrics,
    diagnosis, cohort and run folder."""
    if not isinstance(top, int) or top < 1:
        raise SearchError(f"top must be a whole number >= 1, but got {top!r}.")
    complete = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None
    ]
    complete.sort(key=lambda t: (-t.value, t.number))
    rows = []
    for rank, t in enumerate(complete[:top], start=1):
        attrs = t.user_attrs
        rows.append(
            {
                "rank": rank,
                "trial": t.number,
                "value": t.value,
                "params": dict(t.params),
                "metrics": {k: v for k, v in attrs.items() if k.startswith("eval_")},
                "steps_trained": attrs.get("steps_trained"),
                "diagnosis": attrs.get("diagnosis"),
                "cohort": attrs.get("cohort"),
                "run_dir": attrs.get("run_dir"),
            }
        )
    return rows
