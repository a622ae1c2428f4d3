"""The shipped losses model's calibration: a temperature and a confidence threshold, fitted on
leave-one-family-out predictions of its training runs in foreign views (logs ganstab did not
write), so that a diagnosis under the threshold is `uncertain`."""

from __future__ import annotations

import numpy as np

from ganstab.diagnose import corpus_runs
from ganstab.diagnose.classifier import calibrate
from ganstab.diagnose.evaluation import scores
from ganstab.diagnose.examples import Example
from ganstab.diagnose.folds import FoldFeatures

# Foreign views per training run that the calibration is fitted on (views.foreign_view): the
# temperature and threshold are for logs that ganstab did not write.
CALIBRATION_VIEWS = 3

# The confidence threshold: the lowest top probability at which the corpus's leave-one-family-
# out predictions above it are right this often; under it a diagnosis is "uncertain".
CONFIDENT_ACCURACY = 0.95

# Under the threshold a diagnosis names the two likeliest labels, and the third as well where its
# probability reaches `third_label_from`: the highest bar at which the labels named contain the
# truth this often among the uncertain out-of-fold predictions.
NAMED_CONTAIN = 0.97


def out_of_fold(
    examples: list[Example], kind: str, folds: FoldFeatures | None = None
) -> tuple[np.ndarray, list[str], list[str], dict[str, float]]:
    """Leave-one-family-out probabilities of whole runs in their foreign views, where `folds`
    has them (FoldFeatures' calibration_views: the logging conventions a user's log may have, several
    at once), else as logged and in their training views: probabilities, true labels, classes,
    and the folds' macro-F1 on whole runs and on the first 30 % as logged. A family (a data set
    and its siblings, corpus_runs.family) is left out whole: a user's code and data are further from
    the corpus than a sibling is, and with siblings in the training folds the out-of-fold runs
    were called right more often than their probabilities said (temperature 0.76 on corpus v5,
    which sharpened a model that was over-confident on the foreign benchmark)."""
    folds = folds or FoldFeatures(examples, kind)
    probs, labels, classes = [], [], None
    pooled: dict[float, tuple[list[str], list[str]]] = {1.0: ([], []), 0.3: ([], [])}
    family = {e.id: corpus_runs.family(e.dataset) for e in examples}
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
    third_from, contain, three = third_label_bar(q, y, threshold)
    return {
        "temperature": round(t, 3),
        "uncertain_below": round(float(threshold), 2),
        "third_label_from": third_from,
        "named_contain_uncertain": contain,
        "three_named_share_uncertain": three,
        "out_of_fold_predictions": len(y),
        "ece_before": round(expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == y), 4),
        "ece_after": round(expected_calibration_error(conf, right), 4),
        # macro-F1 of the views the calibration was fitted on (foreign views where there are)
        "family_out_macro_f1_calibration_views": round(scores(labels, [classes[i] for i in p.argmax(axis=1)])["macro_f1"], 4),
        "coverage": round(float((conf >= threshold).mean()), 3),
        "accuracy_confident": round(float(right[conf >= threshold].mean()), 3),
        **lodo,
    }


def third_label_bar(q: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """The highest bar on the third label's probability at which the labels an uncertain diagnosis
    names (the two likeliest, plus the third where it reaches the bar) contain the truth in
    NAMED_CONTAIN of the uncertain predictions `q` (calibrated) of true classes `y`; with how often
    they do and how often three are named. 1.0 (never three) when the pair alone is enough."""
    unsure = q.max(axis=1) < threshold
    if not unsure.any():
        return 1.0, 1.0, 0.0
    in_two = (np.argsort(-q, axis=1)[:, :2] == y[:, None]).any(axis=1)[unsure]
    third = np.sort(q, axis=1)[:, 0][unsure]
    for bar in [1.0, *np.round(np.arange(0.33, 0.0, -0.01), 2)]:
        contain = in_two | (third >= bar)
        if contain.mean() >= NAMED_CONTAIN:
            return float(bar), round(float(contain.mean()), 3), round(float((third >= bar).mean()), 3)
    return 0.0, 1.0, 1.0


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
