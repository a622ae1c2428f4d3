"""The losses model's calibration: folds that leave a whole family out, and the error it measures."""

from __future__ import annotations

import pytest


def test_the_calibration_leaves_each_data_set_out_with_its_siblings(examples):
    """calibration.out_of_fold, which the calibration is fitted on, holds a whole family out (a data
    set and its siblings, corpus_runs.family): ring8 and ring16 are never on opposite sides of a fold."""
    from ganstab.diagnose.calibration import out_of_fold
    from ganstab.diagnose.folds import FoldFeatures

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


def test_the_calibration_error_is_zero_when_confidence_is_the_accuracy():
    from ganstab.diagnose.calibration import expected_calibration_error

    assert expected_calibration_error([0.75] * 4, [1, 1, 1, 0]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0] * 4, [1, 0, 1, 0]) == pytest.approx(0.5)  # over-confident
    assert expected_calibration_error([0.95, 0.35], [1, 0]) == pytest.approx(0.5 * 0.05 + 0.5 * 0.35)


def test_an_uncertain_diagnosis_names_the_third_label_where_the_pair_would_miss_the_truth():
    """calibration.third_label_bar: the highest bar on the third label's probability at which the
    labels named contain the truth in 97 % of uncertain predictions; confident ones do not count."""
    import numpy as np

    from ganstab.diagnose.calibration import third_label_bar

    # 100 uncertain rows whose truth is among the two likeliest, and 10 whose truth is the third
    # label, at a third-label probability of 0.2; plus 50 confident rows that are all wrong
    q = np.array([[0.6, 0.3, 0.1]] * 100 + [[0.5, 0.3, 0.2]] * 10 + [[0.9, 0.06, 0.04]] * 50)
    y = np.array([0] * 100 + [2] * 10 + [2] * 50)
    bar, contain, three = third_label_bar(q, y, threshold=0.87)
    assert bar == 0.2  # names three exactly where the pair misses: 0.21 would miss 10 of 110
    assert contain == 1.0 and three == round(10 / 110, 3)
    # when the pair alone contains the truth often enough, three are never named
    assert third_label_bar(q[:100], y[:100], threshold=0.87) == (1.0, 1.0, 0.0)


def test_the_verdict_names_three_labels_when_the_diagnosis_cannot_rule_one_out():
    from ganstab.diagnose.classifier import named_labels
    from ganstab.diagnose.result import Diagnosis

    p = {"converging": 0.45, "collapsing": 0.2, "oscillating": 0.35}
    assert named_labels(p, third_from=0.21) == ["converging", "oscillating"]
    three = named_labels(p, third_from=0.2)
    assert three == ["converging", "oscillating", "collapsing"]
    d = Diagnosis("converging", p, uncertain=True, named=three)
    assert d.verdict == "uncertain: converging, oscillating or collapsing (confidence 0.45)"
    assert Diagnosis("converging", p, uncertain=True).verdict == "uncertain: converging or oscillating (confidence 0.45)"
