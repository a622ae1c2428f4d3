"""What a ganstab study records about itself (the search space it searches, how its trials are
valued, what their score measures), and the check that a search may continue it: the same
direction, space, objective and score, so that its trials stay comparable."""

from __future__ import annotations

import optuna

from ganstab.engine.config import Config
from ganstab.search.errors import SearchError
from ganstab.search.outcomes import ATTR_STATUS
from ganstab.search.settings import OBJECTIVES
from ganstab.search.space_model import SearchSpace

__all__ = ["OBJECTIVE_ATTR", "SCORE_ATTR", "SPACE_ATTR", "claim_study", "score_identity"]

SPACE_ATTR = "ganstab_space"  # study user attribute: the search space's name
OBJECTIVE_ATTR = "ganstab_objective"  # study user attribute: how trial values are made
SCORE_ATTR = "ganstab_score"  # study user attribute: what an evaluation's score measures


def score_identity(cfg: Config) -> str:
    """What the trials' score measures, as far as the config decides it: the user's own metric
    (`metric`), a data factory's metric family (`data.factory_metric`), or the data set's own.
    Two searches that differ here value their trials on different scales."""
    if cfg.metric:
        return f"metric {cfg.metric}"
    if cfg.data.name == "factory":
        return f"factory metric {cfg.data.factory_metric}"
    return "the data set's own"


def claim_study(study: optuna.Study, space: SearchSpace, objective: str | None, score: str | None = None) -> str:
    """Check that the study is one this search may continue (maximized, the same space, objective
    and score: `score_identity` of the search's config), record them if new; returns the objective
    its trials use."""
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
    known_score = study.user_attrs.get(SCORE_ATTR)
    if score is not None and known_score is not None and known_score != score:
        raise SearchError(
            f"study {name!r} scores its trials by {known_score}, not by {score}; use another study "
            f"name (or the same `metric`) to keep its trials comparable.",
            key="extra_overrides",
        )
    if score is not None and known_score is None:
        study.set_user_attr(SCORE_ATTR, score)
    objective = objective or known_objective or OBJECTIVES[0]
    if OBJECTIVE_ATTR not in study.user_attrs:
        study.set_user_attr(OBJECTIVE_ATTR, objective)
    return objective
