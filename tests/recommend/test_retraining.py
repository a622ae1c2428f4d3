"""Retraining the candidates on new seeds: split over processes it gives the same figures as in one
process; each retraining gets a folder of its own; the retraining's values and seed are set."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganstab.engine.config import preset, resolve, to_dict
from ganstab.recommend import recommend
from ganstab.recommend.retraining import claim_dir, prepare

pytestmark = pytest.mark.usefixtures("one_thread")


def test_retraining_split_over_processes_gives_the_same_figures(history_url: str, tmp_path: Path) -> None:
    """`workers=2`: the 6 members (3 candidates x 2 seeds) train as two cohorts of 3 in two spawned
    processes at once; every member trains as it would alone, so each candidate's per-seed figures
    equal those of the in-process single cohort (to the cohort tests' rounding)."""
    kw = {"storage": history_url, "reseed": 2, "top": 3}
    one = recommend("ring8", out=tmp_path / "a.yaml", runs_dir=tmp_path / "a", workers=1, **kw)
    events = []
    two = recommend("ring8", out=tmp_path / "b.yaml", runs_dir=tmp_path / "b", workers=2, on_event=events.append, **kw)
    cohorts = [e for e in events if e.kind == "cohort"]
    assert len(cohorts) == 2 and all("3 member(s)" in e.message for e in cohorts)
    assert [len(list((two.run_dir / f"cohort-00{g}" / "members").iterdir())) for g in (0, 1)] == [3, 3]
    for a, b in zip(one.candidates, two.candidates):
        assert a.label == b.label and a.statuses == b.statuses
        for name in ("modes", "hq", "score"):
            assert b.per_seed[name] == pytest.approx(a.per_seed[name], rel=1e-3, abs=1e-3), (a.label, name)
    assert two.best.label == one.best.label
    # the middle candidate's seeds were split over the two cohorts: its folder is the whole one
    assert two.candidates[1].run_dir == str(two.run_dir)
    with pytest.raises(ValueError, match="workers must be a whole number >= 1, but got 0"):
        recommend("ring8", out=tmp_path / "c.yaml", runs_dir=tmp_path / "c", workers=0, **kw)


def test_each_retraining_gets_a_folder_of_its_own(tmp_path: Path) -> None:
    first, second = claim_dir(tmp_path / "runs", "ring8"), claim_dir(tmp_path / "runs", "ring8")
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name.startswith("recommend-ring8-") and second.name.startswith("recommend-ring8-")


def test_prepare_sets_the_values_and_the_seed_on_a_resolved_config() -> None:
    cfg = prepare(preset("lessons"), {"train.steps": 50, "model.hidden": 16}, seed=7)
    assert (cfg.train.steps, cfg.model.hidden, cfg.train.seed) == (50, 16, 7)
    assert to_dict(cfg) == to_dict(resolve(cfg))  # resolved: resolving again changes nothing
    with pytest.raises(ValueError, match=r"`train.steps` must be >= 1, but got 0"):
        prepare(preset("lessons"), {"train.steps": 0}, seed=7)
