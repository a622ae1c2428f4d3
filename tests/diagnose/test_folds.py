"""FoldFeatures: every run's features computed once, and the classifier refit per fold on them."""

from __future__ import annotations

import numpy as np

from ganstab.diagnose.classifier import truncate
from ganstab.diagnose.examples import labelled_examples
from tests.diagnose.corpus_examples import _small_corpus


def test_a_classifier_refit_on_cached_features_predicts_what_the_pipeline_predicts(tmp_path, examples):
    from ganstab.diagnose.classifier import fit
    from ganstab.diagnose.folds import FoldFeatures

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
