"""Multi-fidelity cohorts: successive halving inside a cohort, freed slots refilled with waiting
trials, each trial an Optuna trial with its own steps; --budget and --timeout end a search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from ganstab.engine import config as C
from ganstab.search.driver import run_search
from ganstab.search.errors import SearchError
from ganstab.search.outcomes import counts_toward_budget
from ganstab.search.settings import SearchSettings
from ganstab.search.space import SPACES_DIR, load_space

TINY = ["train.steps=200", "train.eval_every=50", "model.hidden=16", "train.device=cpu"]


def _settings(url: str, runs: Path, **kw: Any) -> SearchSettings:
    """Tiny CPU trials (TINY) without diagnosis, run folders in `runs`."""
    return SearchSettings(storage=url, runs_dir=runs, extra_overrides=TINY, diagnose=False, **kw)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_asha_refills_slots_and_prunes_by_rung(tmp_path: Path) -> None:
    events = []
    study = run_search(
        load_space(SPACES_DIR / "quick.yaml"),
        _settings(
            f"sqlite:///{tmp_path / 's.db'}",
            tmp_path / "runs",
            n_trials=8,
            study_name="a",
            sampler="random",
            cohort_size=2,
            scheduler="asha",
        ),
        on_event=events.append,
    )
    trials = study.trials
    assert len(trials) == 8 and all(counts_toward_budget(t) for t in trials)
    assert {t.user_attrs["cohort"] for t in trials} == {0}  # one cohort: 8 trials through 2 slots
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and all(t.user_attrs["pruned_by"].startswith("successive halving at step") for t in pruned)
    for t in trials:  # every trial reports at its own steps, whenever its slot started
        steps = sorted(t.intermediate_values)
        assert steps and steps == list(range(50, 50 * len(steps) + 1, 50))
        assert t.user_attrs["steps_trained"] == steps[-1]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete and all(t.user_attrs["steps_trained"] == 200 for t in complete)
    for t in complete:  # the rungs rank the graded score (ring8), which is never below eval_score
        last = t.intermediate_values[200]
        assert last == pytest.approx(t.user_attrs["eval_graded"]) and last >= t.user_attrs["eval_score"]
    # each trial trained in a folder of its own, with its own config
    dirs = {t.user_attrs["run_dir"] for t in trials}
    assert len(dirs) == 8
    for t in trials:
        cfg = C.load_yaml(Path(t.user_attrs["run_dir"]) / "config.yaml")
        assert cfg.train.lr_d == pytest.approx(t.params["train.lr_d"])
    assert len(list((tmp_path / "runs" / "a" / "cohort-000" / "members").iterdir())) == 8


def test_budget_ends_the_search_and_bad_values_are_refused(tmp_path: Path) -> None:
    events = []
    url = f"sqlite:///{tmp_path / 'b.db'}"
    study = run_search(
        load_space(SPACES_DIR / "quick.yaml"),
        _settings(
            url,
            tmp_path / "runs",
            n_trials=50,
            study_name="b",
            sampler="random",
            cohort_size=2,
            prune=False,
            budget=1,
        ),
        on_event=events.append,
    )
    assert len(study.trials) == 2  # one cohort, then the budget was spent
    assert "budget spent (400 of 1 member-steps)" in events[-1].message
    for bad, message in [({"budget": 0}, "budget must be"), ({"timeout": -1}, "timeout must be"),
                         ({"scheduler": "pbt"}, "scheduler must be one of median, asha")]:  # fmt: skip
        with pytest.raises(SearchError, match=message):
            run_search(
                load_space(SPACES_DIR / "quick.yaml"),
                SearchSettings(n_trials=2, storage=url, study_name="b", runs_dir=tmp_path / "runs", **bad),
            )
