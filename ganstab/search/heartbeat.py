"""Who runs a trial, and whether it still does: `worker_id` names the process that runs it (the
`worker` attribute), `worker_is_dead` tells when that process is certainly gone, and `Heartbeat`
keeps its trials alive for Optuna's stale-trial check (`QueueBeat`: the driver's beats for the
trials it asked that wait for a worker).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ganstab.search.batched_writes import rdb_of
from ganstab.search.outcomes import ATTR_WORKER

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 60  # seconds between heartbeats of a running trial
GRACE_PERIOD_S = 600  # a trial without a heartbeat for this long belongs to a dead worker


def heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """Whether the storage records heartbeats (RDBStorage with an interval, or its cache)."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval is not None and interval() is not None


class Heartbeat:
    """Records a heartbeat for each trial of its set every `interval` seconds in a thread, so a
    trial whose worker dies is failed by `fail_stale_trials` after the grace period, even
    mid-evaluation (Optuna only does this itself inside `study.optimize`). `keep(trial_id)` says
    whether a trial still needs beats from here (default: until it is dropped)."""

    name = "ganstab-heartbeat"

    def __init__(self, storage: optuna.storages.BaseStorage, interval: int, trial_ids: Iterable[int] = ()) -> None:
        self.storage = storage
        self.interval = interval
        self.ids = set(trial_ids)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    def start(self) -> Heartbeat:
        if heartbeat_enabled(self.storage):
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, trial_ids: Iterable[int]) -> None:
        with self._lock:
            self.ids.update(trial_ids)

    def drop(self, trial_id: int) -> None:
        with self._lock:
            self.ids.discard(trial_id)

    def keep(self, trial_id: int) -> bool:
        return True

    def kept(self, trial_ids: list[int]) -> list[int]:
        """Those of `trial_ids` that still need beats from here (`keep` for each)."""
        return [t for t in trial_ids if self.keep(t)]

    def _loop(self) -> None:
        while True:
            with self._lock:
                ids = sorted(self.ids)
            try:
                keep = self.kept(ids) if ids else []
                for trial_id in set(ids) - set(keep):
                    self.drop(trial_id)
                record_heartbeats(self.storage, keep)
            except Exception as e:  # a missed beat is harmless; the next one retries
                log.warning("heartbeats of trial ids %s failed: %s", ids, e)
            if self._stop.wait(self.interval):
                return


def record_heartbeats(storage: optuna.storages.BaseStorage, trial_ids: list[int]) -> None:
    """`storage.record_heartbeat` for each trial: on SQLite and PostgreSQL one transaction for them
    all (Optuna's is a transaction per trial, with a commit each: a cohort of 1,024 beat for 17 s of
    wall time and over a second of CPU), the same rows and the database's time as Optuna writes."""
    if not trial_ids:
        return
    rdb = rdb_of(storage)
    if rdb is None or rdb.engine.name not in ("sqlite", "postgresql"):
        for trial_id in trial_ids:
            try:
                storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
            except Exception as e:  # a missed beat is harmless; the next one retries
                log.warning("heartbeat of trial id %s failed: %s", trial_id, e)
        return
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    table = models.TrialHeartbeatModel.__table__
    with _create_scoped_session(rdb.scoped_session, True) as session:
        conn = session.connection()
        ids = sorted(set(trial_ids))
        have = {r[0] for r in conn.execute(sqlalchemy.select(table.c.trial_id).where(table.c.trial_id.in_(ids)))}
        if have:
            now = session.execute(sqlalchemy.func.now()).scalar_one()  # the database's time, as Optuna's
            conn.execute(table.update().where(table.c.trial_id.in_(sorted(have))).values(heartbeat=now))
        missing = [{"trial_id": t} for t in ids if t not in have]
        if missing:  # a first beat: the column's default, as Optuna's insert
            conn.execute(table.insert(), missing)


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a Linux process, or None if unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the name in parentheses may contain spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


def worker_id() -> str:
    """`host:pid:start` of this process: unique on a host even when the pid is reused later."""
    stat = _proc_stat(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}:{stat[1] if stat else ''}"


def worker_is_dead(worker: str) -> bool:
    """Whether `worker` (from `worker_id`) is certainly gone: a process of this host that no longer
    runs (or is a zombie, or whose pid now belongs to a newer process). A worker on another host is
    never declared dead here; the heartbeat's grace period covers it."""
    host, _, rest = worker.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, owned by someone else
    stat = _proc_stat(pid)
    if stat is None:
        return False  # no /proc: the signal check above is all we know
    state, started = stat
    return state == "Z" or (bool(start) and started != start)


class QueueBeat(Heartbeat):
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

    def kept(self, trial_ids: list[int]) -> list[int]:
        """`keep` for each, from one query of their states and workers on an RDB storage (a read
        of each whole trial before)."""
        rdb = rdb_of(self.storage)
        if rdb is None:
            return super().kept(trial_ids)
        import json

        import sqlalchemy
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        trials, attrs = models.TrialModel.__table__, models.TrialUserAttributeModel.__table__
        query = (
            sqlalchemy.select(trials.c.trial_id, trials.c.state, attrs.c.value_json)
            .select_from(trials)
            .outerjoin(attrs, (attrs.c.trial_id == trials.c.trial_id) & (attrs.c.key == ATTR_WORKER))
            .where(trials.c.trial_id.in_(sorted(set(trial_ids))))
        )
        with _create_scoped_session(rdb.scoped_session) as session:
            rows = session.connection().execute(query).all()
        mine = {
            tid for tid, state, worker in rows
            if state == TrialState.RUNNING and worker is not None and json.loads(worker) == self.me
        }  # fmt: skip
        return [t for t in trial_ids if t in mine]
