"""`ganstab recommend`: the configuration to train next on a data set, from the search history.

A search answers "which trial scored best once"; a person wants "what should I train", and one
lucky seed is not an answer (lesson 2: never judge a run by one number). So `recommend` takes the
best distinct configurations among the converging runs of every study in a storage for that data
set, retrains each on new seeds (all of them as one batched cohort), reports mean and spread, and
writes the most robust one as a YAML file that `ganstab train --config` accepts. With no history it
falls back to the lessons default and says so.
"""

from __future__ import annotations

from ganstab.recommend.recommend import (
    CONVERGING,
    SOURCE_HISTORY,
    SOURCE_LESSONS,
    Candidate,
    History,
    HistoryRun,
    Recommendation,
    find_history,
    format_report,
    rank_key,
    recommend,
    select_candidates,
    write_config,
)

__all__ = [
    "CONVERGING",
    "SOURCE_HISTORY",
    "SOURCE_LESSONS",
    "Candidate",
    "History",
    "HistoryRun",
    "Recommendation",
    "find_history",
    "format_report",
    "rank_key",
    "recommend",
    "select_candidates",
    "write_config",
]
