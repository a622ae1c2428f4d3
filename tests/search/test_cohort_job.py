"""CohortJob: the plain data an executor gets, built from the search's settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest

from ganstab.search.cohort_job import CohortJob
from ganstab.search.errors import SearchError
from ganstab.search.settings import SearchSettings
from ganstab.search.space import SPACES_DIR, load_space

TINY = ["train.steps=200", "train.eval_every=50", "model.hidden=16", "train.device=cpu"]


def test_cohort_job_pickles_for_a_remote_worker(tmp_path: Path) -> None:
    import pickle

    space = load_space(SPACES_DIR / "quick.yaml")
    settings = SearchSettings(
        storage=f"sqlite:///{tmp_path / 'x.db'}", study_name="p", n_trials=1, runs_dir=tmp_path,
        quality_pruner=optuna.pruners.MedianPruner(n_warmup_steps=60), objective="late-robust",
    )  # fmt: skip
    job = CohortJob(
        settings, index=0, run_dir=str(tmp_path / "c"), trial_ids=(1,), trial_numbers=(0,),
        configs=(space.config(TINY),),
    )  # fmt: skip
    again = pickle.loads(pickle.dumps(job))
    assert again.configs == job.configs and again.quality_pruner._n_warmup_steps == 60
    assert again.objective == "late-robust"
    with pytest.raises(SearchError, match="objective must be one of late-mean, late-robust, but got 'max'"):
        dataclasses.replace(job, settings=dataclasses.replace(settings, objective="max"))  # before it trains


def test_a_job_reads_the_cohort_options_from_its_settings(tmp_path: Path) -> None:
    space = load_space(SPACES_DIR / "quick.yaml")
    settings = SearchSettings(
        storage=f"sqlite:///{tmp_path / 'x.db'}", study_name="j", n_trials=8, runs_dir=tmp_path / "runs",
        cohort_size=2, scheduler="asha", prune=False, heartbeat_interval=5, grace_period=20,
    )  # fmt: skip
    configs = tuple(space.config(TINY) for _ in range(8))
    job = CohortJob(settings, index=1, run_dir="c", trial_ids=tuple(range(8)), trial_numbers=tuple(range(8)), configs=configs)
    assert job.storage_url == settings.storage and job.study_name == "j"
    assert job.artifact_dir == str(tmp_path / "runs" / "artifacts")
    assert (job.prune, job.diagnose, job.heartbeat_interval, job.grace_period) == (False, True, 5, 20)
    assert job.objective == "late-mean" and job.graded and job.slots == 2 and job.live == 2
    assert dataclasses.replace(job, settings=dataclasses.replace(settings, scheduler="median")).live == 8
    with pytest.raises(SearchError, match="a CohortJob needs SearchSettings, but got dict"):
        CohortJob({}, index=0, run_dir="c", trial_ids=(), trial_numbers=(), configs=())  # type: ignore[arg-type]
