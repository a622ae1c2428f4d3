"""run_cohort: a cohort that raises settles every trial it had (FAIL, with the error) and re-raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.driver import run_search
from ganstab.search.outcomes import ATTR_RETRY_OF, counts_toward_budget
from ganstab.search.settings import SearchSettings
from ganstab.search.space import SPACES_DIR, load_space
from ganstab.storage import Store

TINY = ["train.steps=200", "train.eval_every=50", "model.hidden=16", "train.device=cpu"]

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.usefixtures("one_thread")


def _settings(url: str, runs: Path, **kw: Any) -> SearchSettings:
    return SearchSettings(**{"storage": url, "runs_dir": runs, "extra_overrides": TINY, "diagnose": False, **kw})


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_crashing_cohort_fails_its_trials(
    error: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cohort that raises tells its trials FAIL and re-raises; an interrupted one also
    re-enqueues their parameters so the next run tries them again."""

    def crash(self, report=None, on_log=None):
        raise error

    monkeypatch.setattr("ganstab.search.cohort_run.CohortTrainer.train", crash)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with pytest.raises(type(error)):
        run_search(
            load_space(SPACES_DIR / "quick.yaml"),
            _settings(url, tmp_path / "runs", n_trials=2, study_name="c", cohort_size=2),
        )
    study = optuna.load_study(study_name="c", storage=url)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 2 and not any(counts_toward_budget(t) for t in failed)
    status = "interrupted" if isinstance(error, KeyboardInterrupt) else "error"
    assert all(
        t.user_attrs["status"] == status and type(error).__name__ in t.user_attrs["error"] for t in failed
    )
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    if status == "interrupted":
        assert sorted(t.user_attrs[ATTR_RETRY_OF] for t in waiting) == [t.number for t in failed]
        assert [t.params for t in failed] == [t.system_attrs["fixed_params"] for t in waiting]
    else:
        assert waiting == []
    store = Store(url)
    assert sorted(r.status for r in store.runs(study_name="c")) == [status, status]
    store.dispose()
