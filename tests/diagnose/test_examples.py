"""The classifier's examples: labelled runs of a corpus or a database, ambiguous and diverged runs
counted but not taught, and the runs each model can read."""

from __future__ import annotations

import numpy as np

from ganstab.diagnose.examples import Example, labelled_examples, usable
from ganstab.diagnose.result import LABELS
from tests.diagnose.corpus_examples import _small_corpus


def test_a_corpus_gives_its_classifier_examples_and_the_count_of_every_label(tmp_path, examples):
    _small_corpus(tmp_path, examples, per_dataset=4)
    small, counts = labelled_examples(tmp_path)
    assert {e.label for e in small} <= set(LABELS) and len(small) == sum(counts.get(lb, 0) for lb in LABELS)
    assert sum(counts.values()) >= len(small)
    assert all({"step", "d_loss", "g_loss"} <= set(e.trace) for e in small)


def test_only_runs_with_every_column_a_model_reads_are_usable():
    n = 30
    losses = {"step": np.arange(n, dtype=float), "d_loss": np.ones(n), "g_loss": np.ones(n)}
    rich = {**losses, **{c: np.ones(n) for c in ("d_real", "d_fake", "grad_norm_d", "grad_norm_g", "g_spread",
                                                 "g_drift", "data_spread")}, "g_move": np.full(n, 0.5)}
    runs = [Example("a", "ring8", "converging", losses), Example("b", "ring8", "collapsing", rich)]
    assert [e.id for e in usable(runs, "losses")] == ["a", "b"]
    assert [e.id for e in usable(runs, "rich")] == ["b"]
