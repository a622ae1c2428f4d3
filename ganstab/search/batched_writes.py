"""Optuna writes for a cohort: one read and one transaction per evaluation round, not K of each.

A cohort of K trials reports, prunes and settles its members together at each evaluation. Done
trial by trial through Optuna's public API, each `should_prune` reads the whole study and each
attribute is its own transaction: O(K^2) reads and O(K x attributes) commits per round, which on a
GPU made a 256-member search 7x slower than the engine alone (bench/RESULTS.md). Here:

- `StudySnapshot`: the study as read once, handed to pruners in place of the study (they only
  read trials, or write through to the real storage);
- `BatchedWrites`: a round's user/system attributes, intermediate values and final states,
  committed in one transaction on an RDB storage (one by one on any other storage);
- `note_attrs` / `upload_artifact`: the dashboard's trial note and artifact records as attributes,
  so that they join the same transaction.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import mimetypes
import os
import uuid
from collections.abc import Container, Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ganstab.search.rdb_bulk import bulk_ok, write_bulk

log = logging.getLogger(__name__)


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
        # a pruner asks for the same states once per member (MedianPruner: the COMPLETE trials);
        # no state changes within a round's decisions, so each filter is made once per round
        self._by_states: dict[Any, list[FrozenTrial]] = {}

    def own(self, trial_ids: Iterable[int]) -> None:
        """Private copies of these trials (they are written to; the others are Optuna's cache)."""
        for tid in trial_ids:
            t = copy.copy(self.trials_by_id[tid])
            t._system_attrs = dict(t.system_attrs)
            self.trials_by_id[tid] = t
        self._sorted = sorted(self.trials_by_id.values(), key=lambda t: t.number)
        self._by_states = {}

    @property
    def _storage(self) -> Any:
        return _SnapshotStorage(self)

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if states is None:
            trials = self._sorted
        else:
            key = tuple(sorted(s.value for s in TrialState if s in states))
            if key not in self._by_states:
                self._by_states[key] = [t for t in self._sorted if t.state in states]
            trials = self._by_states[key]
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


def rdb_of(storage: optuna.storages.BaseStorage) -> Any:
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

    def set_trial_param(self, trial_id: int, name: str, internal: float, distribution: Any) -> None:
        """A parameter as `storage.set_trial_param` takes it (internal value); the caller has
        checked its distribution against the study's (`round_ask._RoundView`)."""
        self.ops.append(("param", (trial_id, name, internal, distribution)))

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
        rdb = rdb_of(self.storage)
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
        "param": storage.set_trial_param,
        "state": storage.set_trial_state_values,
        "heartbeat": getattr(storage, "record_heartbeat", lambda _trial_id: None),
    }[kind]
    method(*args)


def _write_rdb(rdb: optuna.storages.RDBStorage, ops: list[tuple[str, tuple[Any, ...]]]) -> None:
    """All `ops` in one session of Optuna's RDBStorage, one commit: one statement per table where
    `rdb_bulk.bulk_ok` allows it, else through Optuna's own per-write helpers, in order."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(rdb.scoped_session) as session:
        if bulk_ok(rdb, ops):
            write_bulk(rdb, session, ops)
            return
        for kind, args in ops:
            if kind == "trial_user_attr":
                rdb._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, *args)
            elif kind == "trial_system_attr":
                rdb._set_trial_attr_without_commit(session, models.TrialSystemAttributeModel, *args)
            elif kind == "param":
                trial_id, name, internal, dist = args
                rdb._set_trial_param_without_commit(session, trial_id, name, internal, dist, dist)
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


def final_values(
    frozen: FrozenTrial | dict[int, float], state: TrialState, value: float | None
) -> list[float] | None:
    """The values `study.tell` would store: COMPLETE its value, PRUNED its last finite
    intermediate value (Optuna's rule), FAIL none. `frozen`: the trial, or its intermediate
    values ({step: value}, as its cohort reported them)."""
    intermediate = frozen if isinstance(frozen, dict) else frozen.intermediate_values
    if state == TrialState.COMPLETE:
        return [float(value)] if value is not None else None
    if state == TrialState.PRUNED and intermediate:
        last = intermediate[max(intermediate)]
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


def _link(store: Any, path: Path, artifact_id: str) -> bool:
    """A file-system artifact store's copy of `path` as a hard link where both lie on one file
    system: a copy cost 0.6 ms of CPU per sample picture here (read, create, write), a link 0.02 ms
    (issue 27's per-trial budget). The run folder's pictures are written once and never changed in
    place, so the two names keep the same bytes. False where a link cannot be made: copy instead."""
    from optuna.artifacts import FileSystemArtifactStore

    if type(store) is not FileSystemArtifactStore:
        return False
    try:
        os.link(path, os.path.join(store._base_path, artifact_id))  # the store's own file layout
    except OSError:  # another file system, or one without hard links
        return False
    return True


def upload_artifact(store: Any, writes: BatchedWrites, trial_id: int, path: Path, data: bytes | None = None) -> str:
    """`optuna.artifacts.upload_artifact` for a trial, with its record joining `writes`: the file
    at `path`, or `data` (made in memory) under `path`'s name."""
    from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX, ArtifactMeta

    artifact_id = str(uuid.uuid4())
    mimetype, encoding = mimetypes.guess_type(path.name)
    meta = ArtifactMeta(
        artifact_id=artifact_id,
        filename=path.name,
        mimetype=mimetype or "application/octet-stream",
        encoding=encoding,
    )
    if data is not None or not _link(store, path, artifact_id):
        with path.open("rb") if data is None else io.BytesIO(data) as f:
            store.write(artifact_id, f)
    writes.set_trial_system_attr(trial_id, ARTIFACTS_ATTR_PREFIX + artifact_id, json.dumps(asdict(meta)))
    return artifact_id
