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
