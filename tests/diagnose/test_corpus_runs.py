"""`ganstab corpus`: sampled configurations trained as cohorts, reproducible from the seed."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest

from ganstab.cli import main
from ganstab.diagnose import corpus_files, corpus_runs
from ganstab.diagnose.labels import label_run
from ganstab.engine import CohortTrainer, apply_overrides, preset


def _runs_text(folder) -> str:
    return gzip.decompress((folder / "runs.jsonl.gz").read_bytes()).decode()


def test_corpus_is_generated_resumable_and_reproducible(tmp_path):
    args = ["corpus", "--cohorts", "ring8=1", "--cohort-size", "3", "--steps-scale", "0.1"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    runs = corpus_files.load(tmp_path / "a")
    assert len(runs) == 3 and all(r.dataset == "ring8" for r in runs)
    for r in runs:
        assert r.trace.shape[1] == len(corpus_files.TRACE_COLUMNS) and len(r.evals) == 2
        assert len(r.evals[-1]["near"]) == 8
        label_run(r.evals, r.diverged_at, 8)  # every run can be labelled
    before = _runs_text(tmp_path / "a")
    assert main([*args, "--out", str(tmp_path / "a")]) == 0  # done cohorts are skipped
    assert _runs_text(tmp_path / "a") == before
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    again = corpus_files.load(tmp_path / "b")
    assert [r.overrides for r in again] == [r.overrides for r in runs]
    np.testing.assert_allclose(again[0].trace, runs[0].trace, rtol=1e-5, atol=1e-6)
    meta = [json.loads(line) for line in before.splitlines()]
    assert {m["id"] for m in meta} == {r.id for r in runs}
    # another seed adds its own cohorts to the same folder and leaves the first seed's alone
    assert main([*args, "--seed", "1", "--out", str(tmp_path / "a")]) == 0
    both = corpus_files.load(tmp_path / "a")
    assert _runs_text(tmp_path / "a").startswith(before)
    assert len(both) == 6 and {corpus_runs._run_seed(r.id) for r in both} == {0, 1}


def test_stacked_digits_cohorts_are_labelled_over_a_thousand_modes(tmp_path):
    """The image relative of digits (issue 15 item 6): a stacked-digits cohort writes
    1,000-mode histograms of the engine's 2,500 evaluation samples, and the label rules read them."""
    args = ["corpus", "--out", str(tmp_path), "--cohorts", "stacked_digits=1", "--cohort-size", "2"]
    assert main([*args, "--steps-scale", "0.05", "--eval-every", "10"]) == 0
    runs = corpus_files.load(tmp_path)
    assert [r.id for r in runs] == ["stacked_digits-0-00-00", "stacked_digits-0-00-01"]
    for r in runs:
        assert [e["step"] for e in r.evals] == [10, 20, 30, 40]
        assert all(len(e["near"]) == 1000 and sum(e["near"]) == 2500 for e in r.evals)
        label, sig = label_run(r.evals, r.diverged_at, 1000)
        assert label in ("oscillating", "collapsing", "converging", "ambiguous") and 0 <= sig["coverage"] <= 1


def test_the_wgan_draw_adds_its_own_runs_beside_the_plain_draws(tmp_path):
    """`--draw wgan` samples WGAN-GP as other people's code trains it, into the same folder as the
    plain draw of the same seed without taking its cohorts' place; `--eval-every` sets the pace."""
    args = ["corpus", "--out", str(tmp_path), "--cohorts", "grid9=1", "--cohort-size", "3", "--steps-scale", "0.1"]
    assert main(args) == 0
    assert main([*args, "--draw", "wgan", "--eval-every", "20"]) == 0
    runs = corpus_files.load(tmp_path)
    plain, wgan = [r for r in runs if r.draw == "plain"], [r for r in runs if r.draw == "wgan"]
    assert len(plain) == 3 and len(wgan) == 3
    assert [corpus_runs.draw_of(r.id) for r in runs] == [r.draw for r in runs]
    assert all(r.id.startswith("grid9-wgan-0-00-") for r in wgan)
    for r in wgan:
        o = dict(x.split("=", 1) for x in r.overrides)
        assert o["train.loss"] == "wgan-gp" and 0.1 <= float(o["train.gp_weight"]) <= 10
        assert [e["step"] for e in r.evals] == [20, 40, 60, 80, 100]
    assert all(len(r.evals) == 2 for r in plain)  # the data set's own eval_every (50)
    # many draws: the wgan draw reaches the paper's 5 critic steps, GP weights far from 10, slow lrs
    rng = random.Random(0)
    drawn = [dict(x.split("=", 1) for x in corpus_runs.sample_wgan_member(rng)) for _ in range(200)]
    assert {d["train.n_dis"] for d in drawn} >= {"1", "5"}
    assert min(float(d["train.gp_weight"]) for d in drawn) < 0.3 and min(float(d["train.lr_d"]) for d in drawn) < 7e-5
    with pytest.raises(SystemExit):  # argparse names the bad choice
        main([*args, "--draw", "wgan-gp"])
    with pytest.raises(ValueError, match="eval_every must be a positive"):
        corpus_runs.generate(tmp_path, cohorts={"grid9": 1}, cohort_size=3, eval_every=0)
    assert len(corpus_files.load(tmp_path)) == 6  # nothing stored was lost


