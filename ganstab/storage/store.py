"""`Store`: ganstab's own tables in the study database: what Optuna has no place for (traces,
evaluations with their mode histograms, diagnoses, ground-truth labels), kept so the classifier can
be retrained from a user's own history.

One SQLAlchemy URL serves both: `optuna.storages.RDBStorage(url)` and `Store(url)`. SQLite
(`sqlite:///path.db`, WAL and a busy timeout so several local processes can write) and PostgreSQL
(`postgresql+psycopg://...`; `postgresql://` and `postgres://` are mapped to psycopg) are supported
and tested. Every write is one transaction: a failure rolls back that write and loses nothing
already stored.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ganstab.storage.database import Database
from ganstab.storage.records import (
    USER_SOURCE,
    DiagnosisLike,
    DiagnosisRecord,
    DuplicateRunError,
    EvaluationRecord,
    LabelledRun,
    NotFoundError,
    RunRecord,
    SettledRun,
    StoredDiagnosis,
)
from ganstab.storage.tables import (
    SCHEMA_VERSION,
    TRACE_ENCODING,
    config_json,
    decode_trace,
    diagnoses_table,
    dumps,
    encode_trace,
    evaluations_table,
    finite_or_none,
    labels_table,
    loads,
    metadata,
    runs_table,
    schema_table,
    traces_table,
)
from ganstab.storage.urls import StorageError

__all__ = ["Store"]

_CREATE_LOCK_KEY = 0x67616E737461  # pg_advisory_xact_lock key serialising create_all ("gansta")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise ValueError(f"{name} must be a whole number; got {value!r}")


def _short_string(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{name} must be a non-empty string of at most {limit} characters; got {value!r}")
    return value


def _label_rank(row: Any) -> tuple[bool, datetime, str]:
    return (row.source == USER_SOURCE, _aware(row.labelled_at), row.source)


# ----------------------------------------------------------------------------------------- Store


class Store:
    """ganstab's tables in the database at `url` (the same URL Optuna's RDBStorage uses).

    Opening checks the connection and, with `create=True`, creates the tables if missing (safe
    when several workers start at once). A Store may be shared by threads; after `fork` a child
    gets fresh connections automatically.
    """

    def __init__(self, url: str | URL, *, create: bool = True, echo: bool = False) -> None:
        self._db = db = Database(url, echo=echo)
        self.url, self.masked_url, self.engine = db.url, db.masked_url, db.engine
        self._dialect_name = db.dialect_name
        self._tx, self._error, self._upsert, self._upsert_many = db.tx, db.error, db.upsert, db.upsert_many
        try:
            with self._tx(write=False, raw=True) as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as e:
            raise self._error("connecting", e) from e
        if create:
            self.create_all()

    def __repr__(self) -> str:
        return f"Store({self.masked_url!r})"

    def batch(self) -> AbstractContextManager[None]:
        """Every write of this thread inside the block joins one transaction (one commit; each
        write a savepoint of its own, so a refused one rolls back alone): a search settles a
        round of members at once instead of five commits per member."""
        return self._db.batch()

    # ---------------------------------------------------------------------------------- schema

    def create_all(self) -> None:
        """Create ganstab's tables if they are missing (never touches Optuna's). Idempotent and safe
        when several processes call it at once: PostgreSQL serialises it on an advisory lock held
        to the end of the (transactional-DDL) transaction, SQLite on its write lock."""
        version: int | None = None
        for attempt in range(3):
            try:
                with self._tx(write=True, raw=True) as conn:
                    if self._dialect_name == "postgresql":
                        conn.execute(select(func.pg_advisory_xact_lock(_CREATE_LOCK_KEY)))
                    metadata.create_all(conn, checkfirst=True)
                    version = conn.execute(select(schema_table.c.version)).scalar_one_or_none()
                    if version is None:
                        conn.execute(schema_table.insert().values(id=1, version=SCHEMA_VERSION))
                        version = SCHEMA_VERSION
                break
            except SQLAlchemyError as e:
                # Without a lock (other dialects) a concurrent creator may win the race: look again.
                if attempt == 2:
                    raise self._error("creating tables", e) from e
        if version != SCHEMA_VERSION:
            raise StorageError(
                f"storage {self.masked_url!r}: ganstab tables must have schema version "
                f"{SCHEMA_VERSION}; the database has version {version}"
            )

    # -------------------------------------------------------------------------------------- runs

    def add_run(
        self,
        dataset: str,
        config: Mapping[str, Any] | str | Any,
        *,
        study_name: str | None = None,
        trial_number: int | None = None,
        status: str = "running",
        exist_ok: bool = False,
    ) -> int:
        """A new run's id. With `exist_ok`, a run already stored for (study_name, trial_number)
        (e.g. a restarted trial) gives its id instead of DuplicateRunError."""
        dataset = _short_string("dataset", dataset, 128)
        status = _short_string("status", status, 32)
        if study_name is not None:
            study_name = _short_string("study_name", study_name, 512)
        if trial_number is not None:
            trial_number = _as_int("trial_number", trial_number)
        row = {
            "study_name": study_name,
            "trial_number": trial_number,
            "dataset": dataset,
            "config": config_json(config),
            "status": status,
            "created_at": _utcnow(),
        }
        return self._add_row(row, exist_ok)

    def _add_row(self, row: dict[str, Any], exist_ok: bool) -> int:
        """Insert a checked run row (see `add_run`)."""
        study_name, trial_number = row["study_name"], row["trial_number"]
        try:
            with self._tx(write=True, raw=True) as conn:
                return int(conn.execute(runs_table.insert().values(**row)).inserted_primary_key[0])
        except IntegrityError as e:
            if study_name is None or trial_number is None:
                raise self._error("adding a run", e) from e
            existing = self.find_run(study_name, trial_number)
            if existing is None:
                raise self._error("adding a run", e) from e
            if exist_ok:
                return existing.id
            raise DuplicateRunError(
                f"storage {self.masked_url!r}: (study_name, trial_number) must be unique; run "
                f"{existing.id} already has ({study_name!r}, {trial_number})"
            ) from e
        except SQLAlchemyError as e:
            raise self._error("adding a run", e) from e

    def add_runs(self, runs: Sequence[Mapping[str, Any]], *, exist_ok: bool = False) -> list[int]:
        """`add_run` for many runs, in order, in one transaction of one statement per table:
        each mapping holds `add_run`'s arguments (dataset, config, and optionally study_name,
        trial_number, status). A search adds a cohort's K runs at once (K transactions or
        savepoints before). Same rows, same checks, same ids for runs already stored; a run that
        another process adds meanwhile makes this fall back to `add_run` one by one."""
        rows = []
        for run in runs:
            study_name, number = run.get("study_name"), run.get("trial_number")
            rows.append({
                "study_name": None if study_name is None else _short_string("study_name", study_name, 512),
                "trial_number": None if number is None else _as_int("trial_number", number),
                "dataset": _short_string("dataset", run["dataset"], 128),
                "config": config_json(run["config"]),
                "status": _short_string("status", run.get("status", "running"), 32),
                "created_at": _utcnow(),
            })  # fmt: skip
        if not rows:
            return []
        keys = [(r["study_name"], r["trial_number"]) for r in rows]
        studied = [k for k in keys if k[0] is not None and k[1] is not None]  # the unique ones
        if self._dialect_name not in ("sqlite", "postgresql") or len(set(studied)) < len(studied):
            return self._add_rows(rows, exist_ok)  # no multi-row RETURNING, or a repeat
        try:
            with self._tx(write=True, raw=True) as conn:
                existing = self._run_ids(conn, set(studied))
                if not existing or exist_ok:
                    new = [r for r, key in zip(rows, keys) if key not in existing]
                    ids: Iterator[int] = iter(())
                    if new:
                        stmt = runs_table.insert().returning(runs_table.c.id, sort_by_parameter_order=True)
                        ids = iter([int(row[0]) for row in conn.execute(stmt, new)])
                    return [existing[key] if key in existing else next(ids) for key in keys]
        except IntegrityError:
            pass  # another process added one of them meanwhile
        except SQLAlchemyError as e:
            raise self._error("adding runs", e) from e
        return self._add_rows(rows, exist_ok)  # the per-run path says what is wrong

    def _add_rows(self, rows: list[dict[str, Any]], exist_ok: bool) -> list[int]:
        """`_add_row` for each, in one transaction: a refused one writes none of them."""
        with self.batch():
            return [self._add_row(r, exist_ok) for r in rows]

    @staticmethod
    def _run_ids(conn: Connection, keys: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """{(study_name, trial_number): run id} of those of `keys` already stored."""
        if not keys:
            return {}
        q = select(runs_table.c.id, runs_table.c.study_name, runs_table.c.trial_number).where(
            runs_table.c.study_name.in_(sorted({s for s, _ in keys})),
            runs_table.c.trial_number.in_(sorted({n for _, n in keys})),
        )
        found = {(r.study_name, r.trial_number): int(r.id) for r in conn.execute(q)}
        return {k: v for k, v in found.items() if k in keys}

    def set_status(self, run_id: int, status: str) -> None:
        status = _short_string("status", status, 32)
        with self._tx(write=True) as conn:
            n = conn.execute(
                runs_table.update().where(runs_table.c.id == run_id).values(status=status)
            ).rowcount
        if n == 0:
            raise NotFoundError(f"storage {self.masked_url!r}: no run with id {run_id}")

    @staticmethod
    def _run_record(row: Any) -> RunRecord:
        return RunRecord(
            id=row.id,
            study_name=row.study_name,
            trial_number=row.trial_number,
            dataset=row.dataset,
            config=loads(row.config),
            status=row.status,
            created_at=_aware(row.created_at),
        )

    def run(self, run_id: int) -> RunRecord:
        with self._tx(write=False) as conn:
            row = conn.execute(select(runs_table).where(runs_table.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"storage {self.masked_url!r}: no run with id {run_id}")
        return self._run_record(row)

    def find_run(self, study_name: str, trial_number: int) -> RunRecord | None:
        q = select(runs_table).where(
            runs_table.c.study_name == study_name, runs_table.c.trial_number == trial_number
        )
        with self._tx(write=False) as conn:
            row = conn.execute(q).first()
        return None if row is None else self._run_record(row)

    def runs(
        self, study_name: str | None = None, dataset: str | None = None, status: str | None = None
    ) -> list[RunRecord]:
        """Runs in id order, filtered by whichever of study_name, dataset, status are given."""
        q = select(runs_table).order_by(runs_table.c.id)
        if study_name is not None:
            q = q.where(runs_table.c.study_name == study_name)
        if dataset is not None:
            q = q.where(runs_table.c.dataset == dataset)
        if status is not None:
            q = q.where(runs_table.c.status == status)
        with self._tx(write=False) as conn:
            return [self._run_record(r) for r in conn.execute(q)]

    def _check_run(self, conn: Connection, run_id: int) -> None:
        if conn.execute(select(runs_table.c.id).where(runs_table.c.id == run_id)).first() is None:
            raise NotFoundError(f"storage {self.masked_url!r}: no run with id {run_id}")

    # ------------------------------------------------------------------------------------ traces

    def save_trace(self, run_id: int, trace: Mapping[str, Any]) -> None:
        """Store the run's whole trace {column: 1-D array}, replacing any earlier one (a trace only
        grows, so a monitor saves it again as the run goes on). Values are kept bit for bit."""
        columns, n_rows, blob = encode_trace(trace)
        row = {
            "columns": dumps(columns),
            "n_rows": n_rows,
            "encoding": TRACE_ENCODING,
            "data": blob,
            "updated_at": _utcnow(),
        }
        with self._tx(write=True) as conn:
            self._check_run(conn, run_id)
            self._upsert(conn, traces_table, {"run_id": run_id, **row}, ["run_id"], row)

    def load_trace(self, run_id: int) -> dict[str, np.ndarray]:
        """The trace saved for the run, {column: float64 array}, columns in their saved order."""
        q = select(traces_table).where(traces_table.c.run_id == run_id)
        with self._tx(write=False) as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFoundError(f"storage {self.masked_url!r}: no trace for run id {run_id}")
        return self._decode(run_id, row.columns, row.n_rows, row.encoding, row.data)

    def _decode(
        self, run_id: int, columns: str, n_rows: int, encoding: str, data: bytes
    ) -> dict[str, np.ndarray]:
        try:
            return decode_trace(loads(columns), n_rows, encoding, bytes(data))
        except (ValueError, zlib.error) as e:
            raise StorageError(
                f"storage {self.masked_url!r}: trace of run {run_id} is unreadable: {e}"
            ) from e

    def has_trace(self, run_id: int) -> bool:
        q = select(traces_table.c.run_id).where(traces_table.c.run_id == run_id)
        with self._tx(write=False) as conn:
            return conn.execute(q).first() is not None

    # ------------------------------------------------------------------------------- evaluations

    def add_evaluation(self, run_id: int, step: int, metrics: Mapping[str, Any]) -> None:
        """Record one evaluation (every metric, and `hist`/`near` for mixtures and digits). The
        same step again replaces it (a run resumed from a checkpoint re-evaluates)."""
        self.add_evaluations(run_id, [{**metrics, "step": step}])

    def add_evaluations(self, run_id: int, records: Iterable[Mapping[str, Any]]) -> None:
        """Record several evaluations in one transaction; each record carries its `step` (as the
        lines of `evals.jsonl` do)."""
        rows = []
        for rec in records:
            if "step" not in rec:
                raise ValueError(f"each evaluation record must have a 'step'; got keys {sorted(rec)}")
            step = _as_int("evaluation step", rec["step"])
            metrics = {k: v for k, v in rec.items() if k != "step"}
            rows.append({"run_id": run_id, "step": step, "metrics": dumps(metrics)})
        if not rows:
            return
        with self._tx(write=True) as conn:
            self._check_run(conn, run_id)
            for row in rows:
                self._upsert(conn, evaluations_table, row, ["run_id", "step"], {"metrics": row["metrics"]})

    def evaluations(self, run_id: int) -> list[EvaluationRecord]:
        q = (
            select(evaluations_table)
            .where(evaluations_table.c.run_id == run_id)
            .order_by(evaluations_table.c.step)
        )
        with self._tx(write=False) as conn:
            return [EvaluationRecord(r.run_id, r.step, loads(r.metrics)) for r in conn.execute(q)]

    # --------------------------------------------------------------------------------- diagnoses

    def add_diagnosis(self, run_id: int, step: int, diagnosis: DiagnosisLike) -> int:
        """Record a diagnosis made after seeing the trace up to `step`; returns its id. A run keeps
        every diagnosis made of it (the monitor diagnoses as the run goes on)."""
        row = self._diagnosis_row(run_id, step, diagnosis, _utcnow())
        with self._tx(write=True) as conn:
            self._check_run(conn, run_id)
            return int(conn.execute(diagnoses_table.insert().values(**row)).inserted_primary_key[0])

    @staticmethod
    def _diagnosis_row(run_id: int, step: int, diagnosis: DiagnosisLike, now: datetime) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "step": _as_int("diagnosis step", step),
            "label": _short_string("diagnosis label", diagnosis.label, 32),
            "probabilities": dumps(dict(diagnosis.probabilities)),
            "model": diagnosis.model or "",
            "rows": _as_int("diagnosis rows", diagnosis.rows),
            "diverged_at": finite_or_none(diagnosis.diverged_at),
            "evidence": dumps(dict(diagnosis.evidence)),
            "advice": dumps(list(diagnosis.advice)),
            "created_at": now,
        }

    def diagnoses(self, run_id: int) -> list[DiagnosisRecord]:
        """The run's diagnoses, oldest step first."""
        q = (
            select(diagnoses_table)
            .where(diagnoses_table.c.run_id == run_id)
            .order_by(diagnoses_table.c.step, diagnoses_table.c.id)
        )
        with self._tx(write=False) as conn:
            rows = list(conn.execute(q))
        return [
            DiagnosisRecord(
                id=r.id,
                run_id=r.run_id,
                step=r.step,
                diagnosis=StoredDiagnosis(
                    label=r.label,
                    probabilities=loads(r.probabilities),
                    evidence=loads(r.evidence),
                    advice=loads(r.advice),
                    model=r.model,
                    rows=r.rows,
                    diverged_at=r.diverged_at,
                ),
                created_at=_aware(r.created_at),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------------------- settling

    def settle_runs(self, runs: Sequence[SettledRun]) -> None:
        """What a search stores of the runs that ended in a round, in one transaction of one
        statement per table (traces, evaluations, labels, diagnoses, statuses), where
        `save_trace`, `add_evaluations`, `set_label`, `add_diagnosis` and `set_status` per run were
        five transactions (or savepoints) and as many existence checks each. Same rows, same
        checks; a refused value (or a run id that does not exist) writes nothing of the round."""
        if not runs:
            return
        now = _utcnow()
        traces, evals, labels, diagnoses, statuses = [], [], [], [], []
        for r in runs:
            columns, n_rows, blob = encode_trace(r.trace)
            traces.append({"run_id": r.run_id, "columns": dumps(columns), "n_rows": n_rows,
                           "encoding": TRACE_ENCODING, "data": blob, "updated_at": now})  # fmt: skip
            for rec in r.evaluations:
                if "step" not in rec:
                    raise ValueError(f"each evaluation record must have a 'step'; got keys {sorted(rec)}")
                metrics = dumps({k: v for k, v in rec.items() if k != "step"})
                evals.append({"run_id": r.run_id, "step": _as_int("evaluation step", rec["step"]), "metrics": metrics})
            if r.label is not None:
                labels.append({"run_id": r.run_id, "source": "rules", "label": _short_string("label", r.label, 32), "created_at": now})
            if r.diagnosis is not None:
                diagnoses.append(self._diagnosis_row(r.run_id, r.diagnosis_step, r.diagnosis, now))
            statuses.append({"rid": r.run_id, "new_status": _short_string("status", r.status, 32)})
        ids = sorted({r.run_id for r in runs})
        with self._tx(write=True) as conn:
            found = {row[0] for row in conn.execute(select(runs_table.c.id).where(runs_table.c.id.in_(ids)))}
            if len(found) < len(ids):
                missing = [i for i in ids if i not in found]
                raise NotFoundError(f"storage {self.masked_url!r}: no run with id {missing[0]} (nor {missing[1:]})")
            self._upsert_many(conn, traces_table, traces, ["run_id"])
            self._upsert_many(conn, evaluations_table, evals, ["run_id", "step"])
            self._upsert_many(conn, labels_table, labels, ["run_id", "source"])
            if diagnoses:
                conn.execute(diagnoses_table.insert(), diagnoses)
            update = runs_table.update().where(runs_table.c.id == bindparam("rid"))
            conn.execute(update.values(status=bindparam("new_status")), statuses)

    # ------------------------------------------------------------------------------------ labels

    def set_label(self, run_id: int, label: str, source: str = USER_SOURCE) -> None:
        """The run's ground-truth label from `source` ("user", "rules", ...), replacing that
        source's earlier label."""
        label = _short_string("label", label, 32)
        source = _short_string("label source", source, 64)
        row = {"run_id": run_id, "source": source, "label": label, "created_at": _utcnow()}
        with self._tx(write=True) as conn:
            self._check_run(conn, run_id)
            self._upsert(
                conn,
                labels_table,
                row,
                ["run_id", "source"],
                {"label": label, "created_at": row["created_at"]},
            )

    def labels(self, run_id: int) -> dict[str, str]:
        """{source: label} for the run."""
        q = select(labels_table).where(labels_table.c.run_id == run_id)
        with self._tx(write=False) as conn:
            return {r.source: r.label for r in conn.execute(q)}

    def labelled_runs(
        self, sources: Sequence[str] | None = None, dataset: str | None = None
    ) -> list[LabelledRun]:
        """Runs that have both a trace and a ground-truth label, with both, for retraining the
        classifier. With `sources`, only labels from those, the earliest listed winning when a run
        has several; without, every source: a "user" label wins (a person's correction outranks
        any automatic labeller run later), else the most recently set."""
        t = traces_table
        q = (
            select(
                runs_table,
                labels_table.c.label,
                labels_table.c.source,
                labels_table.c.created_at.label("labelled_at"),
                t.c.columns.label("trace_columns"),
                t.c.n_rows,
                t.c.encoding,
                t.c.data,
            )
            .join(labels_table, labels_table.c.run_id == runs_table.c.id)
            .join(t, t.c.run_id == runs_table.c.id)
            .order_by(runs_table.c.id)
        )
        if sources is not None:
            sources = list(sources)
            q = q.where(labels_table.c.source.in_(sources))
        if dataset is not None:
            q = q.where(runs_table.c.dataset == dataset)
        with self._tx(write=False) as conn:
            rows = list(conn.execute(q))
        best: dict[int, Any] = {}
        for r in rows:
            cur = best.get(r.id)
            if cur is None:
                best[r.id] = r
            elif sources is not None:
                if sources.index(r.source) < sources.index(cur.source):
                    best[r.id] = r
            elif _label_rank(r) > _label_rank(cur):
                best[r.id] = r
        return [
            LabelledRun(
                run=self._run_record(r),
                label=r.label,
                source=r.source,
                trace=self._decode(r.id, r.trace_columns, r.n_rows, r.encoding, r.data),
            )
            for r in best.values()
        ]

    def dispose(self) -> None:
        """Close pooled connections (e.g. before dropping the database); the Store stays usable."""
        self.engine.dispose()

    close = dispose

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()
