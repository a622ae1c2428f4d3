"""Optuna plumbing for a cohort: one read and one transaction per evaluation round, not K of each.

A cohort of K trials reports, prunes and settles its members together at each evaluation. Done
trial by trial through Optuna's public API, each `should_prune` reads the whole study and each
attribute is its own transaction: O(K^2) reads and O(K x attributes) commits per round, which on a
GPU made a 256-member search 7x slower than the engine alone (bench/RESULTS.md). Here:

- `StudySnapshot`: the study as read once, handed to pruners in place of the study (they only
  read trials, or write through to the real storage);
- `BatchedWrites`: a round's user/system attributes, intermediate values and final states,
  committed in one transaction on an RDB storage (one by one on any other storage);
- `note_attrs` / `artifact_attrs`: the dashboard's trial note and artifact records as attributes,
  so that they join the same transaction.

And who owns a trial: `worker_id` names the process that runs it (the `worker` attribute),
`worker_is_dead` tells when that process is certainly gone, `Heartbeat` keeps its trials alive
for Optuna's stale-trial check, and `StaleTrialRequeuer` queues the parameters of a trial whose
worker died again, so a killed search loses no sampled point.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import mimetypes
import os
import socket
import threading
import uuid
from collections.abc import Container, Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 60  # seconds between heartbeats of a running trial
GRACE_PERIOD_S = 600  # a trial without a heartbeat for this long belongs to a dead worker

# User attributes ganstab sets on a trial (the dashboard shows them; the leaderboard reads them).
ATTR_STATUS = "status"  # finished | pruned | diverged | no_score | error | interrupted | invalid | lost
ATTR_WORKER = "worker"  # host:pid:start of the process running the trial (stale-trial recovery)
ATTR_RETRY_OF = "retry_of"  # number of the trial whose parameters this trial re-runs


class StudySnapshot:
    """A study's trials as read once (one `get_all_trials`), standing in for the study when a
    round's pruning decisions are made. Reads come from the snapshot. A pruner that records
    something on a trial (SuccessiveHalvingPruner's rung values) writes through `_storage`: into
    the snapshot at once, so that the round's later decisions see it as they would one by one,
    and into `writes` (committed with the round) or, without it, the real storage."""

    def __init__(self, study: optuna.Study, writes: BatchedWrites | None = None) -> None:
        self._study = study
        self._writes = writes
        self.trials_by_id = {t._trial_id: t for t in study._storage.get_all_trials(study._study_id, deepcopy=False)}
        self._sorted = sorted(self.trials_by_id.values(), key=lambda t: t.number)

    def own(self, trial_ids: Iterable[int]) -> None:
        """Private copies of these trials (they are written to; the others are Optuna's cache)."""
        for tid in trial_ids:
            t = copy.copy(self.trials_by_id[tid])
            t._system_attrs = dict(t.system_attrs)
            self.trials_by_id[tid] = t
        self._sorted = sorted(self.trials_by_id.values(), key=lambda t: t.number)

    @property
    def _storage(self) -> Any:
        return _SnapshotStorage(self)

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        trials = self._sorted if states is None else [t for t in self._sorted if t.state in states]
        return copy.deepcopy(trials) if deepcopy else list(trials)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    def __getattr__(self, name: str) -> Any:  # direction, directions, _storage, study_name, ...
        return getattr(self._study, name)


class _SnapshotStorage:
    """The storage a pruner sees through a StudySnapshot (see there)."""

    def __init__(self, snapshot: StudySnapshot) -> None:
        self._snapshot = snapshot

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        trial = self._snapshot.trials_by_id.get(trial_id)
        if trial is not None:
            trial._system_attrs[key] = value
        writes = self._snapshot._writes
        target = writes if writes is not None else self._snapshot._study._storage
        target.set_trial_system_attr(trial_id, key, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._snapshot._study._storage, name)


def _rdb(storage: optuna.storages.BaseStorage) -> Any:
    """The RDBStorage behind `storage` (Optuna wraps it in a cache), or None."""
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, optuna.storages.RDBStorage) else None


class BatchedWrites:
    """Collects Optuna writes and commits them together (`flush`). Same signatures as the storage
    methods it stands in for, so Optuna's and optuna-dashboard's helpers can write through it."""

    def __init__(self, storage: optuna.storages.BaseStorage) -> None:
        self.storage = storage
        self.ops: list[tuple[str, tuple[Any, ...]]] = []

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.ops.append(("trial_user_attr", (trial_id, key, value)))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.ops.append(("trial_system_attr", (trial_id, key, value)))

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.ops.append(("study_system_attr", (study_id, key, value)))

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        self.ops.append(("intermediate", (trial_id, step, value)))

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: list[float] | None = None) -> None:
        self.ops.append(("state", (trial_id, state, values)))

    def record_heartbeat(self, trial_id: int) -> None:
        self.ops.append(("heartbeat", (trial_id,)))

    def flush(self) -> None:
        """Commit what was collected: one transaction on an RDB storage. If that transaction fails
        (a trial finished elsewhere meanwhile, a lost connection), the writes are retried one by
        one through the public API, so one bad write costs only itself."""
        ops, self.ops = self.ops, []
        if not ops:
            return
        rdb = _rdb(self.storage)
        if rdb is not None:
            try:
                _write_rdb(rdb, ops)
                return
            except Exception as e:  # noqa: BLE001 - the one-by-one path reports what fails
                log.info("batched write of %d operations failed (%s); writing one by one", len(ops), e)
        for kind, args in ops:
            try:
                _write_one(self.storage, kind, args)
            except optuna.exceptions.UpdateFinishedTrialError as e:
                log.warning("skipped a write to a finished trial: %s", e)


