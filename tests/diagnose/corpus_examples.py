"""Runs of the committed corpus for the diagnosis tests: the first held-out run of a label, and a
small corpus folder of a few runs per data set (a quick evaluation or training)."""

from __future__ import annotations

from ganstab.diagnose.classifier import held_out
from ganstab.diagnose.corpus_files import SHIPPED_CORPUS

CORPUS = SHIPPED_CORPUS


def _first(examples, label, dataset=None):
    return next(e for e in examples if e.label == label and held_out(e.id) and (dataset in (None, e.dataset)))


def _small_corpus(root, examples, per_dataset=12):
    """A corpus folder of a few labelled runs of the committed corpus per data set (a quick evaluation)."""
    from ganstab.diagnose import corpus_files

    keep = []
    for d in sorted({e.dataset for e in examples}):
        keep += [e.id for e in examples if e.dataset == d][:per_dataset]
    corpus_files.append_runs(root, [r for r in corpus_files.load(CORPUS) if r.id in set(keep)])
