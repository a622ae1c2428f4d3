"""bench/diagnosis_lodo.py: leave-one-family-out keeps siblings together; 'first four' pools
only the first four data sets' runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ganstab.diagnose.corpus_files import SHIPPED_CORPUS
from ganstab.diagnose.corpus_runs import draw_of
from ganstab.diagnose.examples import labelled_examples, usable
from ganstab.diagnose.folds import FoldFeatures

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("diagnosis_lodo", ROOT / "bench" / "diagnosis_lodo.py")
lodo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lodo)


def test_families_and_first_four_on_a_slice_of_the_corpus():
    examples = usable(labelled_examples(SHIPPED_CORPUS)[0], "losses")
    by_set: dict[str, list] = {}
    for e in examples:
        by_set.setdefault(e.dataset, []).append(e)
    few = [e for runs in by_set.values() for e in runs[:15]]  # 15 labelled runs per data set
    folds = FoldFeatures(few, "losses")
    sets = lodo.pooled(few, folds, lambda e: e.dataset)
    families = lodo.pooled(few, folds, lambda e: lodo.family(e.dataset))
    assert set(sets["per group, whole runs"]) == set(by_set) and len(by_set) == 7
    assert set(families["per group, whole runs"]) == lodo.FIRST_FOUR
    for result in (sets, families):
        for key in lodo.POOLS:
            assert all(0 <= v <= 1 for v in result[key].values())
    # without the siblings, the first four are all there is: both poolings agree
    four = [e for e in few if e.dataset in lodo.FIRST_FOUR]
    alone = lodo.pooled(four, folds, lambda e: e.dataset)
    assert alone["all"] == alone["first four"]
    # the plain-draw pool scores the plain draw's runs only (corpus v4's), as if the other draws'
    # were not there: the slice is all plain draw, so the two pools agree; a wgan run is left out
    assert all(draw_of(e.id) == "plain" for e in few) and sets["plain draw"] == sets["all"]
    wgan = next(e for e in examples if draw_of(e.id) == "wgan")
    assert "plain draw" not in lodo._pools(wgan) and "plain draw" in lodo._pools(few[0])
