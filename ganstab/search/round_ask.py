"""A round's asks from one read of the study: K trials sampled without K reads of the database.

`study.ask()` K times reads the study K times over (Optuna 5.1 drops its trial cache on every ask,
pops a waiting trial through `get_all_trials`, and TPE with the constant liar reads every trial
again for each sample), and commits each parameter on its own: at K=1,024 that was 133 s of a
281 s search (bench/RESULTS.md). `RoundAsk` does the same asks from the study as read once:

- the trials the caller read (inside the drivers' ask lock, so no other driver asks meanwhile)
  are the round's *view*;
- a WAITING trial of the view (a re-queued point) is claimed with Optuna's atomic
  `set_trial_state_values(RUNNING)`, one trial at a time as `study.ask` does: a trial another
  process claimed first is skipped, so no two drivers ever run the same waiting trial;
- the rest are created together, in one transaction (`create_trials`);
- the sampler samples each trial against a stand-in study whose trials are the view plus this
  round's earlier trials, RUNNING with the parameters they were given. So TPE (constant liar)
  sees exactly what K sequential asks inside the lock would show it, except that a trial a
  running cohort finishes or reports to while the round is being asked shows as it was at the
  read (its new state and values count from the next round's read);
- the parameters are collected in `writes`, committed by the caller in the same transaction as
  each trial's owner and first heartbeat (a trial with an owner has all its parameters).
"""

from __future__ import annotations

import copy
from collections.abc import Container, Sequence
from datetime import datetime, timezone
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, check_distribution_compatibility
from optuna.exceptions import UpdateFinishedTrialError
from optuna.study.study import _ThreadLocalStudyAttribute
from optuna.trial import FrozenTrial, TrialState

from ganstab.search.batched_writes import BatchedWrites, rdb_of

__all__ = ["RoundAsk", "create_trials"]


class RoundAsk:
    """Asks trials of `study` from `trials` (the study as read once, inside the drivers' lock)."""

    def __init__(self, study: optuna.Study, trials: Sequence[FrozenTrial], writes: BatchedWrites) -> None:
        self._real = study._storage
        self._study_id = study._study_id
        self.view = _RoundView(trials, writes, self._real)
        self.study = copy.copy(study)  # the same study, sampler and pruner, reading the view
        self.study._storage = self.view  # type: ignore[assignment]
        self.study._thread_local = _ThreadLocalStudyAttribute()
        self._waiting = [t for t in trials if t.state == TrialState.WAITING]
        self._new: list[FrozenTrial] = []

    def ask_many(self, n: int) -> list[optuna.Trial]:
        """`n` trials, the waiting ones first (as `study.ask` pops them), each a Trial to sample."""
        ids = self._claim_waiting(n)
        ids += [t._trial_id for t in self._create(n - len(ids))]
        return [self._trial(tid) for tid in ids]

    def _claim_waiting(self, n: int) -> list[int]:
        claimed = []
        while self._waiting and len(claimed) < n:
            waiting = self._waiting.pop(0)
            try:
                if not self._real.set_trial_state_values(waiting._trial_id, state=TrialState.RUNNING):
                    continue  # another process claimed it first
            except UpdateFinishedTrialError:
                continue
            mine = _copy_trial(waiting)
            mine.state, mine.datetime_start = TrialState.RUNNING, datetime.now()
            self.view.put(mine)
            claimed.append(waiting._trial_id)
        return claimed

    def _create(self, n: int) -> list[FrozenTrial]:
        if n <= 0:
            return []
        made = create_trials(self._real, self._study_id, n)
        for t in made:
            self.view.put(t)
        return made

    def _trial(self, trial_id: int) -> optuna.Trial:
        # Study.ask drops the sampler's cached trial list before each trial; so does this
        self.study._thread_local.cached_all_trials = None
        return optuna.Trial(self.study, trial_id)


