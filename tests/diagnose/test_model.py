"""The shipped classifier on the committed corpus, its scikit-learn manners, and live use."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ganstab.cli import main
from ganstab.diagnose import DiagnosisPruner, StabilityMonitor
from ganstab.diagnose.corpus import SHIPPED_CORPUS
from ganstab.diagnose.evaluate import labelled_examples, scores
from ganstab.diagnose.features import OPTIONAL_COLUMNS
from ganstab.diagnose.model import (
    MODEL_DIR,
    diagnose_trace,
    held_out,
    load_model,
    make_pipeline,
    shipped_model,
    truncate,
)

CORPUS = SHIPPED_CORPUS


@pytest.fixture(scope="module")
def examples():
    ex, _ = labelled_examples(CORPUS)
    return ex


def _first(examples, label, dataset=None):
    return next(e for e in examples if e.label == label and held_out(e.id) and (dataset in (None, e.dataset)))


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


def test_monitor_follows_a_run_live(examples):
    e = _first(examples, "collapsing")
    monitor = StabilityMonitor()
    for i in range(len(e.trace["step"])):
        monitor.update(int(e.trace["step"][i]), e.trace["d_loss"][i], e.trace["g_loss"][i])
        if monitor.rows == 10:
            assert monitor.diagnosis() is None
    assert (
        monitor.diagnosis().label
        == diagnose_trace({k: e.trace[k] for k in ("step", "d_loss", "g_loss")}).label
    )
    with pytest.raises(ValueError, match="must increase"):
        monitor.update(1, 0.0, 0.0)


def test_a_monitor_asked_for_the_rich_model_waits_for_its_columns(examples):
    """g_move arrives once per evaluation: a monitor (or pruner) named "rich" says nothing until
    the third value, rather than raising in the middle of a training loop; then it diagnoses."""
    e = _first(examples, "oscillating")
    extra = [c for c in e.trace if c in OPTIONAL_COLUMNS]
    monitor, seen = StabilityMonitor(model="rich"), []
    for i in range(len(e.trace["step"])):
        monitor.update(
            int(e.trace["step"][i]),
            e.trace["d_loss"][i],
            e.trace["g_loss"][i],
            **{c: e.trace[c][i] for c in extra},
        )
        values = int(np.isfinite(e.trace["g_move"][: i + 1]).sum())
        seen.append((monitor.rows, values, monitor.diagnosis()))
    waiting = [d for rows, values, d in seen if rows >= 20 and values < 3]
    ready = [d for rows, values, d in seen if rows >= 20 and values >= 3]
    assert waiting and all(d is None for d in waiting)
    assert ready and all(d is not None and d.model == "rich" for d in ready)


def _run_study(trace: dict[str, np.ndarray], pruner: DiagnosisPruner) -> optuna.trial.FrozenTrial:
    study = optuna.create_study(direction="maximize", pruner=pruner)

    def objective(trial):
        monitor = pruner.monitor_for(trial)
        for i in range(len(trace["step"])):
            monitor.update(int(trace["step"][i]), trace["d_loss"][i], trace["g_loss"][i])
            if i % 10 == 9:
                trial.report(0.0, i)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return 1.0

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=1)
    return study.trials[0]


def test_pruner_ignores_a_transient_spike_but_stops_collapse_and_divergence(examples):
    """Lesson 2: a loss spike that recovers is not a reason to stop."""
    converging = next(
        e for e in examples
        if e.label == "converging" and held_out(e.id)
        and diagnose_trace({k: e.trace[k] for k in ("step", "d_loss", "g_loss")}).confidence >= 0.9
    )  # fmt: skip
    spiky = {k: converging.trace[k].copy() for k in ("step", "d_loss", "g_loss")}
    mid = len(spiky["step"]) // 2
    spiky["d_loss"][mid : mid + 3] *= 25  # a transient spike, then back to normal
    spiky["g_loss"][mid : mid + 3] *= 25
    pruner = DiagnosisPruner(threshold=0.9)
    assert _run_study(spiky, pruner).state == optuna.trial.TrialState.COMPLETE
    assert all(d.label != "diverged" for d in pruner.last.values())

    collapsing = max(
        (e for e in examples if e.label == "collapsing" and held_out(e.id)),
        key=lambda e: diagnose_trace({k: e.trace[k] for k in ("step", "d_loss", "g_loss")}).probabilities[
            "collapsing"
        ],
    )
    losses = {k: collapsing.trace[k] for k in ("step", "d_loss", "g_loss")}
    assert _run_study(losses, DiagnosisPruner(threshold=0.6)).state == optuna.trial.TrialState.PRUNED

    nan = {k: v.copy() for k, v in spiky.items()}
    nan["d_loss"][mid + 20 :] = np.inf
    assert _run_study(nan, DiagnosisPruner()).state == optuna.trial.TrialState.PRUNED


def test_retrain_from_a_ganstab_database(tmp_path, examples, capsys):
    """`ganstab diagnose train --storage URL` learns from a user's own labelled runs."""
    from ganstab.storage import Store

    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store(url) as store:
        for e in examples[:40]:
            run_id = store.add_run(e.dataset, {"source": "test"})
            store.save_trace(run_id, e.trace)
            store.set_label(run_id, e.label, source="rules")
    out = tmp_path / "models"
    assert main(["diagnose", "train", "--storage", url, "--no-corpus", "--out", str(out)]) == 0
    assert "from storage 40" in capsys.readouterr().out
    model = load_model(out / "losses.skops")
    assert set(model.classes_) <= {"converging", "collapsing", "oscillating"}
    assert (
        main(
            [
                "diagnose",
                "train",
                "--storage",
                f"sqlite:///{tmp_path / 'empty.db'}",
                "--no-corpus",
                "--out",
                str(out),
            ]
        )
        == 2
    )


