"""The shipped classifier on the committed corpus: its score, its scikit-learn manners, its
rules (divergence, the columns each model reads) and its calibrated probabilities."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ganstab.cli import main
from ganstab.diagnose.classifier import diagnose_trace, held_out, make_pipeline, shipped_model, truncate
from ganstab.diagnose.evaluation import scores
from ganstab.diagnose.model_files import MODEL_DIR, load_model
from tests.diagnose.corpus_examples import _first

# Issue 3 asks for 0.85 on the held-out split. On corpus v5 the rich model (ganstab's own traces,
# the default for them) scores 0.946 and the losses model (d_loss and g_loss alone, anybody's log)
# 0.885, refit in the thirteenth session 0.887 (0.949 and 0.894 on v4's held-out runs, where the
# corpus v4 models scored 0.964 and 0.903); on corpus v6 (fourteenth session) 0.966 and 0.920
# (bench/RESULTS.md). Both are held to the 0.85.
HELD_OUT_FLOOR = {"rich": 0.85, "losses": 0.85}


@pytest.mark.parametrize("kind", ["losses", "rich"])
def test_shipped_model_holds_its_score_on_the_held_out_split(examples, kind):
    model = load_model(MODEL_DIR / f"{kind}.skops")
    test = [e for e in examples if held_out(e.id)]
    x = np.empty(len(test), dtype=object)
    x[:] = [e.trace for e in test]
    s = scores([e.label for e in test], list(model.predict(x)))
    assert s["macro_f1"] >= HELD_OUT_FLOOR[kind], s


def test_pipeline_follows_scikit_learn_conventions(examples):
    pipe = make_pipeline("losses")
    x = np.empty(1, dtype=object)
    x[0] = examples[0].trace
    with pytest.raises(NotFittedError):
        pipe.predict(x)
    assert clone(pipe).get_params()["features__columns"] == ("d_loss", "g_loss")
    assert clone(pipe).get_params()["features__levels"] is True
    model = load_model(MODEL_DIR / "losses.skops")
    proba = model.predict_proba(x)
    assert proba.shape == (1, len(model.classes_)) and abs(proba.sum() - 1) < 1e-9


def test_diagnosis_of_runs_and_rules(examples):
    e = _first(examples, "collapsing")
    d = diagnose_trace(e.trace)
    assert d.model == "rich" and set(d.probabilities) == {"converging", "collapsing", "oscillating"}
    assert abs(sum(d.probabilities.values()) - 1) < 1e-6 and d.advice
    only_losses = {k: e.trace[k] for k in ("step", "d_loss", "g_loss")}
    assert diagnose_trace(only_losses).model == "losses"
    # a ganstab trace from before data_spread: the losses model, unless the rich one is asked for
    older = {k: v for k, v in e.trace.items() if k != "data_spread"}
    assert diagnose_trace(older).model == "losses"
    with pytest.raises(ValueError, match="data_spread"):
        diagnose_trace(older, model="rich")
    # g_move with two values so far (a live run before its third evaluation): the same
    early = {
        **e.trace,
        "g_move": np.where(np.cumsum(np.isfinite(e.trace["g_move"])) <= 2, e.trace["g_move"], np.nan),
    }
    assert diagnose_trace(early).model == "losses"
    with pytest.raises(ValueError, match="g_move"):
        diagnose_trace(early, model="rich")
    # the shipped rich model reads g_move's levels (a model trained before it would still pass 0.85)
    assert shipped_model("rich").named_steps["features"].move
    # a log that diverged from its first row is diverged, whatever model its columns allow
    all_nan = {"step": np.arange(1.0, 31.0), "d_loss": np.full(30, np.nan), "g_loss": np.full(30, np.nan)}
    assert diagnose_trace(all_nan).label == "diverged" == diagnose_trace(all_nan, model="rich").label
    nan = {k: v.copy() for k, v in only_losses.items()}
    nan["g_loss"][30] = np.nan
    d = diagnose_trace(nan)
    assert d.label == "diverged" and d.diverged_at == nan["step"][30]
    with pytest.raises(ValueError, match="at least 20 rows"):
        diagnose_trace(truncate(only_losses, 0.01) | {k: v[:5] for k, v in only_losses.items()})


def test_cli_diagnoses_csv_and_run_folders(tmp_path, examples, capsys):
    e = _first(examples, "converging")
    csv = tmp_path / "log.csv"
    cols = ["step", "d_loss", "g_loss", "extra"]
    rows = np.column_stack(
        [e.trace["step"], e.trace["d_loss"], e.trace["g_loss"], np.zeros(len(e.trace["step"]))]
    )
    csv.write_text(",".join(cols) + "\n" + "\n".join(",".join(map(repr, r.tolist())) for r in rows))
    assert main(["diagnose", str(csv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["label"] in ("converging", "collapsing", "oscillating") and out[0]["model"] == "losses"
    assert main(["diagnose", str(csv)]) == 0
    text = capsys.readouterr().out
    assert out[0]["label"] in text and "lesson" in text
    bad = tmp_path / "bad.csv"
    bad.write_text("step,d_loss\n1,2\n")
    assert main(["diagnose", str(bad)]) == 2
    assert "bad.csv" in capsys.readouterr().err


def test_calibrated_probabilities_and_an_uncertain_diagnosis_names_the_labels_it_cannot_rule_out(examples):
    """The shipped losses model's probabilities are temperature-scaled (fitted.json, CALIBRATION); under
    the corpus-chosen threshold the diagnosis is uncertain and the report names the two likeliest (and
    the third where the log cannot rule it out)."""
    from rich.console import Console

    from ganstab.diagnose.classifier import calibrate
    from ganstab.diagnose.model_files import fitted
    from ganstab.diagnose.report import render_text

    cal = fitted("CALIBRATION")["losses"]
    assert 0.25 <= cal["temperature"] <= 4 and 0.34 <= cal["uncertain_below"] <= 0.95
    p = np.array([0.6, 0.3, 0.1])
    q = calibrate(p, 2.0)
    assert q.sum() == pytest.approx(1) and q[0] < 0.6 and q.argmax() == 0  # softened, same order
    raw = shipped_model("losses")
    seen = set()
    for e in [e for e in examples if held_out(e.id)][:60]:
        d = diagnose_trace(e.trace, model="losses")
        x = np.empty(1, dtype=object)
        x[0] = e.trace
        expected = calibrate(raw.predict_proba(x)[0], cal["temperature"])
        assert [d.probabilities[c] for c in raw.classes_] == pytest.approx(list(expected))
        assert d.uncertain == (d.confidence < cal["uncertain_below"])
        seen.add(d.uncertain)
        if d.uncertain:
            console = Console(width=200, record=True)
            console.print(render_text("run", d))
            ranked = sorted(d.probabilities, key=lambda k: -d.probabilities[k])
            # the two likeliest, and the third too where it reaches the fitted bar (third_label_from)
            named = ranked if d.probabilities[ranked[2]] >= cal["third_label_from"] else ranked[:2]
            assert d.named == named
            words = f"{named[0]} or {named[1]}" if len(named) == 2 else f"{named[0]}, {named[1]} or {named[2]}"
            assert f"uncertain: {words} (confidence {d.confidence:.2f})" in console.export_text()


def test_evidence_of_a_batch_is_each_trace_s_own():
    """A search explains a cohort's diagnoses in one batch (classifier.evidence_batch): each trace's
    evidence, key for key and bit for bit, is what it gets alone, whatever shares the batch
    (losses only, D's outputs as probabilities or logits, a NaN row, G's spread and moves)."""
    from ganstab.diagnose.classifier import evidence, evidence_batch

    rng = np.random.default_rng(3)
    traces = []
    for k in range(12):
        n = 60 if k < 9 else 45
        t = {"step": np.arange(n) * 10.0, "d_loss": 1.3 + 0.2 * rng.normal(size=n).cumsum() / n,
             "g_loss": 0.7 + 0.3 * rng.random(n)}  # fmt: skip
        if k % 3 == 1:  # the DCGAN tutorial's D(x), D(G(z)): probabilities, D winning
            t["d_real"], t["d_fake"] = 0.95 + 0.01 * rng.random(n), 0.03 + 0.01 * rng.random(n)
            t["d_loss"] = 1e-3 * (1 + rng.random(n))
        if k % 3 == 2:  # ganstab's own: logits, G's spread and moves
            t["d_real"], t["d_fake"] = rng.normal(1, 1, n), rng.normal(-1, 1, n)
            t["g_spread"], t["data_spread"] = np.linspace(1.0, 0.3, n), np.full(n, 0.9)
            t["g_move"] = np.where(np.arange(n) % 10 == 9, rng.random(n), np.nan)
        if k == 4:
            t["g_loss"] = t["g_loss"].copy()
            t["g_loss"][2] = np.nan
        traces.append(t)
    together = evidence_batch(traces)
    for t, ev in zip(traces, together):
        alone = evidence(t)
        assert list(ev) == list(alone)
        assert all(ev[k] == alone[k] or (np.isnan(ev[k]) and np.isnan(alone[k])) for k in ev)
    assert together[1]["d_wins"] == 1.0 and together[1]["d_wins_from_start"] == 1.0
    assert "g_spread_late_over_data" in together[2] and "g_move_late" in together[2]
    assert len({tuple(ev) for ev in together}) > 2  # the batch held traces of several shapes
