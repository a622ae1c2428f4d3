"""What the recommend tests share. The history: one real search (quick space, 4 enqueued trials, one of
them a repeat of another, so de-duplication is exercised) in a SQLite file, made once per session.
It runs with diagnose=False, so the "diagnoses missing" path is what `recommend` sees; tests that
add diagnoses or labels do so on a copy (`copy_db`). Training is tiny (ring8, hidden 16, 200
steps) and single-threaded (a shared 2-core machine).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.recommend import SOURCE_HISTORY, Candidate, Recommendation
from ganstab.search.driver import run_search
from ganstab.search.settings import SearchSettings
from ganstab.search.space import find_space, load_space

TINY = ["train.steps=200", "train.eval_every=100", "model.hidden=16"]
STUDY = "quick-ring8"
# The 4 trials of the history: three distinct configurations, the first one twice.
ENQUEUED = [
    {"train.lr_d": 4e-4, "train.lr_g": 1e-4, "train.loss": "ns", "train.sn_d": True, "train.n_dis": 1},
    {"train.lr_d": 2e-4, "train.lr_g": 2e-4, "train.loss": "hinge", "train.sn_d": False, "train.n_dis": 1},
    {"train.lr_d": 1e-3, "train.lr_g": 3e-4, "train.loss": "ns", "train.sn_d": True, "train.n_dis": 2},
    {"train.lr_d": 4e-4, "train.lr_g": 1e-4, "train.loss": "ns", "train.sn_d": True, "train.n_dis": 1},
]

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="session")
def history_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite file holding one finished search on ring8 (no diagnoses), made once for every
    recommend test module that reads it; its tiny trainings on one torch thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield _search(tmp_path_factory.mktemp("history"))
    finally:
        torch.set_num_threads(threads)


def _search(root: Path) -> str:
    url = f"sqlite:///{root / 'study.db'}"
    pre = optuna.create_study(study_name=STUDY, storage=url, direction="maximize")
    for params in ENQUEUED:
        pre.enqueue_trial(params)
    study = run_search(
        load_space(find_space("quick")),
        SearchSettings(
            n_trials=4,
            cohort_size=2,
            diagnose=False,
            prune=False,
            extra_overrides=TINY,
            storage=url,
            study_name=STUDY,
            sampler="random",
            runs_dir=root / "runs",
        ),
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    return url


def copy_db(url: str, dest: Path) -> str:
    """A consistent copy of a SQLite database (WAL included), through SQLite's backup API."""
    src = sqlite3.connect(url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(dest)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{dest}"


def a_recommendation(tmp_path: Path, robust: tuple[float, float] = (0.7, 0.05)) -> Recommendation:
    """A made recommendation (no training): two history candidates on ring8, the first chosen
    with the score mean and std `robust`, the second with no finished seed."""
    from ganstab.engine.config import Config, resolve

    def candidate(rank: int, mean: dict[str, float], std: dict[str, float], failed: int) -> Candidate:
        cfg = resolve(Config())
        cfg.train.seed = 1
        return Candidate(
            label=f"s #{rank}", config=cfg, params={"train.lr_d": 4e-4 * rank}, history_score=0.9 / rank,
            history_rank=rank, history_runs=1, diagnosis=None, seeds=[1, 2], mean=mean, std=std,
            failed=failed, study_name="s", trial_number=rank,
        )  # fmt: skip

    nan = float("nan")
    chosen = candidate(1, {"modes": 8.0, "score": robust[0]}, {"modes": 0.0, "score": robust[1]}, 0)
    broken = candidate(2, {"modes": nan, "score": nan}, {"modes": nan, "score": nan}, 2)
    return Recommendation(
        dataset="ring8", storage="sqlite:///x.db", source=SOURCE_HISTORY, message="2 finished runs.",
        config=chosen.config, chosen=0, candidates=[chosen, broken], seeds=[1, 2],
        out=tmp_path / "rec.yaml", run_dir=tmp_path / "runs", history_runs=2,
    )  # fmt: skip