def _write_one(storage: optuna.storages.BaseStorage, kind: str, args: tuple[Any, ...]) -> None:
    method = {
        "trial_user_attr": storage.set_trial_user_attr,
        "trial_system_attr": storage.set_trial_system_attr,
        "study_system_attr": storage.set_study_system_attr,
        "intermediate": storage.set_trial_intermediate_value,
        "state": storage.set_trial_state_values,
        "heartbeat": getattr(storage, "record_heartbeat", lambda _trial_id: None),
    }[kind]
    method(*args)


_ATTR_KINDS = ("trial_user_attr", "trial_system_attr")


def _write_rdb(rdb: optuna.storages.RDBStorage, ops: list[tuple[str, tuple[Any, ...]]]) -> None:
    """All `ops` in one session of Optuna's RDBStorage, one commit. Trial attributes go first, as
    one upsert per table (`_upsert_attrs`); the rest through Optuna's own per-write helpers, in
    order (a trial's final state after its attributes, as the callers write them)."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    attrs = [(kind, args) for kind, args in ops if kind in _ATTR_KINDS]
    told = {args[0]: n for n, (kind, args) in enumerate(ops) if kind == "state"}
    # writing the attributes first keeps the order only if none comes after its trial's state
    in_order = all(n < told.get(args[0], len(ops)) for n, (kind, args) in enumerate(ops) if kind in _ATTR_KINDS)
    bulk = bool(attrs) and in_order and rdb.engine.name in ("sqlite", "postgresql")
    with _create_scoped_session(rdb.scoped_session) as session:
        if bulk:
            _upsert_attrs(rdb, session, attrs)
        for kind, args in ops:
            if kind == "trial_user_attr" and not bulk:
                rdb._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, *args)
            elif kind == "trial_system_attr" and not bulk:
                rdb._set_trial_attr_without_commit(session, models.TrialSystemAttributeModel, *args)
            elif kind in _ATTR_KINDS:
                continue
            elif kind == "heartbeat":  # a trial's first beat (RDBStorage.record_heartbeat)
                (trial_id,) = args
                if models.TrialHeartbeatModel.where_trial_id(trial_id, session) is None:
                    session.add(models.TrialHeartbeatModel(trial_id=trial_id))
            elif kind == "intermediate":
                rdb._set_trial_intermediate_value_without_commit(session, *args)
            elif kind == "study_system_attr":
                study_id, key, value = args
                study = models.StudyModel.find_or_raise_by_id(study_id, session)
                attr = models.StudySystemAttributeModel.find_by_study_and_key(study, key, session)
                if attr is None:
                    session.add(models.StudySystemAttributeModel(study_id=study_id, key=key, value_json=json.dumps(value)))
                else:
                    attr.value_json = json.dumps(value)
            elif kind == "state":
                trial_id, state, values = args
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
                rdb.check_trial_is_updatable(trial_id, trial.state)
                for objective, v in enumerate(values or ()):
                    rdb._set_trial_value_without_commit(session, trial, objective, v)
                trial.state = state
                if state.is_finished():
                    trial.datetime_complete = datetime.now()
            else:  # pragma: no cover - a programming error
                raise ValueError(f"unknown write {kind!r}")


def _upsert_attrs(rdb: optuna.storages.RDBStorage, session: Any, attrs: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Trial attributes as one INSERT .. ON CONFLICT UPDATE per table (a round's thousands of
    attributes were one SELECT and one upsert each), after one check that no trial is finished
    (Optuna's rule; a refused batch is retried one write at a time by `BatchedWrites.flush`)."""
    from optuna.storages._rdb import models
    from sqlalchemy import select

    trial_ids = sorted({args[0] for _, args in attrs})
    rows = session.execute(
        select(models.TrialModel.trial_id, models.TrialModel.state).where(models.TrialModel.trial_id.in_(trial_ids))
    ).all()
    found = dict(rows)
    for trial_id in trial_ids:
        if trial_id not in found:
            raise KeyError(f"no trial with id {trial_id}")
        rdb.check_trial_is_updatable(trial_id, found[trial_id])
    if rdb.engine.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for kind, model in (("trial_user_attr", models.TrialUserAttributeModel), ("trial_system_attr", models.TrialSystemAttributeModel)):
        latest = {(a[0], a[1]): json.dumps(a[2]) for k, a in attrs if k == kind}  # the last write wins
        if not latest:
            continue
        stmt = insert(model).values([{"trial_id": t, "key": k, "value_json": v} for (t, k), v in latest.items()])
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[model.trial_id, model.key], set_={"value_json": stmt.excluded.value_json}
            )
        )


