"""Training and evaluating the stability classifier on a labelled corpus.

Scenarios (docs/labels.md, bench/RESULTS.md):
- held-out seeds: train on three quarters of the runs, test on the committed held-out quarter
  (`model.held_out`, by run id; every run has its own seed);
- leave-one-data-set-out (LODO): for each data set, train on the others and test on it; the
  predictions of all folds are pooled into one confusion matrix;
- prefixes: the same, diagnosing only the first 30% / 50% of each test run.
Runs labelled ambiguous are left out of training and testing; diverged runs are decided by rule
(NaN/Inf in the losses) and are not part of the classifier's task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from ganstab.diagnose import corpus as corpus_mod
from ganstab.diagnose.labels import label_run
from ganstab.diagnose.model import (
    MIN_ROWS,
    MODEL_DIR,
    TRAIN_PREFIXES,
    fit,
    fitted,
    held_out,
    make_pipeline,
    missing_columns,
    save,
    train_views,
    truncate,
)
from ganstab.diagnose.result import LABELS
from ganstab.diagnose.views import foreign_view

SCENARIO_PREFIXES = (1.0, 0.5, 0.3)


@dataclass
class Example:
    id: str
    dataset: str
    label: str
    trace: dict[str, np.ndarray]


def labelled_examples(path: str | Path) -> tuple[list[Example], dict[str, int]]:
    """Classifier examples of a corpus (converging/collapsing/oscillating) and the label counts
    of all its runs (with diverged and ambiguous)."""
    examples, counts = [], {}
    for run in corpus_mod.load(path):
        n_modes = next((len(e["near"]) for e in run.evals if e.get("near")), 0)
        label, _ = label_run(run.evals, run.diverged_at, n_modes)
        counts[label] = counts.get(label, 0) + 1
        if label in LABELS:
            examples.append(Example(run.id, run.dataset, label, run.columns()))
    return examples, counts


def examples_from_store(url: str) -> list[Example]:
    """Labelled runs from a ganstab database (a user's own history; see ganstab.storage)."""
    from ganstab.storage import Store

    with Store(url, create=False) as store:
        return [
            Example(f"db-{r.run.id}", r.run.dataset, r.label, r.trace)
            for r in store.labelled_runs()
            if r.label in LABELS
        ]


def scores(y_true: list[str], y_pred: list[str]) -> dict[str, Any]:
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=list(LABELS), zero_division=0)
    return {
        "labels": list(LABELS),
        "confusion": confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist(),
        "precision": p.tolist(),
        "recall": r.tolist(),
        "f1": f.tolist(),
        "support": support.tolist(),
        "macro_f1": float(np.mean(f[support > 0])) if (support > 0).any() else 0.0,
    }


class FoldFeatures:
    """The features of every (run, prefix) computed once, and the pipeline's classifier refitted per
    fold: the features step is stateless (TraceFeatures.fit learns nothing), so this is the same
    as fitting `model.fit`'s pipeline on each fold (the losses model's logging views included),
    without extracting every run's features again in each of the fits."""

    def __init__(self, examples: list[Example], kind: str, calibration_views: int = 0) -> None:
        self.kind = kind
        features = make_pipeline(kind).named_steps["features"].fit(None)
        # foreign views of each whole run (views.foreign_view), for the calibration: seeded by
        # the run id apart from the training views' streams
        self.calibration_x = {
            e.id: [features.features(foreign_view(e.trace, rng, MIN_ROWS)) for _ in range(calibration_views)]
            for e in examples
            for rng in [np.random.default_rng(int(hashlib.sha256(f"{e.id}/calibration".encode()).hexdigest()[:8], 16))]
        } if calibration_views else {}
        prefixes = sorted(set(TRAIN_PREFIXES) | set(SCENARIO_PREFIXES))
        self.x, self.train_x = {}, {}
        for e in examples:
            for p in prefixes:
                views = train_views(truncate(e.trace, p), kind, f"{e.id}/{p}")
                self.x[(e.id, p)] = features.features(views[0])  # as logged
                if p in TRAIN_PREFIXES:
                    self.train_x[(e.id, p)] = [self.x[(e.id, p)]] + [features.features(v) for v in views[1:]]

    def fit(self, train: list[Example]):
        x = [v for e in train for p in TRAIN_PREFIXES for v in self.train_x[(e.id, p)]]
        y = [e.label for e in train for p in TRAIN_PREFIXES for _ in self.train_x[(e.id, p)]]
        return clone(make_pipeline(self.kind).named_steps["classifier"]).fit(np.array(x), np.array(y))

    def predict(self, model, test: list[Example], prefix: float) -> list[str]:
        return list(model.predict(np.array([self.x[(e.id, prefix)] for e in test])))

    def predict_proba(self, model, test: list[Example], prefix: float) -> np.ndarray:
        return model.predict_proba(np.array([self.x[(e.id, prefix)] for e in test]))


