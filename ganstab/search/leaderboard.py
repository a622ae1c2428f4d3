"""A study's best trials, best first, as the CLI and the dashboard show them."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from ganstab.checks import whole_number
from ganstab.search.errors import SearchError

__all__ = ["QUALITY_COLUMNS", "leaderboard", "quality_columns", "score_words"]

# The two quality columns a leaderboard shows per metric family, as (metric, heading), recognised
# by the metrics the trials recorded: mixtures, digits and points files count modes (a points
# file's found by clustering it, engine/metrics/regions.py); images show their distance, the
# offline proxy named as one.
QUALITY_COLUMNS: list[tuple[tuple[str, str], tuple[str, str]]] = [
    (("eval_modes", "modes"), ("eval_hq", "HQ %")),
    (("eval_fid", "FID"), ("eval_kid", "KID")),
    (("eval_fd_proxy", "fd_proxy (not FID)"), ("eval_kid", "KID")),
]


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


def quality_columns(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (metric, heading) pairs to show for these rows: the first family whose first metric a
    row has a value for; the mixtures' pair when no row has any (the table's columns never vanish)."""
    for first, second in QUALITY_COLUMNS:
        if any(row["metrics"].get(first[0]) is not None for row in rows):
            return [first, second]
    return list(QUALITY_COLUMNS[0])


def score_words(rows: list[dict[str, Any]]) -> str:
    """What a trial's score is, in plain words, from the metrics the trials recorded."""
    from ganstab.engine.metrics import SCORE_WORDS  # torch: only when a table is drawn

    def has(metric: str) -> bool:
        return any(row["metrics"].get(metric) is not None for row in rows)

    if has("eval_coverage"):  # a points file: modes and HQ too, but found by clustering
        return SCORE_WORDS["points"]
    if has("eval_modes"):
        return SCORE_WORDS["mixture"]
    return SCORE_WORDS["images" if has("eval_fid") else "images_proxy"]
