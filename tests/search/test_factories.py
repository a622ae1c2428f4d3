"""The Optuna parts a search is made of: samplers by name, and each scheduler's default pruner."""

from __future__ import annotations

import importlib.util

import optuna
import pytest

from ganstab.engine import config as C
from ganstab.search.errors import SearchError
from ganstab.search.factories import SAMPLERS, default_pruner, make_sampler


def test_default_asha_rungs_follow_the_steps() -> None:
    train = C.apply_overrides(C.Config(), ["train.steps=1500", "train.eval_every=100"]).train
    pruner = default_pruner("asha", train)
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    assert pruner._min_resource == 200 and pruner._reduction_factor == 3  # 1500 / 9, to an evaluation


def test_default_median_pruner_waits_for_a_warm_up() -> None:
    train = C.apply_overrides(C.Config(), ["train.steps=1000"]).train
    pruner = default_pruner("median", train)
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert pruner._n_warmup_steps == 300 and pruner._n_startup_trials == 5  # 30 % of the steps


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_is_seeded_and_reproducible(name: str) -> None:
    """The same seed draws the same first points; another seed other points. A sampler whose
    package is missing says what to install."""
    if name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        with pytest.raises(SearchError, match="sampler 'cmaes' needs the cmaes package: pip install cmaes"):
            make_sampler(name, 0)
        return

    def draws(seed: int) -> list[float]:
        study = optuna.create_study(sampler=make_sampler(name, seed), direction="maximize")
        out = []
        for _ in range(3):
            trial = study.ask()
            out.append(trial.suggest_float("x", 0.0, 1.0))
            study.tell(trial, out[-1])
        return out

    assert draws(3) == draws(3) and draws(3) != draws(4)


def test_an_unknown_sampler_names_the_choices() -> None:
    with pytest.raises(SearchError, match=r"sampler must be one of \['tpe', 'random', 'cmaes', 'gp'\], but got 'bo'") as err:
        make_sampler("bo", 0)
    assert err.value.key == "sampler"
