"""A member's view (what `report` gets) and the run summary."""

from __future__ import annotations

import math

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.trace import STEP_COLUMNS
from tests.engine.quick import QUICK, quick_train


def test_views_carry_own_steps_latest_scalars_and_metrics_and_the_summary_adds_settings():
    trainer = quick_train("train.eval_every=10", "train.lr_d=3e-4", k=2)
    view = trainer.member_view(1)
    assert view["member"] == 1 and view["status"] == "finished" and view["step"] == 30
    assert set(STEP_COLUMNS[1:]) <= set(view) and all(math.isfinite(view[c]) for c in ("d_loss", "g_loss"))
    assert "eval_score" in view and "diverged_at" not in view
    summary = trainer.summary()
    assert [s["seed"] for s in summary] == [0, 1] and {s["steps_trained"] for s in summary} == {30}
    assert summary[0]["lr_d"] == 3e-4 and "run_dir" not in summary[0]


def test_a_stopped_member_reports_the_steps_it_trained():
    cfgs = [apply_overrides(preset("vanilla"), [*QUICK, "train.eval_every=10", f"train.seed={i}"]) for i in range(2)]
    trainer = CohortTrainer(cfgs)
    views = []

    def report(step, members):
        views.append(members)
        return [True, step < 10]  # member 1 stops at its first evaluation

    summary = trainer.train(report=report)
    assert views[0][1]["evaluated"] and views[0][1]["step"] == 10
    assert [s["status"] for s in summary] == ["finished", "stopped"]
    assert [s["steps_trained"] for s in summary] == [30, 10]