def usable(examples: list[Example], kind: str) -> list[Example]:
    """The examples whose traces have every column the model reads (REQUIRED): the rich model is
    not taught that a missing data_spread or g_move means something, since every new trace has
    them."""
    return [e for e in examples if not missing_columns(e.trace, kind)]


def evaluate(path: str | Path, kind: str = "losses") -> dict[str, dict[str, Any]]:
    examples = usable(labelled_examples(path)[0], kind)
    if len({e.label for e in examples}) < 2:
        raise ValueError(f"Corpus {str(path)!r} has too few runs with the columns the {kind!r} model reads.")
    folds = FoldFeatures(examples, kind)
    out: dict[str, dict[str, Any]] = {}
    train = [e for e in examples if not held_out(e.id)]
    test = [e for e in examples if held_out(e.id)]
    model = folds.fit(train)
    for p in SCENARIO_PREFIXES:
        out[f"held-out seeds, first {p:.0%}"] = scores([e.label for e in test], folds.predict(model, test, p))
    pooled: dict[float, tuple[list[str], list[str]]] = {p: ([], []) for p in SCENARIO_PREFIXES}
    for d, (te, preds) in left_out(examples, folds, lambda e: e.dataset).items():
        for p, pred in preds.items():
            pooled[p][0].extend(e.label for e in te)
            pooled[p][1].extend(pred)
        out[f"leave out {d}, whole runs"] = scores([e.label for e in te], preds[1.0])
    for p in SCENARIO_PREFIXES:
        out[f"leave-one-data-set-out, first {p:.0%}"] = scores(*pooled[p])
    return out


def left_out(
    examples: list[Example], folds: FoldFeatures, group: Callable[[Example], str]
) -> dict[str, tuple[list[Example], dict[float, list[str]]]]:
    """Leave each group of runs out in turn (by data set, or by family in bench/diagnosis_lodo.py):
    its runs and their predictions at each scenario prefix, from a model fit on the other groups."""
    out = {}
    for g in sorted({group(e) for e in examples}):
        train = [e for e in examples if group(e) != g]
        test = [e for e in examples if group(e) == g]
        if len({e.label for e in train}) < 2:  # nothing to learn from
            continue
        model = folds.fit(train)
        out[g] = (test, {p: folds.predict(model, test, p) for p in SCENARIO_PREFIXES})
    return out


