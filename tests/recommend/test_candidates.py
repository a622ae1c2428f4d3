"""Which finished runs may be candidates and which candidate is chosen: the converging filter, a
person's label over the classifier, distinct configurations, and the ranking rule."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from ganstab.diagnose.result import Diagnosis
from ganstab.engine.config import Config, apply_values, resolve
from ganstab.recommend import CONVERGING, History, HistoryRun, find_history, rank_key, select_candidates
from ganstab.recommend.candidates import identity, mean_std, ranked
from ganstab.storage import Store
from tests.recommend._fixtures import STUDY, a_recommendation, copy_db

pytestmark = pytest.mark.usefixtures("one_thread")


def test_converging_filter_and_user_label(history_url: str, tmp_path: Path) -> None:
    url = copy_db(history_url, tmp_path / "copy.db")
    history = find_history("ring8", url)
    assert history.available and history.studies == [STUDY] and len(history.runs) == 4
    assert [r.score for r in history.runs] == sorted((r.score for r in history.runs), reverse=True)
    best = history.runs[0]
    runner_up = next(r for r in history.runs if r.params != best.params)

    with Store(url) as store:
        store.add_diagnosis(best.run_id, 200, Diagnosis("collapsing", {"collapsing": 0.9}))
        store.add_diagnosis(runner_up.run_id, 200, Diagnosis("converging", {"converging": 0.8}))
    history = find_history("ring8", url)
    picked, basis = select_candidates(history, top=3)
    assert [(r.run_id, n) for r, n in picked] == [(runner_up.run_id, 1)]
    assert basis.startswith("1 of 4 finished runs diagnosed converging")
    assert "1 diagnosed otherwise and 2 without a diagnosis left out" in basis
    verdicts = {r.run_id: (r.diagnosis, r.diagnosis_source) for r in history.runs}
    assert verdicts[best.run_id] == ("collapsing", "diagnosis")

    # a person's label outranks the classifier: the best run is back, first
    with Store(url) as store:
        store.set_label(best.run_id, "converging", source="user")
    picked, _ = select_candidates(find_history("ring8", url), top=3)
    assert [r.run_id for r, _ in picked] == [best.run_id, runner_up.run_id]
    assert picked[0][0].diagnosis_source == "user label"

    # every run diagnosed, none converging: no candidates, and recommend would use the lessons default
    with Store(url) as store:
        store.set_label(best.run_id, "oscillating", source="user")
        store.add_diagnosis(runner_up.run_id, 300, Diagnosis("oscillating", {"oscillating": 0.7}))
        for r in history.runs:
            if not store.diagnoses(r.run_id):
                store.add_diagnosis(r.run_id, 200, Diagnosis("collapsing", {"collapsing": 0.6}))
    picked, basis = select_candidates(find_history("ring8", url), top=3)
    assert picked == [] and basis == "none of the 4 finished runs was diagnosed converging"


def _run(number: int, score: float, diagnosis: str | None, **train: object) -> HistoryRun:
    cfg = resolve(apply_values(Config(), {f"train.{k}": v for k, v in train.items()}))
    return HistoryRun(
        study_name="s", trial_number=number, run_id=number, score=score, config=cfg, params={},
        metrics={}, diagnosis=diagnosis, diagnosis_source=None, run_dir=None,
    )  # fmt: skip


def test_configs_that_differ_only_in_seed_and_device_are_one_candidate() -> None:
    runs = [
        _run(0, 0.9, CONVERGING),
        _run(1, 0.8, CONVERGING, seed=3, device="cpu"),  # the first again, on another seed
        _run(2, 0.7, CONVERGING, lr_d=1e-3),
        _run(3, 0.95, "collapsing"),
    ]
    assert identity(runs[0].config) == identity(runs[1].config) != identity(runs[2].config)
    picked, basis = select_candidates(History("ring8", "sqlite:///x.db", True, runs=runs), top=3)
    assert [(r.trial_number, n) for r, n in picked] == [(0, 2), (2, 1)]
    assert basis == (
        "3 of 4 finished runs diagnosed converging (1 diagnosed otherwise left out); "
        "2 distinct configurations, the best 2 retrained"
    )
    with pytest.raises(ValueError, match=r"top must be a whole number >= 1, but got 0"):
        select_candidates(History("ring8", "sqlite:///x.db", True, runs=runs), top=0)


def test_the_rule_takes_fewer_failed_seeds_then_the_higher_mean_minus_std(tmp_path: Path) -> None:
    rec = a_recommendation(tmp_path)
    steady, broken = rec.candidates
    brilliant = dataclasses.replace(steady, label="s #3", history_rank=0, mean={"score": 0.9}, std={"score": 0.3})
    # brilliant: 0.9 - 0.3 = 0.6 < steady's 0.7 - 0.05, though its mean is higher and its rank better
    assert ranked([broken, brilliant, steady]) == [2, 1, 0]
    assert rank_key(steady) < rank_key(brilliant) < rank_key(broken)
    assert broken.robust_score == -math.inf and mean_std(broken, "score") == "-"
    assert mean_std(steady, "score") == "0.7 ± 0.05"
