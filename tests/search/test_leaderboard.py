"""The leaderboard of a real SQLite study: COMPLETE trials only, best first, ties by number."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.errors import SearchError
from ganstab.search.leaderboard import leaderboard

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _trial(value: float | None, state: TrialState = TrialState.COMPLETE, **attrs: object) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        state=state, value=value, params={"x": 0.5},
        distributions={"x": optuna.distributions.FloatDistribution(0.0, 1.0)}, user_attrs=attrs,
    )  # fmt: skip


def test_best_complete_trials_first(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'l.db'}", direction="maximize")
    study.add_trial(_trial(0.2, eval_score=0.25, eval_fd=1.5, steps_trained=200, cohort=0, run_dir="a", status="finished"))
    study.add_trial(_trial(0.9, diagnosis="healthy", cohort=0))
    study.add_trial(_trial(None, TrialState.PRUNED))
    study.add_trial(_trial(None, TrialState.FAIL, status="diverged"))
    study.add_trial(_trial(0.2))  # a tie with trial 0: the earlier trial first
    board = leaderboard(study)
    assert [(r["rank"], r["trial"], r["value"]) for r in board] == [(1, 1, 0.9), (2, 0, 0.2), (3, 4, 0.2)]
    assert board[1] == {
        "rank": 2, "trial": 0, "value": 0.2, "params": {"x": 0.5}, "metrics": {"eval_score": 0.25, "eval_fd": 1.5},
        "steps_trained": 200, "diagnosis": None, "cohort": 0, "run_dir": "a",
    }  # fmt: skip
    assert [r["trial"] for r in leaderboard(study, top=1)] == [1]
    for bad in (0, 1.5, True):
        with pytest.raises(SearchError, match=f"top must be a whole number >= 1, but got {bad!r}"):
            leaderboard(study, top=bad)


def _row(**metrics):
    return {"rank": 1, "trial": 0, "value": 0.5, "params": {}, "metrics": {f"eval_{k}": v for k, v in metrics.items()}}


def test_the_quality_columns_and_the_score_words_follow_the_metrics_the_trials_recorded():
    from ganstab.cli.display import leaderboard_table
    from ganstab.search.leaderboard import quality_columns, score_words

    points = [_row(modes=6.0, hq=95.0, coverage=0.9, swd=0.05)]
    assert quality_columns(points) == [("eval_modes", "modes"), ("eval_hq", "HQ %")]
    assert score_words(points).startswith("modes covered / modes found x HQ fraction, where the modes are the k-means")
    assert score_words([_row(modes=8.0, hq=90.0, kl=0.1)]).startswith("modes covered / all modes")
    proxy = [_row(fid=None, kid=None, fd_proxy=3.2)]
    assert quality_columns(proxy)[0] == ("eval_fd_proxy", "fd_proxy (not FID)")
    assert "offline proxy" in score_words(proxy) and "not FID" in score_words(proxy)
    assert score_words([_row(fid=12.0, kid=0.01, fd_proxy=None)]) == "minus FID"

    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(leaderboard_table(proxy, "s", robust=False))
    text = console.export_text()
    assert "fd_proxy (not FID)" in text and "offline proxy" in text