def train_shipped(
    path: str | Path | None,
    out_dir: Path = MODEL_DIR,
    kinds=("losses", "rich"),
    storage: str | None = None,
    fitted_file: Path | None = None,
) -> dict[str, int]:
    """Train the models on the corpus's training split (the held-out quarter is kept out, so the
    test on it stays honest) plus, with `storage`, every labelled run of that database, and save
    them as skops files. Beside them (`fitted_file`, ganstab/diagnose/fitted.py when the shipped
    models are trained): each model's calibration and confidence threshold, fitted on
    leave-one-family-out predictions of the same runs (`calibration`), what it was trained on
    (TRAINING: corpus, run count and a hash of the run ids, which tests/diagnose/test_foreign.py
    reads), and the corpus's advice table (advice.advice_table)."""
    from ganstab.diagnose.advice import advice_table

    examples, counts = labelled_examples(path) if path is not None else ([], {})
    if storage is not None:
        extra = examples_from_store(storage)
        counts["from storage"] = len(extra)
        examples += extra
    if len({e.label for e in examples}) < 2:
        raise ValueError(f"Training needs labelled runs of at least two classes, but got {counts}.")
    if fitted_file is None and Path(out_dir) == MODEL_DIR:
        fitted_file = FITTED_FILE
    calibrations, training = {}, {}
    for kind in kinds:
        runs = usable(examples, kind)
        if len(runs) < len(examples):
            counts[f"left out of the {kind} model (columns missing)"] = len(examples) - len(runs)
        train = [e for e in runs if not held_out(e.id)]
        if len({e.label for e in train}) < 2:
            raise ValueError(f"Too few labelled runs have the columns the {kind!r} model reads ({counts}).")
        # Only the losses model is calibrated: its calibration is for logs ganstab did not write
        # (foreign views), which the rich model never reads (they lack its columns).
        if fitted_file is not None and kind == "losses" and len({e.dataset for e in train}) >= 2:
            # features once, for the calibration's folds and the model itself (test_model checks
            # that a classifier fit on FoldFeatures predicts what `fit`'s pipeline predicts)
            folds = FoldFeatures(train, kind, calibration_views=CALIBRATION_VIEWS)
            calibrations[kind] = calibration(train, kind, folds)
            model = make_pipeline(kind)
            model.named_steps["features"].fit(None)
            model.steps[-1] = ("classifier", folds.fit(train))
        else:
            model = fit([e.trace for e in train], [e.label for e in train], kind, ids=[e.id for e in train])
        save(model, out_dir / f"{kind}.skops")
        training[kind] = {"corpus": str(path), "runs": len(train), "ids_sha256": ids_hash(e.id for e in train)}
    if fitted_file is not None:
        table = advice_table(corpus_advice_runs(path)) if path is not None else {}
        # a model not retrained this time keeps its entries (e.g. `kinds=("losses",)`)
        calibrations = {**{k: v for k, v in fitted("CALIBRATION").items() if k not in kinds}, **calibrations}
        training = {**{k: v for k, v in fitted("TRAINING").items() if k not in kinds}, **training}
        write_fitted(fitted_file, calibrations, training, table)
    return counts


FITTED_FILE = Path(__file__).parent / "fitted.py"
# Foreign views per training run that the calibration is fitted on (views.foreign_view): the
# temperature and threshold are for logs that ganstab did not write.
CALIBRATION_VIEWS = 3
# The confidence threshold: the lowest top probability at which the corpus's leave-one-family-
# out predictions above it are right this often; under it a diagnosis is "uncertain".
CONFIDENT_ACCURACY = 0.95


def ids_hash(ids) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def corpus_advice_runs(path: str | Path) -> list[dict]:
    out = []
    for run in corpus_mod.load(path):
        n_modes = next((len(e["near"]) for e in run.evals if e.get("near")), 0)
        out.append({"dataset": run.dataset, "label": label_run(run.evals, run.diverged_at, n_modes)[0],
                    "overrides": run.overrides})
    return out


def out_of_fold(
    examples: list[Example], kind: str, folds: FoldFeatures | None = None
) -> tuple[np.ndarray, list[str], list[str], dict[str, float]]:
    """Leave-one-family-out probabilities of whole runs in their foreign views, where `folds`
    has them (FoldFeatures' calibration_views: the logging conventions a user's log may have, several
    at once), else as logged and in their training views: probabilities, true labels, classes,
    and the folds' macro-F1 on whole runs and on the first 30 % as logged. A family (a data set
    and its siblings, corpus.family) is left out whole: a user's code and data are further from
    the corpus than a sibling is, and with siblings in the training folds the out-of-fold runs
    were called right more often than their probabilities said (temperature 0.76 on corpus v5,
    which sharpened a model that was over-confident on the foreign benchmark)."""
    folds = folds or FoldFeatures(examples, kind)
    probs, labels, classes = [], [], None
    pooled: dict[float, tuple[list[str], list[str]]] = {1.0: ([], []), 0.3: ([], [])}
    family = {e.id: corpus_mod.family(e.dataset) for e in examples}
    for d in sorted(set(family.values())):
        train = [e for e in examples if family[e.id] != d]
        test = [e for e in examples if family[e.id] == d]
        if len({e.label for e in train}) < 2:
            continue
        model = folds.fit(train)
        classes = list(model.classes_)
        rows = folds.calibration_x or {e.id: folds.train_x[(e.id, 1.0)] for e in test}
        x = [v for e in test for v in rows[e.id]]
        probs.append(model.predict_proba(np.array(x)))
        labels += [e.label for e in test for _ in rows[e.id]]
        for p, (yt, yp) in pooled.items():
            yt += [e.label for e in test]
            yp += folds.predict(model, test, p)
    lodo = {f"family_out_macro_f1_{p:.0%}": round(scores(*pooled[p])["macro_f1"], 4) for p in pooled}
    return np.concatenate(probs), labels, classes or [], lodo


