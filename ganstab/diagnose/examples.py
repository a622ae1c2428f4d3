"""The classifier's examples: a corpus's (or a ganstab database's) labelled runs, each with its
trace, as `training`, `evaluation` and `calibration` read them. Runs labelled ambiguous are left
out; diverged runs are decided by rule (NaN/Inf in the losses) and are not the classifier's task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganstab.diagnose import corpus_files
from ganstab.diagnose.classifier import missing_columns
from ganstab.diagnose.labels import label_run
from ganstab.diagnose.result import LABELS


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
    for run in corpus_files.load(path):
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


def usable(examples: list[Example], kind: str) -> list[Example]:
    """The examples whose traces have every column the model reads (REQUIRED): the rich model is
    not taught that a missing data_spread or g_move means something, since every new trace has
    them."""
    return [e for e in examples if not missing_columns(e.trace, kind)]
