"""The search driver behind `ganstab search`: Optuna ask/tell over cohorts, resumable after a kill.

Each cohort member is one Optuna trial. The driver asks up to `cohort_size` trials, samples each
from the search space, groups the trials whose configs share every shape-fixing key (anything
outside `MEMBER_KEYS`) into cohorts, and hands each cohort to an executor as a `CohortJob`. The
executor runs `ganstab.search.cohort_run.run_cohort`, which reports, prunes and tells each trial itself
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

Asking: a round's trials are asked from the study as read once for its count (`round_ask`), not
with one `study.ask()` each (K reads of the whole study). The sampler sees that read plus the
round's earlier trials, RUNNING with their parameters (what TPE's constant liar needs); a waiting
trial is claimed with Optuna's atomic RUNNING transition, so two drivers never run the same one.
The parameters, owner and first heartbeat of the round's trials are one transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from ganstab.engine.config import Config, ConfigError, shape_key
from ganstab.search.batched_writes import BatchedWrites
from ganstab.search.cohort_job import CohortJob, MemberResult
from ganstab.search.cohort_run import run_cohort
from ganstab.search.errors import SearchError
from ganstab.search.events import EventFn, emit
from ganstab.search.factories import default_pruner, make_sampler
from ganstab.search.heartbeat import QueueBeat, heartbeat_enabled, worker_id
from ganstab.search.outcomes import (
    ATTR_WORKER,
    StaleTrialRequeuer,
    counts_toward_budget,
    fail_trial,
)
from ganstab.search.recovery import recover_stale_trials
from ganstab.search.round_ask import RoundAsk
from ganstab.search.settings import DIRECTION, SearchSettings, check_search
from ganstab.search.space_model import SearchSpace
from ganstab.search.study_identity import claim_study, score_identity
from ganstab.storage import Store
from ganstab.storage.lock import DatabaseLock, LockError
from ganstab.storage.studies import open_optuna_storage
from ganstab.storage.urls import StorageError

__all__ = ["Executor", "LocalExecutor", "run_search"]


Executor = Callable[[CohortJob], list[MemberResult]]


class LocalExecutor:
    """Runs each cohort in this process, one after another, on the driver's own connections."""

    def __init__(self, storage: optuna.storages.BaseStorage, store: Store) -> None:
        self.storage = storage
        self.store = store

    def __call__(self, job: CohortJob) -> list[MemberResult]:
        return run_cohort(job, storage=self.storage, store=self.store)


@contextlib.contextmanager
def _held(lock: DatabaseLock, name: str) -> Iterator[None]:
    """The drivers' lock, its failure a SearchError (the search cannot go on without it)."""
    try:
        with lock.held(name):
            yield
    except LockError as e:
        raise SearchError(str(e), key="storage") from e


# ---------------------------------------------------------------------------------------- search


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
    requeue = StaleTrialRequeuer()
    lock = DatabaseLock(settings.storage)
    store: Store | None = None
    try:
        # Several drivers starting on a new database would race to create the same tables.
        with _held(lock, "open"):
            try:
                optuna_storage = open_optuna_storage(
                    settings.storage,
                    heartbeat_interval=settings.heartbeat_interval,
                    grace_period=settings.grace_period,
                    on_stale=requeue,
                )
            except StorageError as e:
                raise SearchError(str(e), key="storage") from e
            store = Store(settings.storage)
            study = optuna.create_study(
                storage=optuna_storage, study_name=settings.study_name, direction=DIRECTION, load_if_exists=True
            )
            score = score_identity(space.config(settings.override_values))
            objective = claim_study(study, space, settings.objective, score)
        # Seeded, but a resumed study must not replay the points its first run drew already
        # (each round reseeds the same way, see _loop).
        study.sampler = make_sampler(settings.sampler, settings.seed + len(study.trials))
        pruner = settings.quality_pruner
        if settings.prune and pruner is None:
            pruner = default_pruner(settings.scheduler, space.config(settings.override_values).train)
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


# ------------------------------------------------------------------------------------- the loop


@dataclasses.dataclass
class _Round:
    """What one round's critical section found and asked."""

    done: int
    running: int
    out: str  # why no more trials may start ('' while they may)
    asked: list[tuple[optuna.Trial, Config | str]]


