"""A study's best trials, best first, as the CLI and the dashboard show them."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from ganstab.checks import whole_number
from ganstab.search.errors import SearchError

__all__ = ["leaderboard"]


def leaderboard(study: optuna.Study, top: int = 10) -> list[dict[str, Any]]:
    """The `top` best COMPLETE trials, best first: number, value, params, final eval_* metrics,
    diagnosis, cohort and run folder."""
    top = whole_number("top", top, error=SearchError)
    complete = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None
    ]
    complete.sort(key=lambda t: (-t.value, t.number))
    rows = []
    for rank, t in enumerate(complete[:top], start=1):
        attrs = t.user_attrs
        rows.append(
            {
                "rank": rank,
                "trial": t.number,
                "value": t.value,
                "params": dict(t.params),
                "metrics": {k: v for k, v in attrs.items() if k.startswith("eval_")},
                "steps_trained": attrs.get("steps_trained"),
                "diagnosis": attrs.get("diagnosis"),
                "cohort": attrs.get("cohort"),
                "run_dir": attrs.get("run_dir"),
            }
        )
    return rows
