"""What a cohort's members look like from outside: the view a search's `report` gets at each
evaluation (a member's status, own step, latest scalars and metrics), and the run summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganstab.engine.trace import STEP_COLUMNS

if TYPE_CHECKING:
    from ganstab.engine.trainer import CohortTrainer


def member_view(trainer: CohortTrainer, i: int) -> dict[str, Any]:
    t = trainer
    row = t.trace[-1][i] if t.trace else None
    view: dict[str, Any] = {
        "member": i,
        "status": t.status[i],
        "step": t.step - t.start[i],  # the member's own steps
        "evaluated": i in t._due,  # whether this evaluation is the member's
    }
    if row is not None:
        view.update({c: float(row[t.traces.col[c]]) for c in STEP_COLUMNS[1:]})
    view.update({f"eval_{k}": v for k, v in t.last_eval[i].items()})
    if t.status[i] == "diverged":
        view["diverged_at"] = t.ended_at[i]
    return view


def summary(trainer: CohortTrainer) -> list[dict[str, Any]]:
    """One dict per member: its view, its training settings, steps trained and the wall time."""
    t = trainer
    out = []
    for i, c in enumerate(t.configs):
        item = member_view(t, i)
        item.update(
            seed=c.train.seed,
            loss=c.train.loss,
            lr_d=c.train.lr_d,
            lr_g=c.train.lr_g,
            steps_trained=t.ended_at[i] if t.ended_at[i] is not None else t.step - t.start[i],
            wall_time_s=round(t.wall_time, 3),
        )
        if t.run_dir is not None:
            item["run_dir"] = str(t.member_dir(i))
        out.append(item)
    return out