def _loop(
    study: optuna.Study,
    space: SearchSpace,
    settings: SearchSettings,
    *,
    deadline: float | None,
    lock: DatabaseLock,
    requeue: StaleTrialRequeuer,
    store: Store,
    executor: Executor,
    on_event: EventFn | None,
) -> None:
    n_trials = settings.n_trials
    me = worker_id()
    used = [t.user_attrs.get("cohort") for t in study.get_trials(deepcopy=False)]
    next_index = max([u for u in used if isinstance(u, int)], default=-1) + 1
    invalid = 0
    beat = QueueBeat(study._storage, settings.heartbeat_interval, me).start()
    try:
        while True:
            # The recovery, the count and the asks as one step across every driver of the study:
            # another driver counts these trials as RUNNING before it computes its own room.
            with _held(lock, f"ask:{study.study_name}"):
                r = _ask_round(study, space, settings, deadline, me, requeue, store, lock.exclusive, on_event)
            beat.add(t._trial_id for t, _ in r.asked)
            if r.out and not r.asked:
                emit(on_event, "done", f"study {study.study_name!r}: {r.out} after {r.done} trials", done=r.done)
                return
            if r.done >= n_trials:
                emit(
                    on_event,
                    "done",
                    f"study {study.study_name!r}: {r.done} of {n_trials} trials done",
                    done=r.done,
                )
                return
            if not r.asked:  # the rest runs elsewhere: wait for it (or for its heartbeat to go stale)
                emit(on_event, "waiting", f"{r.running} trials run elsewhere; waiting", running=r.running)
                time.sleep(min(10, settings.heartbeat_interval))
                continue
            sampled = []
            for trial, cfg in r.asked:
                if isinstance(cfg, str):
                    invalid += 1
                    _fail_invalid(study, space, trial, cfg, invalid, n_trials, on_event)
                else:
                    sampled.append((trial, cfg))
            jobs = []
            for members in _cohorts(sampled, settings.pool):
                index, run_dir = _claim_cohort_dir(settings.study_dir, next_index)
                next_index = index + 1
                jobs.append(_job(settings, deadline, index, run_dir, members))
            _number_cohorts(study, jobs)
            _run_jobs(study, executor, jobs, on_event)
    finally:
        beat.stop()


def _ask_round(
    study: optuna.Study,
    space: SearchSpace,
    settings: SearchSettings,
    deadline: float | None,
    me: str,
    requeue: StaleTrialRequeuer,
    store: Store,
    exclusive: bool,
    on_event: EventFn | None,
) -> _Round:
    """Inside the drivers' ask lock: recover the dead workers' trials, count the study, and ask
    as many trials as the budget has room for (none once the budget or the time is spent)."""
    grace = settings.grace_period or 2 * settings.heartbeat_interval
    lost = recover_stale_trials(study, requeue, store, grace, orphans=exclusive)
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
    room = settings.n_trials - done - running
    spent = sum(int(t.user_attrs.get("steps_trained") or 0) for t in trials if t.state.is_finished())
    out = _out_of(settings.budget, spent, deadline)
    asked: list[tuple[optuna.Trial, Config | str]] = []
    if done < settings.n_trials and room > 0 and not out:
        # never the same seed as another round
        study.sampler = make_sampler(settings.sampler, settings.seed + len(trials))
        writes = BatchedWrites(study._storage)
        n_ask = min(settings.pool * settings.concurrent_cohorts, room)
        # the round's asks from `trials`, the study as just read (see round_ask for what TPE sees)
        rounds = RoundAsk(study, trials, writes)
        asked = [_own(trial, study, me, space, settings.override_values, writes) for trial in rounds.ask_many(n_ask)]
        writes.flush()
    return _Round(done, running, out, asked)


def _fail_invalid(
    study: optuna.Study,
    space: SearchSpace,
    trial: optuna.Trial,
    error: str,
    invalid: int,
    n_trials: int,
    on_event: EventFn | None,
) -> None:
    """A sampled combination the config rejects: FAIL with status invalid (not counted); too many
    of them stop the search, the space is at fault."""
    fail_trial(study, trial._trial_id, "invalid", error[:500])
    emit(on_event, "trial", f"trial {trial.number}: invalid config: {error}", trial=trial.number)
    if invalid > max(10, n_trials):
        raise SearchError(
            f"{invalid} sampled configs of space {space.name!r} were invalid (last: {error}); "
            f"fix the space (conditions, `otherwise`) or the extra overrides."
        )


