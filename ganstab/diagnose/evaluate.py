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
    MODEL_DIR,
    TRAIN_PREFIXES,
    fit,
    held_out,
    make_pipeline,
    missing_columns,
    save,
    truncate,
)
from ganstab.diagnose.result import LABELS

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
    as fitting `model.fit`'s pipeline on each fold, without extracting every run's features again
    in each of the five fits."""

    def __init__(self, examples: list[Example], kind: str) -> None:
        self.kind = kind
        features = make_pipeline(kind).named_steps["features"].fit(None)
        prefixes = sorted(set(TRAIN_PREFIXES) | set(SCENARIO_PREFIXES))
        self.x = {(e.id, p): features.features(truncate(e.trace, p)) for e in examples for p in prefixes}

    def fit(self, train: list[Example]):
        x = [self.x[(e.id, p)] for e in train for p in TRAIN_PREFIXES]
        y = [e.label for e in train for _ in TRAIN_PREFIXES]
        return clone(make_pipeline(self.kind).named_steps["classifier"]).fit(np.array(x), np.array(y))

    def predict(self, model, test: list[Example], prefix: float) -> list[str]:
        return list(model.predict(np.array([self.x[(e.id, prefix)] for e in test])))


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
    path: str | Path | None, out_dir: Path = MODEL_DIR, kinds=("losses", "rich"), storage: str | None = None
) -> dict[str, int]:
    """Train the models on the corpus's training split (the held-out quarter is kept out, so the
    test on it stays honest) plus, with `storage`, every labelled run of that database, and save
    them as skops files."""
    examples, counts = labelled_examples(path) if path is not None else ([], {})
    if storage is not None:
        extra = examples_from_store(storage)
        counts["from storage"] = len(extra)
        examples += extra
    if len({e.label for e in examples}) < 2:
        raise ValueError(f"Training needs labelled runs of at least two classes, but got {counts}.")
    for kind in kinds:
        runs = usable(examples, kind)
        if len(runs) < len(examples):
            counts[f"left out of the {kind} model (columns missing)"] = len(examples) - len(runs)
        train = [e for e in runs if not held_out(e.id)]
        if len({e.label for e in train}) < 2:
            raise ValueError(f"Too few labelled runs have the columns the {kind!r} model reads ({counts}).")
        save(fit([e.trace for e in train], [e.label for e in train], kind), out_dir / f"{kind}.skops")
    return counts


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
