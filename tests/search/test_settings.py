"""SearchSettings and check_search: every bad value is refused when the settings are made (or, for
what needs the space, before run_search opens anything), naming the option and the value, with the
option in the error's `key`; the overrides are parsed once, from strings or from values."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.cohort_job import MemberResult
from ganstab.search.driver import run_search
from ganstab.search.errors import SearchError
from ganstab.search.factories import make_sampler
from ganstab.search.settings import SearchSettings, check_search
from ganstab.search.space import SPACES_DIR, load_space


def test_bad_settings_name_the_option_and_value(tmp_path: Path) -> None:
    """SearchSettings refuses a bad value when it is made, before any connection or training, with
    the option's name and the value; what needs the space (the overrides) is checked by
    run_search, still before anything is written."""
    db = tmp_path / "x.db"
    common = {"storage": f"sqlite:///{db}", "study_name": "x", "runs_dir": tmp_path, "diagnose": False}
    bad = [
        ({"n_trials": 0}, "n_trials must be a whole number >= 1, but got 0"),
        ({"n_trials": True}, "n_trials must be a whole number >= 1, but got True"),
        ({"cohort_size": 2.5}, "cohort_size must be a whole number >= 1, but got 2.5"),
        ({"concurrent_cohorts": 0}, "concurrent_cohorts must be a whole number >= 1, but got 0"),
        ({"sampler": "bayes"}, r"sampler must be one of .* got 'bayes'"),
        ({"seed": "1"}, "seed must be a whole number, but got '1'"),
        ({"study_name": " "}, "study_name must be a non-empty string, but got ' '"),
        ({"storage": "sqlite://"}, "outlives the process"),
        ({"storage": "not a url"}, "storage URL must look like .* got 'not a url'"),
        ({"runs_dir": None}, "runs_dir must be a folder path, but got None"),
        (
            {"extra_overrides": "train.steps=10"},
            "list of key=value strings, but got 'train.steps=10'",
        ),
        (
            {"extra_overrides": ["train.steps"]},
            "extra_overrides must be key=value strings, but got 'train.steps'",
        ),
        ({"prune": "yes"}, "prune must be True or False, but got 'yes'"),
        ({"quality_pruner": "median"}, "quality_pruner must be an Optuna pruner or None, but got 'median'"),
        ({"scheduler": "pbt"}, "scheduler must be one of median, asha, but got 'pbt'"),
        ({"objective": "max"}, "objective must be one of late-mean, late-robust, but got 'max'"),
        ({"budget": 0}, "budget must be a whole number of member-steps >= 1, but got 0"),
        ({"timeout": 0}, "timeout must be a number of minutes > 0, but got 0"),
        ({"heartbeat_interval": 0}, "heartbeat_interval must be a whole number of seconds >= 1, but got 0"),
        (
            {"grace_period": 30, "heartbeat_interval": 60},
            r"grace_period must be .* above heartbeat_interval \(60\)",
        ),
    ]
    for change, message in bad:
        with pytest.raises(SearchError, match=message):
            SearchSettings(**{"n_trials": 1, **common, **change})
    settings = SearchSettings(n_trials=1, extra_overrides=["train.steps=0"], **common)
    assert settings.extra_overrides == ("train.steps=0",) and settings.runs_dir == tmp_path
    assert SearchSettings(n_trials=1, extra_overrides=None, **common).extra_overrides == ()  # None: no --set
    with pytest.raises(SearchError, match="list of key=value strings, but got 5"):
        SearchSettings(n_trials=1, extra_overrides=5, **common)
    space = load_space(SPACES_DIR / "quick.yaml")
    with pytest.raises(SearchError, match=r"extra_overrides \['train.steps=0'\] give an invalid config"):
        run_search(space, settings)
    with pytest.raises(SearchError, match="settings must be a SearchSettings, but got dict"):
        run_search(space, {"n_trials": 1, **common})  # type: ignore[arg-type]
    assert not db.exists()  # nothing was opened
    assert type(make_sampler("gp", 0)).__name__ == "GPSampler"
    assert type(make_sampler("tpe", 0)).__name__ == "TPESampler"


def test_settings_repr_hides_the_storage_password(tmp_path: Path) -> None:
    """A settings object ends up in logs and tracebacks: its repr masks the URL's password."""
    settings = SearchSettings(storage="postgresql://ganstab:s3cret@db.example/test", study_name="x",
                              n_trials=1, runs_dir=tmp_path)  # fmt: skip
    shown = repr(settings)
    assert "s3cret" not in shown and "ganstab:" in shown and "db.example/test" in shown
    assert "n_trials=1" in shown and "study_name='x'" in shown
    assert settings.storage.endswith("s3cret@db.example/test")  # the URL itself is kept whole


