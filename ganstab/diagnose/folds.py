"""Features of a corpus's runs computed once, for every fit of the classifier on a part of them
(the evaluation's scenarios, the calibration's folds, the shipped model itself)."""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.base import clone

from ganstab.diagnose.classifier import (
    FOREIGN_KEEP,
    MIN_ROWS,
    TRAIN_PREFIXES,
    make_pipeline,
    train_views,
    training_trace,
    truncate,
)
from ganstab.diagnose.examples import Example
from ganstab.diagnose.views import foreign_view

# The prefixes a run is diagnosed at in the scenarios (evaluation.py): whole, first half, first 30 %.
SCENARIO_PREFIXES = (1.0, 0.5, 0.3)


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
            e.id: [
                features.features(foreign_view(training_trace(e.trace, kind), rng, MIN_ROWS, FOREIGN_KEEP.get(kind, ())))
                for _ in range(calibration_views)
            ]
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
