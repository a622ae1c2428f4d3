"""`CoreReadRDBStorage._get_trials` returns what Optuna's ORM read returns, on a real SQLite file
and a real PostgreSQL database, for every filter `_CachedStorage` and `get_all_trials` use."""

from __future__ import annotations

import math
import pickle
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from ganstab.storage.fast_reads import CoreReadRDBStorage
from ganstab.storage.studies import open_optuna_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTRIBUTIONS = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "beta": FloatDistribution(0.0, 0.99),
    "step_q": FloatDistribution(0.0, 1.0, step=0.25),
    "width": IntDistribution(16, 256, log=True),
    "depth": IntDistribution(1, 8, step=1),
    "loss": CategoricalDistribution(["wgan", "hinge", None, 3, 0.5]),
}
NESTED = {"a": [1, 2.5, {"b": None, "c": [True, "x"]}], "s": "é", "n": {"deep": {"er": [[], {}]}}}


@pytest.fixture(autouse=True)
def _local_time_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Optuna turns stored UTC datetimes into local time: a zone away from UTC makes that show."""
    monkeypatch.setenv("TZ", "Pacific/Chatham")  # +12:45 / +13:45, with daylight saving
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _fill(study: optuna.Study, storage: RDBStorage) -> list[int]:
    """Trials of every state, with params of every kind, nested attrs and inf/nan values; their ids."""
    ids = []

    def ask() -> optuna.Trial:
        trial = study.ask(DISTRIBUTIONS)
        trial.set_user_attr("nested", NESTED)
        trial.set_user_attr("number_twice", trial.number * 2)
        storage.set_trial_system_attr(
            trial._trial_id, "sys", {"cohort": trial.number // 3, "tags": ["a", "b"]}
        )
        ids.append(trial._trial_id)
        return trial

    for i in range(3):
        study.tell(ask(), 0.25 * i)
    study.tell(ask(), float("inf"))
    pruned = ask()
    for step, value in enumerate([1.5, float("inf"), float("-inf"), float("nan"), -2.0]):
        pruned.report(value, step * 10)
    study.tell(pruned, state=TrialState.PRUNED)
    study.tell(ask(), state=TrialState.FAIL)
    running = ask()
    running.report(0.125, 3)
    ask()  # another RUNNING one, without intermediate values
    study.enqueue_trial({"lr": 1e-3, "loss": "hinge"}, user_attrs={"queued": NESTED})
    study.enqueue_trial({})  # WAITING, no params at all
    ids += [t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))]
    # finished, created after the waiting ones (an ask would pop a waiting trial instead)
    params = {"lr": 0.01, "beta": 0.5, "step_q": 0.75, "width": 32, "depth": 3, "loss": None}
    study.add_trial(
        optuna.trial.create_trial(
            params=params,
            distributions=DISTRIBUTIONS,
            value=1.0,
            intermediate_values={0: float("nan"), 5: 2.0},
        )
    )
    ids.append(study.get_trials(deepcopy=False)[-1]._trial_id)
    return ids


def _exact(trial: FrozenTrial) -> str:
    """Every field of a trial, with types, nan and the order of params (ORM: by param_id); the
    order of attributes and intermediate values is the database's in the ORM, so it is sorted."""
    fields: dict[str, Any] = dict(vars(trial))
    for name in ("_user_attrs", "_system_attrs", "intermediate_values"):
        fields[name] = sorted(fields[name].items())
    fields["_params"] = list(fields["_params"].items())
    fields["_distributions"] = list(fields["_distributions"].items())
    return repr(fields)  # repr: nan equals nan, 1 differs from 1.0


def _same(core: list[FrozenTrial], orm: list[FrozenTrial]) -> None:
    assert [_exact(t) for t in core] == [_exact(t) for t in orm]
    assert [t._trial_id for t in core] == [t._trial_id for t in orm]
    assert [t.distributions for t in core] == [t.distributions for t in orm]
    has_nan = [any(math.isnan(v) for v in t.intermediate_values.values()) for t in orm]
    assert all(a == b for a, b, nan in zip(core, orm, has_nan, strict=True) if not nan)  # FrozenTrial.__eq__


@pytest.fixture
def storages(url: str) -> Iterator[tuple[CoreReadRDBStorage, RDBStorage]]:
    core = open_optuna_storage(url)
    orm = RDBStorage(url)
    yield core, orm
    core.engine.dispose()
    orm.engine.dispose()