def _common(tmp_path: Path) -> dict:
    return {"storage": f"sqlite:///{tmp_path / 'x.db'}", "study_name": "x", "runs_dir": tmp_path, "diagnose": False}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"n_trials": 0}, "n_trials"),
        ({"cohort_size": 2.5}, "cohort_size"),
        ({"concurrent_cohorts": 0}, "concurrent_cohorts"),
        ({"sampler": "bayes"}, "sampler"),
        ({"seed": "1"}, "seed"),
        ({"study_name": " "}, "study_name"),
        ({"storage": "sqlite://"}, "storage"),
        ({"runs_dir": None}, "runs_dir"),
        ({"extra_overrides": "train.steps=10"}, "extra_overrides"),
        ({"extra_overrides": ["train.steps"]}, "extra_overrides"),
        ({"extra_overrides": ["no_such_key=1"]}, "extra_overrides"),
        ({"extra_overrides": {5: 1}}, "extra_overrides"),
        ({"prune": "yes"}, "prune"),
        ({"diagnose": 1}, "diagnose"),
        ({"quality_pruner": "median"}, "quality_pruner"),
        ({"scheduler": "pbt"}, "scheduler"),
        ({"objective": "max"}, "objective"),
        ({"budget": 0}, "budget"),
        ({"timeout": -1}, "timeout"),
        ({"heartbeat_interval": 0}, "heartbeat_interval"),
        ({"grace_period": 30, "heartbeat_interval": 60}, "grace_period"),
    ],
)
def test_a_refused_setting_names_its_field_in_the_errors_key(tmp_path: Path, change: dict, key: str) -> None:
    with pytest.raises(SearchError) as err:
        SearchSettings(**{"n_trials": 1, **_common(tmp_path), **change})
    assert err.value.key == key and "\n" not in str(err.value)


def test_overrides_are_parsed_once_into_qualified_values(tmp_path: Path) -> None:
    as_text = SearchSettings(n_trials=1, extra_overrides=["lr_d=0.001", "train.steps=300", "hidden=16"], **_common(tmp_path))
    assert as_text.extra_overrides == ("lr_d=0.001", "train.steps=300", "hidden=16")  # as given
    assert as_text.overrides == (("train.lr_d", 1e-3), ("train.steps", 300), ("model.hidden", 16))
    as_values = SearchSettings(n_trials=1, extra_overrides={"lr_d": 1e-3, "train.steps": 300, "hidden": 16}, **_common(tmp_path))
    assert as_values.overrides == as_text.overrides and as_values.override_values == {
        "train.lr_d": 1e-3, "train.steps": 300, "model.hidden": 16
    }  # fmt: skip
    # a value stays the value given: no round trip through text (a string that looks like a number)
    kept = SearchSettings(n_trials=1, extra_overrides={"data.name": "ring8", "train.device": "cpu"}, **_common(tmp_path))
    assert kept.override_values == {"data.name": "ring8", "train.device": "cpu"}
    with pytest.raises(SearchError, match=r"extra_overrides \['lr=1'\] give an invalid config: Unknown config key `lr`"):
        SearchSettings(n_trials=1, extra_overrides=["lr=1"], **_common(tmp_path))
    with pytest.raises(SearchError, match="extra_overrides keys must be config keys, but got 5"):
        SearchSettings(n_trials=1, extra_overrides={5: 1}, **_common(tmp_path))


def test_value_overrides_reach_every_trial_and_may_not_set_a_searched_key(tmp_path: Path) -> None:
    space = load_space(SPACES_DIR / "quick.yaml")
    common = _common(tmp_path)
    searched = space.params[0].key
    settings = SearchSettings(n_trials=1, extra_overrides={searched: space.params[0].corners()[0]}, **common)
    with pytest.raises(SearchError, match=f"sets `{searched}`, which the search space 'quick' samples") as err:
        check_search(space, settings)
    assert err.value.key == "extra_overrides"
    bad = SearchSettings(n_trials=1, extra_overrides={"train.steps": 0}, **common)
    with pytest.raises(SearchError, match=r"extra_overrides \{'train.steps': 0\} give an invalid config") as err:
        check_search(space, bad)
    assert err.value.key == "extra_overrides"

    seen = []

    def executor(job):  # no training: the configs the driver resolved, told as they are
        study = optuna.load_study(study_name=job.study_name, storage=job.storage_url)
        seen.extend(job.configs)
        for number in job.trial_numbers:
            study.tell(number, 0.5)
        return [MemberResult(n, "COMPLETE", "finished", 0.5) for n in job.trial_numbers]

    values = {"train.steps": 120, "model.hidden": 8, "train.device": "cpu"}
    study = run_search(space, SearchSettings(n_trials=3, cohort_size=3, extra_overrides=values, **common), executor=executor)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert len(seen) == 3 and all((c.train.steps, c.model.hidden) == (120, 8) for c in seen)
