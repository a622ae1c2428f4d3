"""A study's identity on a real SQLite file: a new study records its space and objective; a search
may continue a study only with the same direction, space and objective."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from ganstab.search.errors import SearchError
from ganstab.search.space import SPACES_DIR, load_space
from ganstab.search.study_identity import OBJECTIVE_ATTR, SPACE_ATTR, claim_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_a_new_study_takes_the_search_as_its_identity(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = load_space(SPACES_DIR / "quick.yaml")
    study = optuna.create_study(storage=url, study_name="n", direction="maximize")
    assert claim_study(study, space, None) == "late-mean"  # the default for a new study
    assert study.user_attrs == {SPACE_ATTR: "quick", OBJECTIVE_ATTR: "late-mean"}
    assert claim_study(study, space, "late-mean") == "late-mean"  # the same search again
    with pytest.raises(SearchError, match="values its trials by 'late-mean', not 'late-robust'") as err:
        claim_study(study, space, "late-robust")
    assert err.value.key == "objective"
    other = load_space(SPACES_DIR / "full.yaml")
    with pytest.raises(SearchError, match="was searched over the space 'quick', not 'full'"):
        claim_study(study, other, None)


def test_a_study_ganstab_cannot_continue_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = load_space(SPACES_DIR / "quick.yaml")
    minimize = optuna.create_study(storage=url, study_name="min", direction="minimize")
    with pytest.raises(SearchError, match=r"exists with directions \['MINIMIZE'\]"):
        claim_study(minimize, space, None)
    old = optuna.create_study(storage=url, study_name="old", direction="maximize")
    old.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"status": "finished"}))
    assert claim_study(old, space, None) == "late-mean"  # ganstab ran it before objectives existed


def test_a_study_keeps_the_score_it_was_searched_by(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search with the user's own metric may not continue a study scored by the data set's own
    metric (or another metric): the values would be on different scales. A study from before the
    score was recorded takes the first score it is continued with."""
    from ganstab.search.study_identity import SCORE_ATTR, score_identity

    (tmp_path / "mymetrics.py").write_text("def quality(real, fake):\n    return {'score': 0.0}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = load_space(SPACES_DIR / "quick.yaml")
    own, theirs = space.config(), space.config({"metric": "mymetrics:quality"})
    assert score_identity(own) == "the data set's own"
    assert score_identity(theirs) == "metric mymetrics:quality"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    claim_study(study, space, None, score_identity(own))
    assert study.user_attrs[SCORE_ATTR] == "the data set's own"
    with pytest.raises(SearchError, match="scores its trials by the data set's own, not by metric mymetrics:quality"):
        claim_study(study, space, None, score_identity(theirs))
    assert optuna.load_study(study_name="s", storage=url).user_attrs[SCORE_ATTR] == "the data set's own"
    older = optuna.create_study(storage=url, study_name="older", direction="maximize")
    claim_study(older, space, None)  # as a ganstab before this check: no score recorded
    assert SCORE_ATTR not in older.user_attrs
    claim_study(older, space, None, score_identity(theirs))
    assert older.user_attrs[SCORE_ATTR] == "metric mymetrics:quality"
