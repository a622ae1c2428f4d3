"""How a trial ends in ganstab's terms: the user attributes ganstab sets on it, which ends are a
verdict on its configuration (`counts_toward_budget`), and the one way a trial is failed
(`fail_trial`), with its parameters queued again where the failure was no fault of the
configuration (`StaleTrialRequeuer`: a dead worker, an interrupted search).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from ganstab.storage import Store

__all__ = [
    "ATTR_ERROR",
    "ATTR_RETRY_OF",
    "ATTR_STATUS",
    "ATTR_WORKER",
    "COUNTED_FAIL_STATUSES",
    "StaleTrialRequeuer",
    "counts_toward_budget",
    "fail_trial",
]

# User attributes ganstab sets on a trial (the dashboard shows them; the leaderboard reads them).
ATTR_STATUS = "status"  # finished | pruned | diverged | no_score | error | interrupted | invalid | lost
ATTR_ERROR = "error"  # why a FAIL trial failed, in words
ATTR_WORKER = "worker"  # host:pid:start of the process running the trial (stale-trial recovery)
ATTR_RETRY_OF = "retry_of"  # number of the trial whose parameters this trial re-runs
COUNTED_FAIL_STATUSES = ("diverged",)  # FAIL trials that still are a verdict on their config

Requeue = Callable[[optuna.Study, FrozenTrial, str], None]


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Whether a trial is a verdict on its configuration: COMPLETE, PRUNED, or diverged (FAIL)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get(ATTR_STATUS) in COUNTED_FAIL_STATUSES


class StaleTrialRequeuer:
    """Re-enqueue the parameters of a failed trial, so the search runs that configuration again (a
    killed driver loses no sampled point). Also Optuna's heartbeat-stale callback. It keeps the
    numbers it handled so the driver can report them and mark ganstab's run rows."""

    def __init__(self) -> None:
        self.failed: list[int] = []

    def __call__(self, study: optuna.Study, trial: FrozenTrial, reason: str = "") -> None:
        why = reason or "its worker stopped sending heartbeats"
        self.failed.append(trial.number)
        if not trial.params:  # asked but never sampled: no point was drawn, so none is lost
            return
        study.enqueue_trial(
            dict(trial.params),
            user_attrs={ATTR_RETRY_OF: trial.number, "retry_reason": f"trial {trial.number} failed: {why}"},
        )


def fail_trial(
    study: optuna.Study,
    trial_id: int,
    status: str,
    error: str,
    *,
    requeue: Requeue | None = None,
    reason: str = "",
    store: Store | None = None,
) -> bool:
    """Fail a RUNNING trial: its `status` and `error` attributes, then the FAIL state; with
    `requeue`, its parameters queued again (`requeue(study, trial, reason)`); with `store`, its
    ganstab run row (if any) set to `status`. Returns whether this call failed it: False when the
    trial was finished already (another driver or worker settled it first), and nothing changes."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial_id, ATTR_STATUS, status)
        storage.set_trial_user_attr(trial_id, ATTR_ERROR, error)
        if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    if requeue is not None or store is not None:
        frozen = storage.get_trial(trial_id)
        if requeue is not None:
            requeue(study, frozen, reason)
        if store is not None:
            run = store.find_run(study.study_name, frozen.number)
            if run is not None:
                store.set_status(run.id, status)
    return True
