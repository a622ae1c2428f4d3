"""Optuna's RDB storage with a faster read of a study's trials.

Optuna's `_CachedStorage` reads every trial that finished since its last look, and every trial
still unfinished, through `RDBStorage._get_trials` on each `ask`, each `get_all_trials`. Optuna
5.1 builds those trials through its ORM (five `selectinload`s, one mapped object per row), which
costs about a millisecond of CPU per trial: a large share of a search's bookkeeping per trial.

`CoreReadRDBStorage._get_trials` returns the same FrozenTrials (same order, fields, values and
their inf/nan forms, datetimes, distributions) from plain SQLAlchemy Core rows: one SELECT of the
trials, then one SELECT per child table filtered by the same condition as a subquery (so the
number of bound variables never exceeds the trials' own), in the same session and transaction
Optuna would use. Optuna's own conversion helpers turn the stored forms into values. Everything
else is Optuna's RDBStorage unchanged, so it pickles, caches and writes as before.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Container, Iterable
from typing import Any

import sqlalchemy
from optuna import distributions
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session, _logger
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import exc as sqlalchemy_exc

__all__ = ["CoreReadRDBStorage"]

_TRIALS = models.TrialModel.__table__
_PARAMS = models.TrialParamModel.__table__
_VALUES = models.TrialValueModel.__table__
_USER_ATTRS = models.TrialUserAttributeModel.__table__
_SYSTEM_ATTRS = models.TrialSystemAttributeModel.__table__
_INTERMEDIATE = models.TrialIntermediateValueModel.__table__
_STUDIES = models.StudyModel.__table__

_UTC = datetime.timezone.utc


@functools.lru_cache(maxsize=4096)
def _distribution(distribution_json: str) -> distributions.BaseDistribution:
    """A parsed distribution, shared by every trial with the same JSON (a study has a few)."""
    return distributions.json_to_distribution(distribution_json)


def _local_naive(stored: datetime.datetime | None) -> datetime.datetime | None:
    """A stored naive-UTC datetime as naive local time, as `models.TrialModel.datetime_start`."""
    if stored is None:
        return None
    return stored.replace(tzinfo=_UTC).astimezone().replace(tzinfo=None)


class CoreReadRDBStorage(RDBStorage):
    """`optuna.storages.RDBStorage` whose `_get_trials` reads rows with SQLAlchemy Core instead
    of the ORM: the same trials, at a fraction of the CPU per trial."""

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        # Optuna's rule: an included id above `trial_id_greater_than` is covered by the range
        included_trial_ids = {t for t in included_trial_ids if t <= trial_id_greater_than}

        base: list[Any] = [_TRIALS.c.study_id == study_id]
        if states is not None:
            assert isinstance(states, Iterable)  # for type checkers, as in Optuna
            base.append(_TRIALS.c.state.in_(states))
        picked = list(base)
        if included_trial_ids and trial_id_greater_than > -1:
            listed = _TRIALS.c.trial_id.in_(included_trial_ids)
            picked.append(sqlalchemy.or_(listed, _TRIALS.c.trial_id > trial_id_greater_than))
        elif trial_id_greater_than > -1:
            picked.append(_TRIALS.c.trial_id > trial_id_greater_than)

        with _create_scoped_session(self.scoped_session) as session:
            conn = session.connection()
            # Ensure that the study exists, with Optuna's error (KeyError "Record does not exist.")
            study = sqlalchemy.select(_STUDIES.c.study_id).where(_STUDIES.c.study_id == study_id)
            if conn.execute(study).first() is None:
                raise KeyError(models.NOT_FOUND_MSG)
            try:
                trial_rows = self._select_trials(conn, picked)
                where = picked
            except sqlalchemy_exc.OperationalError as e:
                # Likely too many variables in the IN list (SQLite's SQLITE_MAX_VARIABLE_NUMBER):
                # Optuna's fallback, read the study's trials and filter them here.
                _logger.warning(
                    f"Caught an error from sqlalchemy: {e!s}. Falling back to a slower alternative."
                )
                trial_rows = [
                    row
                    for row in self._select_trials(conn, base)
                    if row.trial_id in included_trial_ids or row.trial_id > trial_id_greater_than
                ]
                where = base
            if not trial_rows:  # nothing new: skip the child tables (the usual case between asks)
                return []
            children = _Children.read(conn, where)

        return [children.frozen_trial(row) for row in trial_rows]

    @staticmethod
    def _select_trials(conn: Any, where: list[Any]) -> list[Any]:
        query = sqlalchemy.select(
            _TRIALS.c.trial_id,
            _TRIALS.c.number,
            _TRIALS.c.state,
            _TRIALS.c.datetime_start,
            _TRIALS.c.datetime_complete,
        )
        return list(conn.execute(query.where(*where).order_by(_TRIALS.c.trial_id)))


class _Children:
    """The child rows (params, values, attributes, intermediate values) of the trials matching a
    condition, grouped by trial id."""

    def __init__(self) -> None:
        self.params: dict[int, list[tuple[str, float, str]]] = {}
        self.values: dict[int, list[tuple[int, float | None, Any]]] = {}
        self.user_attrs: dict[int, dict[str, Any]] = {}
        self.system_attrs: dict[int, dict[str, Any]] = {}
        self.intermediate: dict[int, dict[int, float]] = {}

    @classmethod
    def read(cls, conn: Any, where: list[Any]) -> _Children:
        ids = sqlalchemy.select(_TRIALS.c.trial_id).where(*where)
        out = cls()

        # params in the order Optuna gives them (by param_id)
        p = _PARAMS.c
        for trial_id, name, value, dist_json in conn.execute(
            sqlalchemy.select(p.trial_id, p.param_name, p.param_value, p.distribution_json)
            .where(p.trial_id.in_(ids))
            .order_by(p.param_id)
        ):
            out.params.setdefault(trial_id, []).append((name, value, dist_json))

        v = _VALUES.c
        for trial_id, objective, value, value_type in conn.execute(
            sqlalchemy.select(v.trial_id, v.objective, v.value, v.value_type).where(v.trial_id.in_(ids))
        ):
            out.values.setdefault(trial_id, []).append((objective, value, value_type))

        for table, into in ((_USER_ATTRS, out.user_attrs), (_SYSTEM_ATTRS, out.system_attrs)):
            a = table.c
            rows = conn.execute(
                sqlalchemy.select(a.trial_id, a.key, a.value_json)
                .where(a.trial_id.in_(ids))
                .order_by(*table.primary_key.columns)
            )
            for trial_id, key, value_json in rows:
                into.setdefault(trial_id, {})[key] = json.loads(value_json)

        i = _INTERMEDIATE.c
        to_value = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value
        for trial_id, step, value, value_type in conn.execute(
            sqlalchemy.select(i.trial_id, i.step, i.intermediate_value, i.intermediate_value_type)
            .where(i.trial_id.in_(ids))
            .order_by(i.step)
        ):
            out.intermediate.setdefault(trial_id, {})[step] = to_value(value, value_type)
        return out

    def frozen_trial(self, row: Any) -> FrozenTrial:
        """The FrozenTrial of one `trials` row, as `RDBStorage._build_frozen_trial_from_trial_model`
        builds it."""
        trial_id = row.trial_id
        values: list[float] | None = None
        stored_values = self.values.get(trial_id)
        if stored_values:
            values = [0 for _ in stored_values]  # as Optuna: a missing objective stays 0
            for objective, value, value_type in stored_values:
                values[objective] = models.TrialValueModel.stored_repr_to_value(value, value_type)

        params: dict[str, Any] = {}
        dists: dict[str, distributions.BaseDistribution] = {}
        for name, value, dist_json in self.params.get(trial_id, ()):
            dist = _distribution(dist_json)
            params[name] = dist.to_external_repr(value)
            dists[name] = dist

        return FrozenTrial(
            number=row.number,
            state=row.state,
            value=None,
            values=values,
            datetime_start=_local_naive(row.datetime_start),
            datetime_complete=_local_naive(row.datetime_complete),
            params=params,
            distributions=dists,
            user_attrs=self.user_attrs.get(trial_id, {}),
            system_attrs=self.system_attrs.get(trial_id, {}),
            intermediate_values=self.intermediate.get(trial_id, {}),
            trial_id=trial_id,
        )
