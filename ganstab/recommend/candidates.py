"""The candidates of a recommendation and the choice among them.

Which runs may be candidates. A high score can come from a run that is falling apart (lesson 2), so
when diagnoses exist only runs whose verdict is `converging` are kept (the verdict: see
`ganstab.recommend.history`). If no finished run has a verdict at all (a search run with
`diagnose=False`), the finished runs are ranked by score alone and the message says the diagnoses
were missing. Runs are ranked by final score; the first `top` distinct configurations are taken,
where two configs are the same if they differ only in `train.seed` and `train.device`.

How one is chosen, once every candidate is retrained on the same new seeds (`rank_key`):

1. fewer failed seeds first (a seed that diverged or ended without a finite score): a
   configuration that breaks on some seeds is not a recommendation, whatever its other seeds did;
2. then the highest *robust score* `mean(score) - std(score)` over the seeds that finished (sample
   standard deviation, ddof=1; 0 with a single seed), so a candidate that is good on every seed
   beats one that is brilliant on one and poor on another;
3. ties: the better historic rank.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganstab.checks import whole_number
from ganstab.engine.config import Config, flat_items
from ganstab.recommend.history import CONVERGING, History, HistoryRun

__all__ = [
    "SOURCE_HISTORY",
    "SOURCE_LESSONS",
    "SOURCE_SHIPPED",
    "Candidate",
    "Recommendation",
    "identity",
    "mean_std",
    "rank_key",
    "ranked",
    "select_candidates",
]

SOURCE_HISTORY = "history"
SOURCE_LESSONS = "lessons default"
SOURCE_SHIPPED = "shipped"  # a configuration of ganstab's zoo (ganstab/zoo/), offered without history
# Keys that do not make a configuration different: the seed is what reseeding varies, the device
# only where it runs.
IDENTITY_IGNORES = ("train.seed", "train.device")


@dataclass
class Candidate:
    """One configuration retrained across seeds, with its mean and spread."""

    label: str  # "STUDY #TRIAL", "shipped zoo:NAME", or "lessons default"
    config: Config  # resolved, as retrained; seed = the first of `seeds`
    params: dict[str, Any]  # the searched values, or the lessons preset's train values
    history_score: float | None  # the score the search saw (one seed), None for the lessons default
    history_rank: int  # 1 = the best historic score among the candidates
    history_runs: int  # finished runs in the pool with this configuration
    diagnosis: str | None  # the historic run's verdict
    seeds: list[int] = field(default_factory=list)
    per_seed: dict[str, list[float | None]] = field(default_factory=dict)  # None: the seed failed
    mean: dict[str, float] = field(default_factory=dict)  # over the seeds that finished
    std: dict[str, float] = field(default_factory=dict)  # sample std (ddof=1); 0 for one seed
    failed: int = 0  # seeds that diverged or ended without a finite score
    statuses: list[str] = field(default_factory=list)  # the trainer's status per seed
    run_dir: str | None = None  # the cohort folder the seeds trained in
    study_name: str | None = None  # the historic trial's study (None for the lessons default)
    trial_number: int | None = None  # the historic trial's number in it

    @property
    def robust_score(self) -> float:
        """mean(score) - std(score) over the finished seeds; -inf when none finished."""
        mean, std = self.mean.get("score", math.nan), self.std.get("score", math.nan)
        if not (math.isfinite(mean) and math.isfinite(std)):
            return -math.inf
        return mean - std


@dataclass
class Recommendation:
    """What `recommend` decided, and why."""

    dataset: str
    storage: str  # masked URL
    source: str  # SOURCE_HISTORY, SOURCE_SHIPPED or SOURCE_LESSONS
    message: str  # one paragraph for a person: where the candidates came from
    config: Config  # the chosen config, as written to `out`
    chosen: int  # index into `candidates`
    candidates: list[Candidate]
    seeds: list[int]
    out: Path
    run_dir: Path  # where the reseeded cohorts trained
    history_runs: int  # finished runs on the data set found in the storage
    notes: list[str] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)  # studies whose note and attribute show it

    @property
    def best(self) -> Candidate:
        return self.candidates[self.chosen]


def rank_key(c: Candidate) -> tuple[int, float, int]:
    """Sort key, best first: fewer failed seeds, then higher mean - std of the score, then the
    better historic rank (see the module doc for why)."""
    return (c.failed, -c.robust_score, c.history_rank)


def ranked(candidates: list[Candidate]) -> list[int]:
    """The candidates' indices in the rule's order, best first."""
    return sorted(range(len(candidates)), key=lambda i: rank_key(candidates[i]))


def mean_std(c: Candidate, name: str) -> str:
    """'0.812 ± 0.031': a metric's mean and spread over the candidate's seeds, '-' when none finished."""
    mean, std = c.mean.get(name, math.nan), c.std.get(name, math.nan)
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.3g} ± {std:.2g}"


def identity(cfg: Config) -> str:
    """Two configs are the same recommendation when they differ only in IDENTITY_IGNORES."""
    items = {k: v for k, v in flat_items(cfg).items() if k not in IDENTITY_IGNORES}
    return json.dumps(items, sort_keys=True, default=str)


def select_candidates(history: History, top: int = 3) -> tuple[list[tuple[HistoryRun, int]], str]:
    """The `top` best distinct configurations of the pool, each with how many runs in the pool
    share it, and a sentence saying what the pool was. Empty when no run qualifies."""
    top = whole_number("top", top)
    runs = history.runs
    n = len(runs)
    converging = [r for r in runs if r.diagnosis == CONVERGING]
    undiagnosed = [r for r in runs if r.diagnosis is None]
    other = n - len(converging) - len(undiagnosed)
    if converging:
        pool = converging
        basis = f"{len(converging)} of {n} finished runs diagnosed converging"
        left = []
        if other:
            left.append(f"{other} diagnosed otherwise")
        if undiagnosed:
            left.append(f"{len(undiagnosed)} without a diagnosis")
        if left:
            basis += f" ({' and '.join(left)} left out)"
    elif undiagnosed:
        pool = undiagnosed
        basis = (
            f"diagnoses were missing for {len(undiagnosed)} of {n} finished runs (a search with "
            f"--no-diagnose?), so finished runs are ranked by score alone"
        )
        if other:
            basis += f" ({other} diagnosed, none converging, left out)"
    else:
        return [], f"none of the {n} finished runs was diagnosed converging"
    picked: dict[str, list[HistoryRun]] = {}
    for r in pool:  # best score first
        picked.setdefault(identity(r.config), []).append(r)
    distinct = [(group[0], len(group)) for group in picked.values()][:top]
    return distinct, f"{basis}; {len(picked)} distinct configurations, the best {len(distinct)} retrained"
