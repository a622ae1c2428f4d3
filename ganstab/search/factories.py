"""The Optuna parts a search is made of, by name: its sampler (`make_sampler`) and the quality
pruner a scheduler uses unless the caller gives one (`default_pruner`)."""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import optuna

from ganstab.search.errors import SearchError

__all__ = ["SAMPLERS", "SCHEDULERS", "default_pruner", "make_sampler"]

SAMPLERS = ("tpe", "random", "cmaes", "gp")
SCHEDULERS = ("median", "asha")  # how a cohort spends its steps (see run_search)
ASHA_ETA = 3  # successive halving: a third of each rung goes on
WARMUP_FRACTION = 0.3  # the default quality pruner ignores the first 30% of training (lesson 2)
N_STARTUP_TRIALS = 5  # ... and prunes nothing before this many trials are COMPLETE


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """A seeded Optuna sampler by name: tpe, random, cmaes (needs `cmaes`), gp (needs torch and
    scipy)."""
    if name == "tpe":
        # A cohort's trials are asked together, before any of them is told: the constant liar
        # keeps TPE from proposing the same region K times; multivariate TPE models the
        # learning rates jointly (lr_d and lr_g matter as a pair, lesson 9).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise SearchError("sampler 'cmaes' needs the cmaes package: pip install cmaes", key="sampler")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        missing = [m for m in ("torch", "scipy") if importlib.util.find_spec(m) is None]
        if missing:
            raise SearchError(
                f"sampler 'gp' needs {' and '.join(missing)}: pip install {' '.join(missing)}", key="sampler"
            )
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    raise SearchError(f"sampler must be one of {list(SAMPLERS)}, but got {name!r}.", key="sampler")


def default_pruner(scheduler: str, train: Any) -> optuna.pruners.BasePruner:
    """The quality pruner on `eval_score` a scheduler uses unless the caller gives one. median:
    Optuna's MedianPruner after N_STARTUP_TRIALS complete trials and a warm-up of WARMUP_FRACTION
    of the steps (lesson 2). asha: successive halving with rungs at steps/9 and steps/3 (rounded
    up to an evaluation), the top third of each rung going on (Li et al., ASHA)."""
    if scheduler == "asha":
        every = train.eval_every or train.steps
        rung = max(every, -(-(train.steps // ASHA_ETA**2) // every) * every)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=rung, reduction_factor=ASHA_ETA)
    return optuna.pruners.MedianPruner(
        n_startup_trials=N_STARTUP_TRIALS, n_warmup_steps=int(WARMUP_FRACTION * train.steps)
    )
