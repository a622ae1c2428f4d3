"""fail_trial, the one way a trial is failed, on real databases: its status and error, FAIL, its
parameters queued again when asked, its ganstab run row; a trial settled elsewhere first is left
as it is. And which ends count toward the budget."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.outcomes import (
    ATTR_RETRY_OF,
    StaleTrialRequeuer,
    counts_toward_budget,
    fail_trial,
)
from ganstab.storage import Store
from ganstab.storage.studies import open_optuna_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(url: str) -> optuna.Study:
    return optuna.create_study(study_name="f", storage=open_optuna_storage(url), direction="maximize")


def test_a_failed_trial_says_why_and_its_run_row_follows(url: str) -> None:
    study = _study(url)
    store = Store(url)
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    run_id = store.add_run("ring8", {}, study_name="f", trial_number=trial.number)
    assert fail_trial(study, trial._trial_id, "error", "RuntimeError: boom", store=store)
    (failed,) = study.trials
    assert failed.state == TrialState.FAIL and failed.params == {"x": x}
    assert failed.user_attrs == {"status": "error", "error": "RuntimeError: boom"}
    assert store.run(run_id).status == "error" and not counts_toward_budget(failed)
    store.dispose()


def test_a_requeued_trial_runs_its_point_again(url: str) -> None:
    study = _study(url)
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    unsampled = study.ask()  # asked, never sampled: no point to lose
    requeue = StaleTrialRequeuer()
    assert fail_trial(study, trial._trial_id, "interrupted", "KeyboardInterrupt: ", requeue=requeue, reason="interrupted")
    assert fail_trial(study, unsampled._trial_id, "lost", "lost: gone", requeue=requeue, reason="gone")
    assert requeue.failed == [trial.number, unsampled.number]
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].user_attrs[ATTR_RETRY_OF] == trial.number
    assert waiting[0].user_attrs["retry_reason"] == f"trial {trial.number} failed: interrupted"
    assert study.ask().suggest_float("x", 0.0, 1.0) == x


def test_a_trial_settled_elsewhere_first_is_left_alone(url: str) -> None:
    study = _study(url)
    store = Store(url)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    run_id = store.add_run("ring8", {}, study_name="f", trial_number=trial.number, status="finished")
    study.tell(trial, 0.75)
    requeue = StaleTrialRequeuer()
    assert not fail_trial(study, trial._trial_id, "lost", "lost: late", requeue=requeue, store=store)
    (t,) = study.trials
    assert t.state == TrialState.COMPLETE and t.value == 0.75 and "status" not in t.user_attrs
    assert requeue.failed == [] and store.run(run_id).status == "finished"
    store.dispose()


@pytest.mark.parametrize(
    ("state", "status", "counts"),
    [
        (TrialState.COMPLETE, "finished", True),
        (TrialState.PRUNED, "pruned", True),
        (TrialState.FAIL, "diverged", True),  # a verdict: the configuration diverges
        (TrialState.FAIL, "error", False),
        (TrialState.FAIL, "lost", False),
        (TrialState.FAIL, "invalid", False),
        (TrialState.RUNNING, None, False),
    ],
)
def test_only_verdicts_count_toward_the_budget(state: TrialState, status: str | None, counts: bool) -> None:
    trial = optuna.trial.create_trial(
        state=state, value=0.5 if state == TrialState.COMPLETE else None,
        user_attrs={} if status is None else {"status": status},
    )  # fmt: skip
    assert counts_toward_budget(trial) is counts
