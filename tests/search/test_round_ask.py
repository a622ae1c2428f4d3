"""A round's asks from one read of the study (ganstab/search/round_ask.py), on real SQLite files:
the same trials and parameters as sequential `study.ask()` calls, one read of the study's trials
per round, waiting trials claimed exactly once across two drivers."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.batched_writes import BatchedWrites
from ganstab.search.factories import make_sampler
from ganstab.search.round_ask import RoundAsk
from ganstab.search.space import find_space, load_space
from ganstab.storage.studies import open_optuna_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(path: Path, sampler: str, seed: int) -> optuna.Study:
    storage = open_optuna_storage(f"sqlite:///{path}")
    return optuna.create_study(storage=storage, study_name="s", sampler=make_sampler(sampler, seed), load_if_exists=True)


def _history(study: optuna.Study, space: object, n: int) -> None:
    """`n` told trials (values from their number), the same in every study given the same seed."""
    for k in range(n):
        trial = study.ask()
        space.sample(trial)  # type: ignore[attr-defined]
        study.tell(trial, float(k % 7) / 7)


def _round(study: optuna.Study, space: object, n: int) -> list[optuna.Trial]:
    writes = BatchedWrites(study._storage)
    asked = RoundAsk(study, study.get_trials(deepcopy=False), writes).ask_many(n)
    for trial in asked:
        space.sample(trial)  # type: ignore[attr-defined]
    writes.flush()
    return asked


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_batched_round_samples_what_sequential_asks_sample(tmp_path: Path, sampler: str) -> None:
    space = load_space(find_space("quick"))
    a, b = _study(tmp_path / "a.db", sampler, 3), _study(tmp_path / "b.db", sampler, 3)
    for study in (a, b):
        _history(study, space, 12)
        study.enqueue_trial({"train.lr_d": 1e-3})  # a re-queued point is asked first
        study.sampler = make_sampler(sampler, 99)  # as each round reseeds
    sequential = []
    for _ in range(6):
        trial = a.ask()
        space.sample(trial)
        sequential.append(trial)
    batched = _round(b, space, 6)

    stored_a = {t.number: t for t in a.get_trials() if t.number >= 12}
    stored_b = {t.number: t for t in b.get_trials() if t.number >= 12}
    assert [t.number for t in batched] == [t.number for t in sequential] == list(range(12, 18))
    assert stored_b[12].params["train.lr_d"] == 1e-3
    for number in stored_a:
        assert stored_b[number].params == stored_a[number].params, number
        assert stored_b[number].distributions == stored_a[number].distributions
        assert stored_b[number].state == TrialState.RUNNING
    # the round's trials differ from each other (the constant liar saw the earlier ones)
    assert len({tuple(sorted(t.params.items())) for t in stored_b.values()}) == 6


class _CountingRDB(optuna.storages.RDBStorage):
    """A real SQLite RDBStorage that counts its reads of a study's trials."""

    reads = 0

    def _get_trials(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        type(self).reads += 1
        return super()._get_trials(*args, **kwargs)


def test_a_round_of_64_asks_reads_the_study_once(tmp_path: Path) -> None:
    space = load_space(find_space("quick"))
    rdb = _CountingRDB(f"sqlite:///{tmp_path / 'c.db'}")
    storage = optuna.storages._CachedStorage(rdb)
    study = optuna.create_study(storage=storage, study_name="s", sampler=make_sampler("tpe", 0))
    _history(study, space, 10)
    _CountingRDB.reads = 0
    trials = study.get_trials(deepcopy=False)  # the round's one read (the driver's count)
    asked = RoundAsk(study, trials, writes := BatchedWrites(storage)).ask_many(64)
    for trial in asked:
        space.sample(trial)
    writes.flush()
    assert _CountingRDB.reads == 1
    stored = [t for t in study.get_trials() if t.number >= 10]
    assert len(stored) == 64 and all(t.params for t in stored)
    # sequential asks read it at least once per ask
    _CountingRDB.reads = 0
    for _ in range(8):
        space.sample(study.ask())
    assert _CountingRDB.reads >= 8


def test_waiting_trials_are_claimed_once_across_two_drivers(tmp_path: Path) -> None:
    space = load_space(find_space("quick"))
    one, two = _study(tmp_path / "w.db", "random", 0), _study(tmp_path / "w.db", "random", 1)
    for lr in (8e-4, 9e-4, 1e-3, 1.1e-3):
        one.enqueue_trial({"train.lr_d": lr})
    # both drivers read the study while all four wait; the second asks after the first claimed
    w1, w2 = BatchedWrites(one._storage), BatchedWrites(two._storage)
    r1 = RoundAsk(one, one.get_trials(deepcopy=False), w1)
    r2 = RoundAsk(two, two.get_trials(deepcopy=False), w2)
    first = r1.ask_many(3)
    second = r2.ask_many(3)
    for trial in first + second:
        space.sample(trial)
    w1.flush()
    w2.flush()
    ids = [t._trial_id for t in first + second]
    assert len(set(ids)) == 6
    trials = {t._trial_id: t for t in one.get_trials()}
    lrs = [trials[i].params["train.lr_d"] for i in ids]
    # each waiting point runs exactly once: three in the first round, the fourth in the second
    assert sorted(lrs[:3]) == [8e-4, 9e-4, 1e-3] and lrs[3] == 1.1e-3
    assert not [t for t in trials.values() if t.state == TrialState.WAITING]
    assert [t.number for t in first + second] == list(range(6))
