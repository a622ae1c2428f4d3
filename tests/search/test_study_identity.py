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