def test_the_core_read_returns_the_orm_reads_trials(storages: tuple[CoreReadRDBStorage, RDBStorage]) -> None:
    core, orm = storages
    assert type(core) is CoreReadRDBStorage and isinstance(core, RDBStorage)
    other = optuna.create_study(storage=orm, study_name="other")  # trials of another study stay out
    other.tell(other.ask(DISTRIBUTIONS), 9.0)
    study = optuna.create_study(storage=orm, study_name="mixed")
    ids = _fill(study, orm)
    other.tell(other.ask(DISTRIBUTIONS), 8.0)
    sid = study._study_id
    mid = ids[len(ids) // 2]
    states_seen = {t.state for t in orm._get_trials(sid, None, set(), -1)}
    assert states_seen == set(TrialState)  # all five states are in the study

    filters: list[tuple[Any, set[int], int]] = [
        (None, set(), -1),
        ((TrialState.COMPLETE, TrialState.PRUNED), set(), -1),
        ((TrialState.RUNNING, TrialState.WAITING), set(), -1),
        (None, set(), mid),
        (None, {ids[0], ids[2], mid}, mid),
        (None, {ids[1], ids[-1], mid + 1}, mid),  # ids above `mid` are dropped from the list first
        ((TrialState.FAIL, TrialState.RUNNING), {ids[5], ids[6]}, mid),
        (None, {ids[0]}, -1),  # a list without a range: Optuna reads every trial
        (None, set(), max(ids)),
        ((TrialState.COMPLETE,), set(), 10**9),
    ]
    for states, included, greater_than in filters:
        got = core._get_trials(sid, states, set(included), greater_than)
        want = RDBStorage._get_trials(orm, sid, states, set(included), greater_than)
        _same(got, want)
    assert len(core._get_trials(sid, None, set(), -1)) == len(ids)
    _same(core.get_all_trials(sid), orm.get_all_trials(sid))


def test_multi_objective_values_with_infinities(storages: tuple[CoreReadRDBStorage, RDBStorage]) -> None:
    core, orm = storages
    study = optuna.create_study(storage=orm, directions=["minimize", "maximize"])
    for values in ([1.5, float("-inf")], [float("inf"), 2.0], [0.0, -0.0]):
        study.tell(study.ask({"x": FloatDistribution(0, 1)}), values)
    got = core._get_trials(study._study_id, None, set(), -1)
    _same(got, orm._get_trials(study._study_id, None, set(), -1))
    assert [t.values for t in got][:2] == [[1.5, float("-inf")], [float("inf"), 2.0]]


def test_a_missing_study_raises_optunas_error(storages: tuple[CoreReadRDBStorage, RDBStorage]) -> None:
    core, _ = storages
    with pytest.raises(KeyError, match="Record does not exist."):
        core._get_trials(12345, None, set(), -1)


def test_too_many_included_ids_fall_back_like_optuna(tmp_path: Path) -> None:
    """Past SQLite's limit on bound variables (999 in SQLite before 3.32), the trials are filtered
    in Python, as Optuna does."""
    url = f"sqlite:///{tmp_path / 'many.db'}"
    core, orm = open_optuna_storage(url), RDBStorage(url)
    for engine in (core.engine, orm.engine):
        sqlalchemy.event.listen(
            engine, "connect", lambda conn, _: conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        )
        engine.dispose()
    study = optuna.create_study(storage=orm)
    ids = _fill(study, orm)
    mid = ids[len(ids) // 2]
    included = {ids[1], ids[3]} | set(range(-3000, -1000))  # ids that exist nowhere
    with pytest.raises(sqlalchemy.exc.OperationalError, match="too many SQL variables"):
        with core.engine.connect() as conn:  # the limit holds: the IN list alone exceeds it
            conn.execute(sqlalchemy.select(sqlalchemy.literal(1)).where(sqlalchemy.literal(0).in_(included)))
    got = core._get_trials(study._study_id, None, set(included), mid)
    _same(got, orm._get_trials(study._study_id, None, set(included), mid))
    assert {t._trial_id for t in got} == {ids[1], ids[3]} | {i for i in ids if i > mid}
    core.engine.dispose()
    orm.engine.dispose()


def test_the_storage_pickles_and_reads_the_same_after(
    storages: tuple[CoreReadRDBStorage, RDBStorage],
) -> None:
    core, orm = storages
    study = optuna.create_study(storage=orm)
    _fill(study, orm)
    again = pickle.loads(pickle.dumps(core))
    assert type(again) is CoreReadRDBStorage
    _same(
        again._get_trials(study._study_id, None, set(), -1), orm._get_trials(study._study_id, None, set(), -1)
    )
    again.engine.dispose()


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -3, 3)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    n = trial.suggest_int("n", 1, 6)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    for step in range(3):
        trial.report(x * x + step, step)
    if kind == "c" and n > 4:
        raise optuna.TrialPruned()
    return (x - 1) ** 2 + math.log10(lr) ** 2 / 10 + n * 0.1 + {"a": 0, "b": 0.3, "c": 0.6}[kind]


def test_tpe_sees_the_same_trials_as_with_optunas_storage(url: str) -> None:
    """An optimize loop through open_optuna_storage samples what plain RDBStorage makes it sample."""
    runs = []
    for name, storage in (("core", open_optuna_storage(url)), ("orm", RDBStorage(url))):
        sampler = optuna.samplers.TPESampler(seed=7, n_startup_trials=4)
        study = optuna.create_study(storage=storage, study_name=name, sampler=sampler)
        study.optimize(_objective, n_trials=12)
        runs.append([(t.number, t.state, t.params, t.value, t.intermediate_values) for t in study.trials])
        storage.engine.dispose()
    assert runs[0] == runs[1]
    assert {s for _, s, *_ in runs[0]} >= {TrialState.COMPLETE}
