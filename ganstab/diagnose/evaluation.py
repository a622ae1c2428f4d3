"""Evaluating the stability classifier on a labelled corpus.

Scenarios (docs/labels.md, bench/RESULTS.md):
- held-out seeds: train on three quarters of the runs, test on the committed held-out quarter
  (`classifier.held_out`, by run id; every run has its own seed);
- leave-one-data-set-out (LODO): for each data set, train on the others and test on it; the
  predictions of all folds are pooled into one confusion matrix;
- prefixes: the same, diagnosing only the first 30% / 50% of each test run.
Runs labelled ambiguous are left out of training and testing; diverged runs are decided by rule
(NaN/Inf in the losses) and are not part of the classifier's task.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from ganstab.diagnose.classifier import held_out
from ganstab.diagnose.examples import Example, labelled_examples, usable
from ganstab.diagnose.folds import SCENARIO_PREFIXES, FoldFeatures
from ganstab.diagnose.result import LABELS


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