def _small_corpus(root, examples, per_dataset=12):
    """A corpus folder of a few labelled runs of the committed corpus per data set (a quick evaluation)."""
    from ganstab.diagnose import corpus as corpus_mod

    keep = []
    for d in sorted({e.dataset for e in examples}):
        keep += [e.id for e in examples if e.dataset == d][:per_dataset]
    corpus_mod.append_runs(root, [r for r in corpus_mod.load(CORPUS) if r.id in set(keep)])


def test_evaluate_scores_every_scenario_like_the_pipeline_it_ships(tmp_path, examples, capsys):
    from ganstab.diagnose.evaluate import FoldFeatures, fit

    _small_corpus(tmp_path, examples)
    small, _ = labelled_examples(tmp_path)
    # refitting only the classifier on cached features predicts what the whole pipeline predicts
    folds = FoldFeatures(small, "losses")
    train, test = small[: len(small) // 2], small[len(small) // 2 :]
    pipe = fit([e.trace for e in train], [e.label for e in train], "losses", ids=[e.id for e in train])
    for p in (1.0, 0.3):
        x = np.empty(len(test), dtype=object)
        x[:] = [truncate(e.trace, p) for e in test]
        assert folds.predict(folds.fit(train), test, p) == list(pipe.predict(x))
    assert main(["diagnose", "evaluate", "--corpus", str(tmp_path), "--model", "losses"]) == 0
    out = capsys.readouterr().out
    for scenario in (
        "held-out seeds, first 30%",
        "leave out ring8, whole runs",
        "leave-one-data-set-out, first 30%",
    ):
        assert scenario in out
    assert out.count("macro-F1") >= 10


def test_calibrated_probabilities_and_an_uncertain_diagnosis_names_two_labels(examples):
    """The shipped losses model's probabilities are temperature-scaled (fitted.CALIBRATION); under
    the corpus-chosen threshold the diagnosis is uncertain and the report names the two likeliest."""
    from rich.console import Console

    from ganstab.diagnose.model import calibrate, fitted
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
            first, second = sorted(d.probabilities, key=lambda k: -d.probabilities[k])[:2]
            assert f"UNCERTAIN: {first} or {second}" in console.export_text()


def test_the_calibration_leaves_each_data_set_out_with_its_siblings(examples):
    """evaluate.out_of_fold, which the calibration is fitted on, holds a whole family out (a data
    set and its siblings, corpus.family): ring8 and ring16 are never on opposite sides of a fold."""
    from ganstab.diagnose.evaluate import FoldFeatures, out_of_fold

    few = [
        e
        for d in ("ring8", "ring16", "grid25")
        for label in ("converging", "oscillating", "collapsing")
        for e in [e for e in examples if e.dataset == d and e.label == label][:3]
    ]

    class Recording(FoldFeatures):  # the real folds, with the data sets each fit learned from
        def fit(self, train):
            self.trained.append({e.dataset for e in train})
            return super().fit(train)

    folds = Recording(few, "losses", calibration_views=2)
    folds.trained = []
    probs, labels, classes, scores_ = out_of_fold(few, "losses", folds)
    assert folds.trained == [{"ring8", "ring16"}, {"grid25"}]  # grid25 out, then ring8's family out
    assert probs.shape == (2 * len(few), 3) and len(labels) == 2 * len(few)  # two foreign views a run
    assert set(scores_) == {"family_out_macro_f1_100%", "family_out_macro_f1_30%"}


def test_a_model_file_is_read_once_and_untrusted_types_are_refused(tmp_path, monkeypatch):
    """load_model reads the file's bytes once (its type check and the load parse the same bytes),
    and still refuses a file that holds a type outside sklearn, numpy and ganstab.diagnose."""
    import builtins
    import io
    import zipfile
    from fractions import Fraction

    import skops.io as sio

    path = MODEL_DIR / "losses.skops"
    opened = []
    real_open = io.open

    def counting_open(file, *args, **kwargs):  # a spy: the real open, counted for this file
        if str(file) == str(path):
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)  # pathlib and zipfile open files through io.open
    monkeypatch.setattr(builtins, "open", counting_open)
    model = load_model(path)
    monkeypatch.undo()
    assert len(opened) == 1 and hasattr(model, "predict_proba")
    odd = tmp_path / "odd.skops"
    sio.dump({"model": Fraction(1, 3)}, odd, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="does not trust.*fractions.Fraction"):
        load_model(odd)