def test_the_small_wgan_draw_gives_its_cohorts_one_small_shape_and_its_own_pace(tmp_path):
    """`--draw wgan-small`: short, slow first tries of a small WGAN-GP MLP. A cohort shares its
    shape (3 layers of 64, batches of 64, a latent of 2 or 4, drawn per (seed, data set, cohort)),
    the run records it among its overrides, and the draw sets its own length (250 steps, an
    evaluation every 12) before --steps-scale."""
    args = ["corpus", "--out", str(tmp_path), "--cohorts", "grid9=1,ring8=1", "--cohort-size", "2"]
    assert main([*args, "--draw", "wgan-small", "--steps-scale", "0.1", "--seed", "3"]) == 0
    runs = corpus_files.load(tmp_path)
    assert len(runs) == 4 and {r.draw for r in runs} == {"wgan-small"}
    assert [corpus_runs.draw_of(r.id) for r in runs] == ["wgan-small"] * 4
    for r in runs:
        assert r.id.startswith(f"{r.dataset}-wgansmall-3-00-")
        o = dict(x.split("=", 1) for x in r.overrides)
        assert (o["model.hidden"], o["model.layers"], o["train.batch_size"]) == ("64", "3", "64")
        assert o["model.latent_dim"] in ("2", "4") and o["train.loss"] == "wgan-gp"
        assert o["train.lr_d"] == o["train.lr_g"] and 5e-5 <= float(o["train.lr_d"]) <= 5e-4
        # the shape is the one its (seed, data set, cohort) stream draws, whoever resumes it
        assert r.overrides[:4] == corpus_runs.small_wgan_cohort(random.Random(f"3/{r.dataset}/0"))
        assert [e["step"] for e in r.evals] == [12, 24, 25]  # 250 x 0.1 steps, the draw's pace, and the last
        assert r.trace.shape[0] >= 2
    assert main([*args, "--draw", "wgan-small", "--steps-scale", "0.1", "--seed", "3"]) == 0  # resumes: nothing new
    assert len(corpus_files.load(tmp_path)) == 4
    # an MLP draw on points: an image data set is refused before anything trains or is written,
    # with the default cohorts (digits among them) too
    for cohorts in ({"ring8": 1, "digits": 1}, None):
        with pytest.raises(ValueError, match="'wgan-small' draw is for the data sets ring8, .*not 'digits'"):
            corpus_runs.generate(tmp_path / "new", cohorts=cohorts, draw="wgan-small")
    with pytest.raises(ValueError, match="Unknown corpus data set 'ring9'"):
        corpus_runs.generate(tmp_path / "new", cohorts={"ring8": 1, "ring9": 1}, draw="wgan-small")
    assert not (tmp_path / "new").exists()


def test_an_older_corpus_gets_the_data_spread_the_engine_would_log(tmp_path):
    args = ["corpus", "--cohorts", "ring8=1", "--cohort-size", "2", "--steps-scale", "0.1"]
    assert main([*args, "--out", str(tmp_path / "new")]) == 0
    fresh = corpus_files.load(tmp_path / "new")
    assert json.loads((tmp_path / "new" / "columns.json").read_text()) == list(corpus_files.TRACE_COLUMNS)
    # the same corpus as written before data_spread and g_move existed: legacy columns, no columns.json
    old = tmp_path / "old"
    old.mkdir()
    (old / "runs.jsonl").write_text(_runs_text(tmp_path / "new"))  # a plain runs file, as before v4
    keep = [corpus_files.TRACE_COLUMNS.index(c) for c in corpus_files.LEGACY_COLUMNS]
    np.savez_compressed(old / "traces.npz", **{r.id: r.trace[:, keep] for r in fresh})
    assert corpus_files.load(old)[0].names == corpus_files.LEGACY_COLUMNS
    assert corpus_runs.add_data_spread(old) == 2 and corpus_runs.add_data_spread(old) == 0  # once
    upgraded = corpus_files.load(old)
    cfg = apply_overrides(preset("vanilla"), ["data.name=ring8", "train.steps=1"])
    for a, b in zip(upgraded, fresh):
        assert a.names == corpus_files.LEGACY_COLUMNS + ("data_spread",)
        assert (a.columns()["data_spread"] == b.columns()["data_spread"]).all()
        assert a.columns()["data_spread"][0] == np.float32(CohortTrainer([cfg]).data_spread)
    # a corpus with other columns gets no new cohort: refused before anything is trained
    with np.testing.assert_raises_regex(ValueError, "write the new runs to a new corpus folder"):
        corpus_runs.generate(old, seed=5, cohorts={"ring8": 1}, cohort_size=2, steps_scale=0.1)
    assert len(corpus_files.load(old)) == 2
    # runs with other columns are not mixed into a corpus
    try:
        corpus_files.append_runs(tmp_path / "new", upgraded)
    except ValueError as e:
        assert "write them to a new corpus folder" in str(e)
    else:
        raise AssertionError("runs with other trace columns were appended")


def test_sibling_data_sets_have_their_own_modes(tmp_path):
    # ring16, grid9 and mixture10 (corpus v4) are the four's siblings: their evaluations count
    # their own modes, which the labels read
    args = [
        "corpus",
        "--cohorts",
        "ring16=1,grid9=1,mixture10=1",
        "--cohort-size",
        "2",
        "--steps-scale",
        "0.05",
    ]
    assert main([*args, "--out", str(tmp_path)]) == 0
    modes = {r.dataset: len(r.evals[-1]["near"]) for r in corpus_files.load(tmp_path)}
    assert modes == {"ring16": 16, "grid9": 9, "mixture10": 10}
