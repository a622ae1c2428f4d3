"""A batch of Optuna writes as one statement per table (SQLite and PostgreSQL).

Optuna's RDBStorage writes each attribute, intermediate value, note and final state through the
ORM: a SELECT of the trial, a SELECT of the row, then the write, so settling a cohort of 1,024
members was tens of thousands of statements. Here a `BatchedWrites` batch becomes, inside the
caller's transaction: one SELECT of the touched trials' states (Optuna's rule that a finished
trial takes no more writes, checked for all at once), then one executemany per table: trial user
and system attributes, parameters, intermediate values, study system attributes (the dashboard's
notes and artifact records), first heartbeats, trial values, and the trials' final states. Later
writes of the same key win, as they would one by one.

`bulk_ok` says when a batch may be written so: on SQLite or PostgreSQL, when every final state is a
finished one and comes after every other write to its trial (the statements run per table, so the
states go last). Otherwise `batched_writes` writes the ops one by one, in order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import optuna

from ganstab.storage.database import upsert_rows

__all__ = ["bulk_ok", "write_bulk"]

Op = tuple[str, tuple[Any, ...]]
_TRIAL_KINDS = ("trial_user_attr", "trial_system_attr", "param", "intermediate", "heartbeat")


def bulk_ok(rdb: optuna.storages.RDBStorage, ops: Sequence[Op]) -> bool:
    """Whether `write_bulk` writes `ops` as the one-by-one path would (see the module doc)."""
    if rdb.engine.name not in ("sqlite", "postgresql"):
        return False
    told = {}
    for n, (kind, args) in enumerate(ops):
        if kind == "state":
            if not args[1].is_finished() or args[0] in told:
                return False
            told[args[0]] = n
    return all(n < told.get(args[0], len(ops)) for n, (kind, args) in enumerate(ops) if kind in _TRIAL_KINDS)


def write_bulk(rdb: optuna.storages.RDBStorage, session: Any, ops: Sequence[Op]) -> None:
    """`ops` (checked by `bulk_ok`) in `session`'s transaction, one statement per table."""
    from optuna.storages._rdb import models

    by_kind: dict[str, list[tuple[Any, ...]]] = {}
    for kind, args in ops:
        by_kind.setdefault(kind, []).append(args)
    unknown = set(by_kind) - {*_TRIAL_KINDS, "state", "study_system_attr"}
    if unknown:  # pragma: no cover - a programming error
        raise ValueError(f"unknown writes {sorted(unknown)}")
    _check_updatable(rdb, session, {args[0] for kind, args in ops if kind != "study_system_attr"})
    conn = session.connection()
    attr_row = lambda a: {"trial_id": a[0], "key": a[1], "value_json": json.dumps(a[2])}  # noqa: E731
    _upsert(conn, models.TrialUserAttributeModel, ["trial_id", "key"], by_kind.get("trial_user_attr"), attr_row)
    _upsert(conn, models.TrialSystemAttributeModel, ["trial_id", "key"], by_kind.get("trial_system_attr"), attr_row)
    _upsert(
        conn, models.StudySystemAttributeModel, ["study_id", "key"], by_kind.get("study_system_attr"),
        lambda a: {"study_id": a[0], "key": a[1], "value_json": json.dumps(a[2])},
    )  # fmt: skip
    if by_kind.get("param"):
        from optuna.distributions import distribution_to_json

        rows = [
            {"trial_id": t, "param_name": name, "param_value": v, "distribution_json": distribution_to_json(d)}
            for t, name, v, d in by_kind["param"]
        ]
        conn.execute(models.TrialParamModel.__table__.insert(), rows)

    def intermediate(a: tuple[Any, ...]) -> dict[str, Any]:
        value, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(a[2])
        return {"trial_id": a[0], "step": a[1], "intermediate_value": value, "intermediate_value_type": kind}

    _upsert(conn, models.TrialIntermediateValueModel, ["trial_id", "step"], by_kind.get("intermediate"), intermediate)
    if by_kind.get("heartbeat"):
        table = models.TrialHeartbeatModel.__table__
        stmt = _insert(rdb.engine.name)(table).on_conflict_do_nothing(index_elements=["trial_id"])
        # the column's default stamps it with the database's clock, as record_heartbeat does
        conn.execute(stmt, [{"trial_id": a[0]} for a in by_kind["heartbeat"]])
    _finish(rdb, conn, by_kind.get("state") or [])


def _check_updatable(rdb: optuna.storages.RDBStorage, session: Any, trial_ids: set[int]) -> None:
    if not trial_ids:
        return
    from optuna.storages._rdb import models
    from sqlalchemy import select

    model = models.TrialModel
    found = dict(session.execute(select(model.trial_id, model.state).where(model.trial_id.in_(sorted(trial_ids)))).all())
    for trial_id in sorted(trial_ids):
        if trial_id not in found:
            raise KeyError(f"no trial with id {trial_id}")
        rdb.check_trial_is_updatable(trial_id, found[trial_id])


def _finish(rdb: optuna.storages.RDBStorage, conn: Any, states: list[tuple[Any, ...]]) -> None:
    """Final states: the trials' values (one upsert), then their states (one UPDATE)."""
    if not states:
        return
    from optuna.storages._rdb import models
    from sqlalchemy import bindparam

    def value(a: tuple[Any, ...]) -> dict[str, Any]:
        stored, kind = models.TrialValueModel.value_to_stored_repr(a[2])
        return {"trial_id": a[0], "objective": a[1], "value": stored, "value_type": kind}

    values = [(t, k, v) for t, _, vs in states for k, v in enumerate(vs or ())]
    _upsert(conn, models.TrialValueModel, ["trial_id", "objective"], values, value)
    table = models.TrialModel.__table__
    now = datetime.now()
    stmt = (
        table.update()
        .where(table.c.trial_id == bindparam("tid"))
        .values(state=bindparam("new_state"), datetime_complete=bindparam("done_at"))
    )
    conn.execute(stmt, [{"tid": t, "new_state": s, "done_at": now} for t, s, _ in states])


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _upsert(conn: Any, model: Any, keys: list[str], args: list[tuple[Any, ...]] | None, row: Any) -> None:
    """One executemany upsert of `row(a)` for each write `a`; the last write of a key wins."""
    if args:
        upsert_rows(conn, conn.engine.name, model.__table__, [row(a) for a in args], keys)
