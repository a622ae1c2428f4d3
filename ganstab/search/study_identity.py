"""What a ganstab study records about itself (the search space it searches, how its trials are
valued), and the check that a search may continue it: the same direction, space and objective, so
that its trials stay comparable."""

from __future__ import annotations

import optuna

from ganstab.search.errors import SearchError
from ganstab.search.outcomes import ATTR_STATUS
from ganstab.search.settings import OBJECTIVES
from ganstab.search.space_model import SearchSpace

__all__ = ["OBJECTIVE_ATTR", "SPACE_ATTR", "claim_study"]

SPACE_ATTR = "ganstab_space"  # study user attribute: the search space's name
OBJECTIVE_ATTR = "ganstab_objective"  # study user attribute: how trial values are made


def claim_study(study: optuna.Study, space: SearchSpace, objective: str | None) -> str:
    """Check that the study is one this search may continue (maximized, the same space, the same
    objective), record its space and objective if new; returns the objective its trials use."""
    name = study.study_name
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        raise SearchError(
            f"study {name!r} exists with directions {[d.name for d in study.directions]}; a "
            f"ganstab search maximizes the late eval_score: use another study name."
        )
    known_space = study.user_attrs.get(SPACE_ATTR)
    if known_space is not None and known_space != space.name:
        raise SearchError(
            f"study {name!r} was searched over the space {known_space!r}, not {space.name!r}; "
            f"use another study name (or the same space) to keep its trials comparable."
        )
    if known_space is None:
        study.set_user_attr(SPACE_ATTR, space.name)
    # a study that ganstab ran before the option existed was late-mean; trials only
    # enqueued (a grid, a user's hand-picked points) have no value yet
    ran_before = any(ATTR_STATUS in t.user_attrs for t in study.trials)
    known_objective = study.user_attrs.get(OBJECTIVE_ATTR, "late-mean" if ran_before else None)
    if objective is not None and known_objective is not None and known_objective != objective:
        raise SearchError(
            f"study {name!r} values its trials by {known_objective!r}, not {objective!r}; use "
            f"another study name (or the same objective) to keep its trials comparable.",
            key="objective",
        )
    objective = objective or known_objective or OBJECTIVES[0]
    if OBJECTIVE_ATTR not in study.user_attrs:
        study.set_user_attr(OBJECTIVE_ATTR, objective)
    return objective
