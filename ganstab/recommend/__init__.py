"""`ganstab recommend`: the configuration to train next on a data set, from the search history.

A search answers "which trial scored best once"; a person wants "what should I train", and one
lucky seed is not an answer (lesson 2: never judge a run by one number). So `recommend` takes the
best distinct configurations among the converging runs of every study in a storage for that data
set, retrains each on new seeds (all of them as one batched cohort), reports mean and spread, and
writes the most robust one as a YAML file that `ganstab train --config` accepts. With no history it
offers the configuration ganstab ships for the data set (ganstab/zoo/), labelled as shipped, or
else the lessons default, and says so; a search's own history always comes first.

The jobs, one module each: `history` (the finished runs on a data set and their verdicts),
`candidates` (which of them, and the rule that chooses), `retraining` (the new seeds, in a pool of
processes), `report` (the YAML and the text), `publishing` (the dashboard's note and attributes),
and `recommend` (the steps in order).
"""

from __future__ import annotations

from ganstab.recommend.candidates import (
    SOURCE_HISTORY,
    SOURCE_LESSONS,
    SOURCE_SHIPPED,
    Candidate,
    Recommendation,
    rank_key,
    select_candidates,
)
from ganstab.recommend.history import CONVERGING, History, HistoryRun, find_history
from ganstab.recommend.publishing import NOTE_HEADING, STUDY_ATTRS, publish, recommendation_note
from ganstab.recommend.recommend import recommend
from ganstab.recommend.report import format_report, write_config

__all__ = [
    "CONVERGING",
    "NOTE_HEADING",
    "SOURCE_HISTORY",
    "SOURCE_LESSONS",
    "SOURCE_SHIPPED",
    "STUDY_ATTRS",
    "Candidate",
    "History",
    "HistoryRun",
    "Recommendation",
    "find_history",
    "format_report",
    "publish",
    "rank_key",
    "recommend",
    "recommendation_note",
    "select_candidates",
    "write_config",
]