def create_trials(storage: optuna.storages.BaseStorage, study_id: int, n: int) -> list[FrozenTrial]:
    """`n` new RUNNING trials, one transaction on an RDB storage (one by one on any other).

    Numbers as Optuna gives them (the count of the study's trials with a smaller id), under the
    same lock Optuna takes for them (the study's row, FOR UPDATE), so that no other process
    creates a trial of this study in between."""
    rdb = rdb_of(storage)
    if rdb is None:
        return [storage.get_trial(storage.create_new_trial(study_id)) for _ in range(n)]
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import bindparam, func, select

    table = models.TrialModel.__table__
    with _create_scoped_session(rdb.scoped_session) as session:
        models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
        now = datetime.now()
        if rdb.engine.name in ("sqlite", "postgresql"):  # Core statements: the ORM's unit of work cost more
            # the rows the ORM would write (its datetimes are naive UTC), then their numbers
            row = {"study_id": study_id, "number": None, "state": TrialState.RUNNING,
                   "datetime_start": now.astimezone(timezone.utc).replace(tzinfo=None)}  # fmt: skip
            insert = table.insert().returning(table.c.trial_id, sort_by_parameter_order=True)
            ids = sorted(int(r[0]) for r in session.connection().execute(insert, [row] * n))
        else:
            rows = [models.TrialModel(study_id=study_id, number=None, state=TrialState.RUNNING, datetime_start=now) for _ in range(n)]  # fmt: skip
            session.add_all(rows)
            session.flush()
            ids = sorted(r.trial_id for r in rows)
        before = session.execute(
            select(func.count(table.c.trial_id)).where(table.c.study_id == study_id, table.c.trial_id < ids[0])
        ).scalar_one()
        numbered = table.update().where(table.c.trial_id == bindparam("tid")).values(number=bindparam("num"))
        session.connection().execute(numbered, [{"tid": tid, "num": before + k} for k, tid in enumerate(ids)])
        made = [_fresh(tid, before + k, now) for k, tid in enumerate(ids)]
    # the wrapping cache learns of them as `create_new_trial` would have told it
    if storage is not rdb and hasattr(storage, "_add_trials_to_cache"):
        with storage._lock:
            if study_id in storage._studies:
                storage._add_trials_to_cache(study_id, [_copy_trial(t) for t in made])
    return made


def _fresh(trial_id: int, number: int, start: datetime) -> FrozenTrial:
    return FrozenTrial(
        number=number, state=TrialState.RUNNING, value=None, values=None, datetime_start=start,
        datetime_complete=None, params={}, distributions={}, user_attrs={}, system_attrs={},
        intermediate_values={}, trial_id=trial_id,
    )  # fmt: skip


def _copy_trial(t: FrozenTrial) -> FrozenTrial:
    """A copy whose parameters and attributes may be written without touching Optuna's cache."""
    mine = copy.copy(t)
    mine._params, mine._distributions = dict(t.params), dict(t.distributions)
    mine._user_attrs, mine._system_attrs = dict(t.user_attrs), dict(t.system_attrs)
    return mine


class _RoundView:
    """The storage a round's sampler and trials see: reads from the view, writes into it and into
    `writes` (the caller commits them). Anything else goes to the real storage."""

    def __init__(self, trials: Sequence[FrozenTrial], writes: BatchedWrites, real: Any) -> None:
        self._real = real
        self._writes = writes
        self._by_id = {t._trial_id: t for t in trials}
        self._by_number = {t.number: t for t in trials}
        self._sorted: list[FrozenTrial] | None = None
        # the first distribution each parameter was stored with: a later one must be compatible
        self._dist: dict[str, BaseDistribution] = {}
        for t in sorted(trials, key=lambda t: t.number):
            for name, d in t.distributions.items():
                self._dist.setdefault(name, d)

    def put(self, trial: FrozenTrial) -> None:
        self._by_id[trial._trial_id] = trial
        self._by_number[trial.number] = trial
        self._sorted = None

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._by_id[trial_id] if trial_id in self._by_id else self._real.get_trial(trial_id)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if self._sorted is None:
            self._sorted = [self._by_number[n] for n in sorted(self._by_number)]
        trials = self._sorted if states is None else [t for t in self._sorted if t.state in states]
        return copy.deepcopy(trials) if deepcopy else list(trials)

    def get_n_trials(self, study_id: int, states: Container[TrialState] | None = None) -> int:
        return len(self.get_all_trials(study_id, deepcopy=False, states=states))

    def set_trial_param(self, trial_id: int, name: str, internal: float, distribution: BaseDistribution) -> None:
        trial = self._by_id[trial_id]
        if trial.state != TrialState.RUNNING:
            raise UpdateFinishedTrialError(f"trial {trial.number} is {trial.state.name}; it takes no parameters")
        if name in self._dist:
            check_distribution_compatibility(self._dist[name], distribution)
        else:
            self._dist[name] = distribution
        trial._params[name] = distribution.to_external_repr(internal)
        trial._distributions[name] = distribution
        self._writes.set_trial_param(trial_id, name, internal, distribution)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._by_id[trial_id]._system_attrs[key] = value
        self._writes.set_trial_system_attr(trial_id, key, value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._by_id[trial_id]._user_attrs[key] = value
        self._writes.set_trial_user_attr(trial_id, key, value)

    def __getattr__(self, name: str) -> Any:  # directions, study attributes, heartbeat settings
        return getattr(self._real, name)
