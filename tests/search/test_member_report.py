"""What a settled member says of itself: its late score, its rung value, its note."""

from __future__ import annotations

import pytest

from ganstab.search.cohort_job import MemberResult
from ganstab.search.member_report import late_score, member_attrs, note_text, rung_value


def test_a_trial_is_judged_by_its_late_evaluations_not_the_last_one():
    evals = [{"score": s} for s in (0.1, 0.9, 0.2, 0.8, 0.3, 0.4)]
    assert late_score(evals) == pytest.approx(0.35)  # the last third: 0.3 and 0.4
    assert late_score(evals[:2]) == pytest.approx(0.9)  # few evaluations: at least the last one
    swing = [{"score": s} for s in (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.1, 0.9)]
    assert late_score(swing) == pytest.approx(1.9 / 3)  # one good point does not make the trial
    assert late_score([{"score": 0.5}, {"score": float("nan")}]) is None  # last not finite: no score
    assert late_score([{"score": float("nan")}, {"score": 0.5}, {"score": 0.7}]) == pytest.approx(0.7)
    assert late_score([]) is None
    assert late_score(evals, "late-robust") == pytest.approx(0.35 - 0.05)  # mean minus spread
    assert late_score(swing, "late-robust") < late_score([{"score": 0.55}] * 3, "late-robust")
    with pytest.raises(ValueError, match="Unknown objective 'best'"):
        late_score(evals, "best")


def test_rung_value_is_the_graded_score_only_under_asha() -> None:
    member = {"eval_score": 0.0, "eval_graded": 0.4}
    assert rung_value(member) == 0.0 and rung_value(member, graded=True) == 0.4
    assert rung_value({"eval_score": 0.2}, graded=True) == 0.2  # no graded score: eval_score


def test_note_and_attributes_of_a_finished_member() -> None:
    result = MemberResult(3, "COMPLETE", "finished", 0.5, metrics={"eval_score": 0.6, "eval_fd": None},
                          steps_trained=200, run_dir="runs/x")  # fmt: skip
    note = note_text(result, params={"train.lr_d": 1e-4}, objective="late-robust")
    assert note.startswith("### Trial 3: Finished") and "mean minus spread of" in note and "**0.5**" in note
    assert "| `train.lr_d` | 0.0001 |" in note and "| `eval_fd` | - |" in note and "`runs/x`" in note
    attrs = member_attrs(result, None, [{"score": 0.4}, {"score": 0.6}])
    assert attrs == {"status": "finished", "steps_trained": 200, "run_dir": "runs/x", "eval_score": 0.6,
                     "eval_fd": None, "late_score": 0.5, "late_mean": 0.6}  # fmt: skip


def test_a_trial_scored_by_the_offline_image_proxy_says_so_in_its_note() -> None:
    proxy = MemberResult(1, "COMPLETE", "finished", -3.0, metrics={"eval_fid": None, "eval_fd_proxy": 3.0},
                         steps_trained=10)  # fmt: skip
    assert "The score is minus fd_proxy, an offline proxy" in note_text(proxy) and "not FID" in note_text(proxy)
    fid = MemberResult(1, "COMPLETE", "finished", -30.0, metrics={"eval_fid": 30.0, "eval_fd_proxy": None},
                       steps_trained=10)  # fmt: skip
    assert "offline proxy" not in note_text(fid)