def _number_cohorts(study: optuna.Study, jobs: list[CohortJob]) -> None:
    """Each trial's cohort number and place in it, one transaction."""
    writes = BatchedWrites(study._storage)
    for job in jobs:
        for m, trial_id in enumerate(job.trial_ids):
            writes.set_trial_user_attr(trial_id, "cohort", job.index)
            writes.set_trial_user_attr(trial_id, "member", m)
    writes.flush()


def _run_jobs(study: optuna.Study, executor: Executor, jobs: list[CohortJob], on_event: EventFn | None) -> None:
    """The round's cohorts: all at once with the executor's run_many, else one after another."""
    run_many = getattr(executor, "run_many", None)
    if len(jobs) > 1 and callable(run_many):
        for job in jobs:
            _emit_cohort(on_event, job)
        for job, results in zip(jobs, run_many(jobs)):
            _emit_results(on_event, job, results)
        for job in jobs:
            _fail_unsettled(study, job)
    else:
        for job in jobs:
            _emit_cohort(on_event, job)
            _emit_results(on_event, job, executor(job))
            _fail_unsettled(study, job)


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
    index: int,
    run_dir: Path,
    members: list[tuple[optuna.Trial, Config]],
) -> CohortJob:
    """One cohort's job, with the run's settings."""
    return CohortJob(
        settings=settings,
        index=index,
        run_dir=str(run_dir),
        trial_ids=tuple(t._trial_id for t, _ in members),
        trial_numbers=tuple(t.number for t, _ in members),
        configs=tuple(c for _, c in members),
        deadline=deadline,
        params=tuple(t.params for t, _ in members),
    )


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


def _own(
    trial: optuna.Trial,
    study: optuna.Study,
    me: str,
    space: SearchSpace,
    overrides: Mapping[str, Any],
    writes: BatchedWrites,
) -> tuple[optuna.Trial, Config | str]:
    """Sample an asked trial's config, then name this driver as its owner. The parameters, the
    owner and the first heartbeat join `writes`, which the caller commits in one transaction
    inside the ask lock: a trial with an owner always has all its parameters, so a re-run of it
    after a kill is the same point (a kill before that leaves an orphan, which the next round
    fails at once)."""
    cfg = _sample(trial, space, overrides)
    writes.set_trial_user_attr(trial._trial_id, ATTR_WORKER, me)
    if heartbeat_enabled(study._storage):
        writes.record_heartbeat(trial._trial_id)
    return trial, cfg


def _sample(trial: optuna.Trial, space: SearchSpace, overrides: Mapping[str, Any]) -> Config | str:
    """The trial's resolved config (resolved once, from values), or the error text when the
    sampled combination is not a valid config."""
    try:
        return space.config(overrides, values=space.sample(trial))
    except ConfigError as e:
        return str(e)


def _out_of(budget: int | None, spent: int, deadline: float | None) -> str:
    """Why the search may start no more trials ('' while it may)."""
    if budget is not None and spent >= budget:
        return f"budget spent ({spent:,} of {budget:,} member-steps)"
    if deadline is not None and time.time() >= deadline:
        return "time is up (--timeout)"
    return ""


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


def _emit_results(on_event: EventFn | None, job: CohortJob, results: list[MemberResult]) -> None:
    nodes = sorted({r.node for r in results if r.node})
    if nodes:  # an executor that places cohorts on nodes (Ray) says which
        emit(on_event, "placed", f"cohort {job.index}: ran on {', '.join(nodes)}", cohort=job.index, nodes=nodes)
    for r in results:
        value = "" if r.value is None else f" = {r.value:.4g}"
        why = f": {r.error}" if r.status == "lost" and r.error else ""  # which worker or node died
        emit(on_event, "trial", f"trial {r.trial_number}: {r.state} ({r.status}){value}{why}", result=r)


def _fail_unsettled(study: optuna.Study, job: CohortJob) -> None:
    """An executor must settle every trial of its job; one it left RUNNING would otherwise look
    like a trial running elsewhere and the driver would wait for it forever."""
    left = []
    # one read of the study's running trials, not one read per trial of the job
    running = {t._trial_id for t in study._storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.RUNNING,))}
    for trial_id, number in zip(job.trial_ids, job.trial_numbers):
        if trial_id not in running:
            continue
        if fail_trial(study, trial_id, "error", "the executor returned without settling this trial"):
            left.append(number)
    if left:
        raise SearchError(
            f"cohort {job.index}: the executor returned but left trials {left} running (now FAIL); an "
            f"executor must settle every trial of its job, as run_cohort does."
        )