def calibration(examples: list[Example], kind: str, folds: FoldFeatures | None = None) -> dict[str, float]:
    """Temperature (minimum log loss on the out-of-fold probabilities) and the confidence threshold
    (CONFIDENT_ACCURACY), with what they give on those predictions."""
    from ganstab.diagnose.model import calibrate

    p, labels, classes, lodo = out_of_fold(examples, kind, folds)
    y = np.array([classes.index(label) for label in labels])

    def nll(t: float) -> float:
        q = calibrate(p, t)
        return float(-np.mean(np.log(np.clip(q[np.arange(len(y)), y], 1e-9, 1))))

    temps = np.exp(np.linspace(np.log(0.25), np.log(4.0), 81))
    t = float(temps[int(np.argmin([nll(t) for t in temps]))])
    q = calibrate(p, t)
    conf, right = q.max(axis=1), (q.argmax(axis=1) == y)
    threshold = next(
        (c for c in np.arange(0.34, 0.96, 0.01) if right[conf >= c].mean() >= CONFIDENT_ACCURACY), 0.95
    )
    return {
        "temperature": round(t, 3),
        "uncertain_below": round(float(threshold), 2),
        "out_of_fold_predictions": len(y),
        "ece_before": round(expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == y), 4),
        "ece_after": round(expected_calibration_error(conf, right), 4),
        # macro-F1 of the views the calibration was fitted on (foreign views where there are)
        "family_out_macro_f1_calibration_views": round(scores(labels, [classes[i] for i in p.argmax(axis=1)])["macro_f1"], 4),
        "coverage": round(float((conf >= threshold).mean()), 3),
        "accuracy_confident": round(float(right[conf >= threshold].mean()), 3),
        **lodo,
    }


def expected_calibration_error(confidence, correct, bins: int = 10) -> float:
    """ECE over equal-width bins of the top probability."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (confidence > lo) & (confidence <= hi)
        if m.any():
            total += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(total)


def write_fitted(file: Path, calibrations: dict, training: dict, table: dict) -> None:
    import pprint

    def literal(name: str, value: dict) -> str:
        return f"{name} = " + pprint.pformat(value, width=100, sort_dicts=True) + "\n"

    text = (
        '"""Fitted beside the shipped models by `ganstab diagnose train` (evaluate.train_shipped); do\n'
        'not edit. CALIBRATION: temperature and confidence threshold per model, from leave-one-family-\n'
        "out predictions of its training runs; TRAINING: what each model learned from; ADVICE_TABLE:\n"
        'advice.advice_table of the corpus."""\n\n'
        + literal("CALIBRATION", calibrations)
        + "\n"
        + literal("TRAINING", training)
        + "\n"
        + literal("ADVICE_TABLE", table)
    )
    file.write_text(text)


def format_scores(name: str, s: dict[str, Any]) -> str:
    lines = [f"{name}: macro-F1 {s['macro_f1']:.3f}"]
    width = max(len(label) for label in s["labels"])
    lines.append(" " * (width + 2) + "predicted: " + " ".join(f"{label[:11]:>11}" for label in s["labels"]))
    for label, row in zip(s["labels"], s["confusion"]):
        lines.append(f"  {label:>{width}}            " + " ".join(f"{v:>11}" for v in row))
    for i, label in enumerate(s["labels"]):
        lines.append(
            f"  {label:>{width}}: precision {s['precision'][i]:.2f}  recall {s['recall'][i]:.2f}  "
            f"F1 {s['f1'][i]:.2f}  (n={s['support'][i]})"
        )
    return "\n".join(lines)