def final_values(frozen: FrozenTrial, state: TrialState, value: float | None) -> list[float] | None:
    """The values `study.tell` would store: COMPLETE its value, PRUNED its last finite
    intermediate value (Optuna's rule), FAIL none."""
    if state == TrialState.COMPLETE:
        return [float(value)] if value is not None else None
    if state == TrialState.PRUNED and frozen.intermediate_values:
        last = frozen.intermediate_values[max(frozen.intermediate_values)]
        return [float(last)] if math.isfinite(last) else None
    return None


def note_attrs(study_id: int, trial_id: int, body: str) -> Iterable[tuple[int, str, Any]]:
    """The study system attributes optuna-dashboard reads a trial's note from (first version),
    as `save_note` writes them; empty when optuna-dashboard is not installed."""
    try:
        from optuna_dashboard._note import note_ver_key, split_body
    except ImportError:
        return []
    return [(study_id, note_ver_key(trial_id), 1), *((study_id, k, v) for k, v in split_body(body, trial_id).items())]


def upload_artifact(store: Any, writes: BatchedWrites, trial_id: int, path: Path) -> str:
    """`optuna.artifacts.upload_artifact` for a trial, with its record joining `writes`."""
    from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX, ArtifactMeta

    artifact_id = str(uuid.uuid4())
    mimetype, encoding = mimetypes.guess_type(path.name)
    meta = ArtifactMeta(
        artifact_id=artifact_id,
        filename=path.name,
        mimetype=mimetype or "application/octet-stream",
        encoding=encoding,
    )
    with path.open("rb") as f:
        store.write(artifact_id, f)
    writes.set_trial_system_attr(trial_id, ARTIFACTS_ATTR_PREFIX + artifact_id, json.dumps(asdict(meta)))
    return artifact_id


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

    def _loop(self) -> None:
        while True:
            with self._lock:
                ids = sorted(self.ids)
            for trial_id in ids:
                try:
                    if not self.keep(trial_id):
                        self.drop(trial_id)
                        continue
                    self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
                except Exception as e:  # a missed beat is harmless; the next one retries
                    log.warning("heartbeat of trial id %s failed: %s", trial_id, e)
            if self._stop.wait(self.interval):
                return


# ---------------------------------------------------------------------------- who owns a trial


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


class StaleTrialRequeuer:
    """Optuna's heartbeat-stale callback: re-enqueue the parameters of a trial whose worker died,
    so the search runs that configuration again (a killed driver loses no sampled point). It keeps
    the numbers it handled so the driver can report them and mark ganstab's run rows."""

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
