"""Stale-trial recovery: the RUNNING trials whose worker is gone are failed (status `lost`) and
their parameters queued again, so a killed driver or worker loses no sampled point and finished
trials are never touched."""

from __future__ import annotations

import warnings
from datetime import datetime

import optuna
from optuna.trial import FrozenTrial, TrialState

from ganstab.search.heartbeat import GRACE_PERIOD_S, heartbeat_enabled, worker_is_dead
from ganstab.search.outcomes import ATTR_WORKER, StaleTrialRequeuer, fail_trial
from ganstab.storage import Store

__all__ = ["recover_stale_trials"]


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
    before = len(requeue.failed)
    if heartbeat_enabled(study._storage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    now = datetime.now()  # Optuna stores naive local times
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = _why_lost(trial, now, grace_period, orphans)
        if reason is not None:
            fail_trial(study, trial._trial_id, "lost", f"lost: {reason}", requeue=requeue, reason=reason)
    failed = requeue.failed[before:]
    if store is not None:
        for number in failed:
            run = store.find_run(study.study_name, number)
            if run is not None:  # even if it got as far as writing its final status before the kill
                store.set_status(run.id, "lost")
    return failed


def _why_lost(trial: FrozenTrial, now: datetime, grace_period: int | None, orphans: bool) -> str | None:
    """Why a RUNNING trial's worker is certainly gone, or None while it may live."""
    worker = trial.user_attrs.get(ATTR_WORKER)
    if isinstance(worker, str):
        return f"its worker {worker} is no longer running" if worker_is_dead(worker) else None
    started = trial.datetime_start
    expired = grace_period is not None and started is not None and (now - started).total_seconds() > grace_period
    if not (orphans or expired):
        return None
    when = f" at {started:%Y-%m-%d %H:%M:%S}" if started is not None else ""
    return f"it was asked{when} by a driver that died before naming itself"
