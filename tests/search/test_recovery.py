"""Stale-trial recovery on real databases: a trial whose worker is gone is failed (status lost) and
its parameters queued again; a live one, and a finished one, are never touched."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.heartbeat import worker_id
from ganstab.search.outcomes import ATTR_RETRY_OF, ATTR_WORKER, StaleTrialRequeuer
from ganstab.search.recovery import recover_stale_trials
from ganstab.storage import Store
from ganstab.storage.studies import open_optuna_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_heartbeat_stale_trial_of_another_host_is_requeued(url: str) -> None:
    requeue = StaleTrialRequeuer()
    storage = open_optuna_storage(url, heartbeat_interval=1, grace_period=2, on_stale=requeue)
    study = optuna.create_study(study_name="hb", storage=storage, direction="maximize")
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr(ATTR_WORKER, "some-other-host:4242:1")  # cannot be checked from here
    study._storage.record_heartbeat(trial._trial_id)
    assert recover_stale_trials(study, requeue) == []  # a fresh heartbeat: still alive
    time.sleep(3.2)
    assert recover_stale_trials(study, requeue) == [0]
    first, retry = study.trials
    assert first.state == TrialState.FAIL
    assert retry.state == TrialState.WAITING and retry.user_attrs[ATTR_RETRY_OF] == 0
    assert recover_stale_trials(study, requeue) == []  # handled once
    assert study.ask().suggest_float("x", 0.0, 1.0) == x  # the retry runs the same point


def test_a_trial_whose_driver_died_before_naming_itself_is_lost_at_once_under_the_ask_lock(url: str) -> None:
    # The kill test's race: a driver asks a trial and is killed before it sets its worker
    # attribute. Under the drivers' ask lock (where every live driver names itself) that trial is
    # an orphan at once; without the lock only the grace period tells.
    requeue = StaleTrialRequeuer()
    study = optuna.create_study(study_name="orphan", storage=open_optuna_storage(url), direction="maximize")
    study.ask().suggest_float("x", 0.0, 1.0)
    assert recover_stale_trials(study, requeue, grace_period=600) == []
    assert recover_stale_trials(study, requeue, grace_period=600, orphans=True) == [0]
    assert study.trials[0].user_attrs["status"] == "lost" and study.trials[1].state == TrialState.WAITING


def test_a_dead_local_worker_is_lost_at_once_and_its_run_row_too(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    study = optuna.create_study(study_name="d", storage=open_optuna_storage(url), direction="maximize")
    store = Store(url)
    dead = subprocess.run([sys.executable, "-c", "from ganstab.search.heartbeat import worker_id; print(worker_id())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    mine, gone, done = study.ask(), study.ask(), study.ask()
    for trial, worker in ((mine, worker_id()), (gone, dead), (done, dead)):
        trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr(ATTR_WORKER, worker)
        store.add_run("ring8", {}, study_name="d", trial_number=trial.number)
    study.tell(done, 0.3)
    requeue = StaleTrialRequeuer()
    assert recover_stale_trials(study, requeue, store, grace_period=600) == [gone.number]
    trials = study.trials
    assert trials[mine.number].state == TrialState.RUNNING and trials[done.number].state == TrialState.COMPLETE
    assert trials[gone.number].user_attrs["error"].startswith(f"lost: its worker {dead} is no longer running")
    assert store.find_run("d", gone.number).status == "lost" and store.find_run("d", mine.number).status == "running"
    assert trials[-1].state == TrialState.WAITING and trials[-1].user_attrs[ATTR_RETRY_OF] == gone.number
    store.dispose()
