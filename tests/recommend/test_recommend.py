"""`recommend` against a real history: the search driver writes a SQLite study on ring8, recommend
finds it, retrains the best distinct configurations on new seeds as one cohort and writes a YAML
that `ganstab train --config` accepts; a data set without history gets the lessons default.

The history is a real search (quick space, 4 enqueued trials, one of them a repeat of another, so
de-duplication is exercised) run once per module. It runs with diagnose=False, so the "diagnoses
missing" path is what `recommend` sees; the converging filter is checked on a copy of that database
to which diagnoses and a user label are added through `Store`. Training is tiny (ring8, hidden 16,
200 steps) and single-threaded (a shared 2-core machine).
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from ganstab import cli
from ganstab.diagnose.result import Diagnosis
from ganstab.engine.config import dump_yaml, load_yaml, resolve, to_dict
from ganstab.recommend import (
    SOURCE_HISTORY,
    SOURCE_LESSONS,
    find_history,
    format_report,
    rank_key,
    recommend,
    select_candidates,
)
from ganstab.search.driver import SearchSettings, run_search
from ganstab.search.space import find_space, load_space
from ganstab.storage import Store

TINY = ["train.steps=200", "train.eval_every=100", "model.hidden=16"]
STUDY = "quick-ring8"
# The 4 trials of the history: three distinct configurations, the first one twice.
ENQUEUED = [
    {"train.lr_d": 4e-4, "train.lr_g": 1e-4, "train.loss": "ns", "train.sn_d": True, "train.n_dis": 1},
    {"train.lr_d": 2e-4, "train.lr_g": 2e-4, "train.loss": "hinge", "train.sn_d": False, "train.n_dis": 1},
    {"train.lr_d": 1e-3, "train.lr_g": 3e-4, "train.loss": "ns", "train.sn_d": True, "train.n_dis": 2},
    {"train.lr_d": 4e-4, "train.lr_g": 1e-4, "train.loss": "ns", "train.sn_d": True, "train.n_dis": 1},
]

optuna.logging.set_verbosity(optuna.logging.WARNING)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def history_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file holding one finished search on ring8 (no diagnoses)."""
    root = tmp_path_factory.mktemp("history")
    url = f"sqlite:///{root / 'study.db'}"
    pre = optuna.create_study(study_name=STUDY, storage=url, direction="maximize")
    for params in ENQUEUED:
        pre.enqueue_trial(params)
    study = run_search(
        load_space(find_space("quick")),
        SearchSettings(
            n_trials=4,
            cohort_size=2,
            diagnose=False,
            prune=False,
            extra_overrides=TINY,
            storage=url,
            study_name=STUDY,
            sampler="random",
            runs_dir=root / "runs",
        ),
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    return url


def _copy_db(url: str, dest: Path) -> str:
    """A consistent copy of a SQLite database (WAL included), through SQLite's backup API."""
    src = sqlite3.connect(url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(dest)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{dest}"


def test_history_recommendation_is_reseeded_robust_and_trainable(
    history_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rec" / "ring8.yaml"
    events = []
    rec = recommend(
        "ring8", storage=history_url, reseed=2, top=3, out=out, runs_dir=tmp_path / "runs",
        on_event=events.append, workers=1,
    )  # fmt: skip
    assert rec.source == SOURCE_HISTORY and rec.history_runs == 4
    assert "diagnoses were missing for 4 of 4 finished runs" in rec.message
    assert "ranked by score alone" in rec.message
    assert [e.kind for e in events] == ["history", "cohort", "done"]  # one cohort: all member keys

    # three distinct configurations; the repeated one counts its two runs
    cands = rec.candidates
    assert len(cands) == 3 and len({c.label for c in cands}) == 3
    assert sorted(c.history_runs for c in cands) == [1, 1, 2]
    assert [c.history_rank for c in cands] == [1, 2, 3]
    scores = [c.history_score for c in cands]
    assert scores == sorted(scores, reverse=True)
    assert all(c.diagnosis is None for c in cands)

    # new seeds (the history trained seed 0), two per candidate, mean and std over them
    assert rec.seeds == [1, 2]
    for c in cands:
        assert c.seeds == [1, 2] and c.config.train.seed == 1
        assert set(c.per_seed) == {"modes", "hq", "kl", "score"}  # not the search-internal graded score
        assert len(c.statuses) == 2
        for name, values in c.per_seed.items():
            assert len(values) == 2
            finite = [v for v in values if v is not None]
            if len(finite) == 2:
                assert c.mean[name] == pytest.approx(np.mean(finite))
                assert c.std[name] == pytest.approx(np.std(finite, ddof=1))
        if c.failed == 0:
            assert c.robust_score == pytest.approx(c.mean["score"] - c.std["score"])
    assert len(list((rec.run_dir / "cohort-000" / "members").iterdir())) == 6

    # the rule: fewest failed seeds, then the highest mean - std
    best_failed = min(c.failed for c in cands)
    eligible = [c for c in cands if c.failed == best_failed]
    assert rec.best.failed == best_failed
    assert rec.best.robust_score == max(c.robust_score for c in eligible)
    assert rec.chosen == min(range(3), key=lambda i: rank_key(cands[i]))

    # the YAML is the chosen config, loads, resolves unchanged, and `ganstab train` accepts it
    loaded = load_yaml(out)
    assert to_dict(loaded) == to_dict(rec.config) == to_dict(resolve(loaded))
    assert loaded.data.name == "ring8" and loaded.model.hidden == 16 and loaded.train.steps == 200
    assert out.read_text().startswith("# ganstab recommend --dataset ring8 (history)")
    capsys.readouterr()
    assert cli.main(["train", "--config", str(out), "--dry-run"]) == 0
    assert dump_yaml(loaded) in capsys.readouterr().out

    report = format_report(rec)
    assert f"* {rec.best.label}" in report or f"*  {rec.best.label}" in report
    assert "mean - std" in report and str(out) in report
    # the parameter lines under the table follow the table's order (the rule's), whatever the
    # candidates' order (the history's leaderboard): the same candidates listed in reverse
    ranked = [cands[i].label for i in sorted(range(3), key=lambda i: rank_key(cands[i]))]
    reverse = dataclasses.replace(rec, candidates=cands[::-1], chosen=2 - rec.chosen)
    for r in (report, format_report(reverse)):
        table_order = sorted(ranked, key=lambda label: r.index(f"{label}  "))
        params_order = sorted(ranked, key=lambda label: r.index(f"  {label}: "))
        assert table_order == params_order == ranked


def test_retraining_split_over_processes_gives_the_same_figures(history_url: str, tmp_path: Path) -> None:
    """`workers=2`: the 6 members (3 candidates x 2 seeds) train as two cohorts of 3 in two spawned
    processes at once; every member trains as it would alone, so each candidate's per-seed figures
    equal those of the in-process single cohort (to the cohort tests' rounding)."""
    kw = {"storage": history_url, "reseed": 2, "top": 3}
    one = recommend("ring8", out=tmp_path / "a.yaml", runs_dir=tmp_path / "a", workers=1, **kw)
    events = []
    two = recommend("ring8", out=tmp_path / "b.yaml", runs_dir=tmp_path / "b", workers=2, on_event=events.append, **kw)
    cohorts = [e for e in events if e.kind == "cohort"]
    assert len(cohorts) == 2 and all("3 member(s)" in e.message for e in cohorts)
    assert [len(list((two.run_dir / f"cohort-00{g}" / "members").iterdir())) for g in (0, 1)] == [3, 3]
    for a, b in zip(one.candidates, two.candidates):
        assert a.label == b.label and a.statuses == b.statuses
        for name in ("modes", "hq", "score"):
            assert b.per_seed[name] == pytest.approx(a.per_seed[name], rel=1e-3, abs=1e-3), (a.label, name)
    assert two.best.label == one.best.label
    # the middle candidate's seeds were split over the two cohorts: its folder is the whole one
    assert two.candidates[1].run_dir == str(two.run_dir)
    with pytest.raises(ValueError, match="workers must be a whole number >= 1, but got 0"):
        recommend("ring8", out=tmp_path / "c.yaml", runs_dir=tmp_path / "c", workers=0, **kw)


def test_converging_filter_and_user_label(history_url: str, tmp_path: Path) -> None:
    url = _copy_db(history_url, tmp_path / "copy.db")
    history = find_history("ring8", url)
    assert history.available and history.studies == [STUDY] and len(history.runs) == 4
    assert [r.score for r in history.runs] == sorted((r.score for r in history.runs), reverse=True)
    best = history.runs[0]
    runner_up = next(r for r in history.runs if r.params != best.params)

    with Store(url) as store:
        store.add_diagnosis(best.run_id, 200, Diagnosis("collapsing", {"collapsing": 0.9}))
        store.add_diagnosis(runner_up.run_id, 200, Diagnosis("converging", {"converging": 0.8}))
    history = find_history("ring8", url)
    picked, basis = select_candidates(history, top=3)
    assert [(r.run_id, n) for r, n in picked] == [(runner_up.run_id, 1)]
    assert basis.startswith("1 of 4 finished runs diagnosed converging")
    assert "1 diagnosed otherwise and 2 without a diagnosis left out" in basis
    verdicts = {r.run_id: (r.diagnosis, r.diagnosis_source) for r in history.runs}
    assert verdicts[best.run_id] == ("collapsing", "diagnosis")

    # a person's label outranks the classifier: the best run is back, first
    with Store(url) as store:
        store.set_label(best.run_id, "converging", source="user")
    picked, _ = select_candidates(find_history("ring8", url), top=3)
    assert [r.run_id for r, _ in picked] == [best.run_id, runner_up.run_id]
    assert picked[0][0].diagnosis_source == "user label"

    # every run diagnosed, none converging: no candidates, and recommend would use the lessons default
    with Store(url) as store:
        store.set_label(best.run_id, "oscillating", source="user")
        store.add_diagnosis(runner_up.run_id, 300, Diagnosis("oscillating", {"oscillating": 0.7}))
        for r in history.runs:
            if not store.diagnoses(r.run_id):
                store.add_diagnosis(r.run_id, 200, Diagnosis("collapsing", {"collapsing": 0.6}))
    picked, basis = select_candidates(find_history("ring8", url), top=3)
    assert picked == [] and basis == "none of the 4 finished runs was diagnosed converging"


def test_no_history_gives_the_lessons_default(history_url: str, tmp_path: Path) -> None:
    # the storage holds ring8 runs only: grid25 has no history there
    out = tmp_path / "grid25.yaml"
    rec = recommend(
        "grid25", storage=history_url, reseed=2, steps=200, out=out, runs_dir=tmp_path / "runs",
        overrides=["model.hidden=16", "train.eval_every=100"],
    )  # fmt: skip
    assert rec.source == SOURCE_LESSONS and rec.history_runs == 0
    assert rec.message.startswith(f"no history for grid25 in {history_url}: recommending the lessons default")
    assert len(rec.candidates) == 1 and rec.best.label == SOURCE_LESSONS and rec.seeds == [0, 1]
    c = rec.best
    assert len(c.per_seed["score"]) == 2 and c.seeds == [0, 1]
    assert c.failed == 2 or math.isfinite(c.mean["score"])
    cfg = load_yaml(out)
    assert cfg.data.name == "grid25" and cfg.train.sn_d and cfg.train.sn_g and cfg.train.loss == "ns"
    assert (cfg.train.lr_d, cfg.train.lr_g, cfg.train.label_smoothing) == (4e-4, 1e-4, 0.9)
    assert cfg.train.steps == 200 and cfg.model.hidden == 16
    assert cli.main(["train", "--config", str(out), "--dry-run"]) == 0
    assert "lessons default" in format_report(rec)

    # a storage that does not exist: the same, and the file is not created
    missing = tmp_path / "nowhere.db"
    history = find_history("ring8", f"sqlite:///{missing}")
    assert not history.available and history.runs == [] and not missing.exists()
    assert "there is no database file" in history.notes[0]


def test_bad_input_names_the_value(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    kw = {"storage": url, "out": tmp_path / "o.yaml", "runs_dir": tmp_path / "runs"}
    with pytest.raises(
        ValueError, match=r"unknown data set 'ring9' \(did you mean 'ring8'\?\); choose one of: ring8"
    ):
        recommend("ring9", **kw)
    with pytest.raises(ValueError, match=r"reseed must be a whole number >= 1, but got 0"):
        recommend("ring8", reseed=0, **kw)
    with pytest.raises(ValueError, match=r"reseed must be a whole number >= 1, but got True"):
        recommend("ring8", reseed=True, **kw)
    with pytest.raises(ValueError, match=r"top must be a whole number >= 1, but got -1"):
        recommend("ring8", top=-1, **kw)
    with pytest.raises(ValueError, match=r"steps must be a whole number >= 1, but got 0"):
        recommend("ring8", steps=0, **kw)
    with pytest.raises(ValueError, match=r"train.lr_d"):
        recommend("ring8", overrides=["train.lr_d=-1"], **kw)
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "runs").exists()


def _get_json(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200, url
        return json.loads(r.read())


def test_the_dashboard_shows_the_recommendation_in_the_study(history_url: str, tmp_path: Path) -> None:
    """Through optuna-dashboard's HTTP API on the real SQLite file: the study's note has the
    recommendation section (chosen trial, linked; mean ± std; the YAML's path) below what a person
    wrote there, and short user attributes; a second recommendation replaces the section."""
    from optuna_dashboard import save_note

    from ganstab.dashboard.server import start
    from ganstab.links import trial_page_path
    from ganstab.recommend import NOTE_HEADING, STUDY_ATTRS

    url = _copy_db(history_url, tmp_path / "copy.db")
    study = optuna.load_study(study_name=STUDY, storage=url)
    save_note(study, "My own words about this study.")
    out = tmp_path / "ring8.yaml"
    for _ in range(2):
        rec = recommend("ring8", storage=url, reseed=2, top=1, out=out, runs_dir=tmp_path / "runs")
    assert rec.studies == [STUDY] and "note and user attributes of study 'quick-ring8'" in format_report(rec)
    best = rec.best
    assert (best.study_name, best.trial_number) == (STUDY, int(best.label.split("#")[1]))
    (tmp_path / "art").mkdir()
    with start(url, port=0, artifact_dir=tmp_path / "art") as server:
        base = f"http://127.0.0.1:{server.port}"
        (summary,) = _get_json(base + "/api/studies")["study_summaries"]
        detail = _get_json(f"{base}/api/studies/{summary['study_id']}")
    note = detail["note"]["body"]
    assert note.startswith("My own words about this study.\n\n" + NOTE_HEADING)
    assert note.count(NOTE_HEADING) == 1  # the second recommendation replaced the first's section
    link = trial_page_path(summary["study_id"], best.trial_number)
    assert f"- Chosen: [**{best.label}**]({link})" in note
    mean, std = best.mean["score"], best.std["score"]
    assert f"**{mean:.3g} ± {std:.2g}** (mean ± std)" in note and "seeds 1, 2:" in note
    assert f"  {out.resolve()}\n" in note  # the command to copy: ganstab train --config PATH
    attrs = {a["key"]: a["value"] for a in detail["user_attrs"]}
    assert set(STUDY_ATTRS) <= set(attrs)
    assert attrs["recommended"] == best.label and attrs["recommended_yaml"] == str(out.resolve())
    assert attrs["recommended_score"] == f"{mean:.3g} ± {std:.2g} (seeds 1, 2)"
    # short enough for the dashboard's attribute table (a path is as long as it is)
    assert all(len(attrs[k]) <= 40 for k in STUDY_ATTRS if k != "recommended_yaml")
