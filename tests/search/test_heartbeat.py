"""Who runs a trial and whether it still does: worker ids, dead workers, and heartbeats that keep
a trial from being taken for a dead one's (real processes, a real SQLite study)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.heartbeat import Heartbeat, QueueBeat, heartbeat_enabled, worker_id, worker_is_dead
from ganstab.search.outcomes import ATTR_WORKER
from ganstab.storage.studies import open_optuna_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_a_worker_is_dead_only_when_certainly_gone() -> None:
    me = worker_id()
    host, pid, start = me.split(":")
    assert host == socket.gethostname() and pid == str(os.getpid()) and start.isdigit()
    assert not worker_is_dead(me)
    ended = subprocess.run([sys.executable, "-c", "from ganstab.search.heartbeat import worker_id; print(worker_id())"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert worker_is_dead(ended)
    assert worker_is_dead(f"{host}:{pid}:{int(start) + 1}")  # the pid now names a newer process
    assert not worker_is_dead(f"another-host:{pid}:{start}")  # only its heartbeat can tell
    assert not worker_is_dead("garbage")


def _stale(url: str, study_name: str) -> list[int]:
    """The trials another driver would fail as stale now (grace period 2 s)."""
    storage = open_optuna_storage(url, heartbeat_interval=1, grace_period=2)
    try:
        return storage._get_stale_trial_ids(optuna.load_study(study_name=study_name, storage=storage)._study_id)
    finally:
        storage.engine.dispose()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_heartbeats_keep_a_trial_alive_until_it_is_dropped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    storage = open_optuna_storage(url, heartbeat_interval=1, grace_period=2)
    assert heartbeat_enabled(storage) and not heartbeat_enabled(open_optuna_storage(url))
    study = optuna.create_study(study_name="h", storage=storage, direction="maximize")
    kept, dropped = study.ask(), study.ask()
    with Heartbeat(storage, 1, [kept._trial_id, dropped._trial_id]) as beat:
        time.sleep(1.5)
        beat.drop(dropped._trial_id)
        time.sleep(3.0)
        assert _stale(url, "h") == [dropped._trial_id]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_the_queue_beat_lets_go_once_a_worker_claims_the_trial(tmp_path: Path) -> None:
    storage = open_optuna_storage(f"sqlite:///{tmp_path / 'q.db'}", heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="q", storage=storage, direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        queued, claimed, told = study.ask(), study.ask(), study.ask()
    me = worker_id()
    for trial in (queued, told):
        trial.set_user_attr(ATTR_WORKER, me)
    claimed.set_user_attr(ATTR_WORKER, "elsewhere:1:1")
    study.tell(told, 0.5)
    beat = QueueBeat(storage, 1, me)
    assert [beat.keep(t._trial_id) for t in (queued, claimed, told)] == [True, False, False]
    ids = [t._trial_id for t in (queued, claimed, told)]
    assert beat.kept(ids) == [queued._trial_id]  # one query: the same answer as keep, trial by trial
    assert study.trials[0].state == TrialState.RUNNING


def test_a_round_of_heartbeats_writes_what_optuna_writes_trial_by_trial(tmp_path: Path) -> None:
    """record_heartbeats: one transaction for many trials, first beats and later ones, the rows
    Optuna's record_heartbeat writes (the database's time); the stale check reads them alike."""
    from optuna.storages._rdb import models
    from sqlalchemy import select

    from ganstab.search.batched_writes import rdb_of
    from ganstab.search.heartbeat import record_heartbeats

    url = f"sqlite:///{tmp_path / 'b.db'}"
    storage = open_optuna_storage(url, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="b", storage=storage, direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        trials = [study.ask() for _ in range(4)]
    ids = [t._trial_id for t in trials]
    storage.record_heartbeat(ids[0])  # Optuna's own first beat
    record_heartbeats(storage, ids[:3])  # one update, two first beats

    def beats() -> dict[int, object]:
        table = models.TrialHeartbeatModel.__table__
        with rdb_of(storage).engine.connect() as conn:
            return dict(conn.execute(select(table.c.trial_id, table.c.heartbeat)).all())

    first = beats()
    assert sorted(first) == ids[:3]
    time.sleep(1.1)
    record_heartbeats(storage, ids[1:3])
    later = beats()
    assert later[ids[0]] == first[ids[0]] and all(later[t] > first[t] for t in ids[1:3])
    time.sleep(3.5)  # SQLite keeps whole seconds: over 3 s since ids[1]'s beat, past the 2 s grace
    record_heartbeats(storage, [ids[2]])
    assert sorted(_stale(url, "b")) == ids[:2]  # ids[3] never beat: Optuna's check skips it too
