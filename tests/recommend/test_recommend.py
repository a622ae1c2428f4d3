"""`recommend` against a real history: the search driver writes a SQLite study on ring8, recommend
finds it, retrains the best distinct configurations on new seeds as one cohort and writes a YAML
that `ganstab train --config` accepts; a data set without history gets the lessons default.

The history is a real search run once per session (tests/recommend/_fixtures.py)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from ganstab import cli
from ganstab.engine.config import dump_yaml, load_yaml, resolve, to_dict
from ganstab.recommend import SOURCE_HISTORY, SOURCE_LESSONS, find_history, format_report, rank_key, recommend
from ganstab.zoo import shipped_for

pytestmark = pytest.mark.usefixtures("one_thread")


def test_history_recommendation_is_reseeded_robust_and_trainable(
    history_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rec" / "ring8.yaml"
    events = []
    rec = recommend(
        "ring8", storage=history_url, reseed=2, top=3, out=out, runs_dir=tmp_path / "runs",
        on_event=events.append, workers=1,
    )  # fmt: skip
    assert shipped_for("ring8") == "ring8"  # a search's own history comes before the shipped config
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


def test_no_history_gives_the_lessons_default(history_url: str, tmp_path: Path) -> None:
    # the storage holds ring8 runs only: a mixture has no history there, and ganstab ships no
    # configuration for it (grid25's shipped one: tests/zoo/test_zoo.py)
    assert shipped_for("mixture") is None
    out = tmp_path / "mixture.yaml"
    rec = recommend(
        "mixture", storage=history_url, reseed=2, steps=200, out=out, runs_dir=tmp_path / "runs",
        overrides=["model.hidden=16", "train.eval_every=100", "data.centres=[[0, 0], [2, 2]]", "data.std=0.05"],
    )  # fmt: skip
    assert rec.source == SOURCE_LESSONS and rec.history_runs == 0
    assert rec.message.startswith(f"no history for mixture in {history_url}: recommending the lessons default")
    assert len(rec.candidates) == 1 and rec.best.label == SOURCE_LESSONS and rec.seeds == [0, 1]
    c = rec.best
    assert len(c.per_seed["score"]) == 2 and c.seeds == [0, 1]
    assert c.failed == 2 or math.isfinite(c.mean["score"])
    cfg = load_yaml(out)
    assert cfg.data.name == "mixture" and cfg.train.sn_d and cfg.train.sn_g and cfg.train.loss == "ns"
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
