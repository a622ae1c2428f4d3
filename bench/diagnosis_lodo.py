"""Stricter readings of leave-one-data-set-out for the stability classifier.

`ganstab diagnose evaluate` pools the predictions of every fold, so a corpus with sibling data sets
(ring8 and ring16, grid25 and grid9, mixture6 and mixture10) scores each data set with its
sibling in the training folds. This script prints, for the same model and features:

- leave one data set out, pooled over all data sets (what `evaluate` prints) and over the first
  four only (ring8, grid25, mixture6, digits: the data sets of corpora before v4);
- leave one *family* out: a data set and its siblings are left out together, so the model has
  never seen that kind of data set;
- each pooled over the plain draw's runs alone (corpus v4's runs), so that a corpus with another
  draw's runs (v5's WGAN-GP draw) is compared with v4 on the same runs.

    python bench/diagnosis_lodo.py [--corpus corpus/v6] [--model rich] [--out bench/results/diagnosis_lodo]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ganstab.diagnose.corpus_files import SHIPPED_CORPUS
from ganstab.diagnose.corpus_runs import draw_of, family
from ganstab.diagnose.evaluation import left_out, scores
from ganstab.diagnose.examples import labelled_examples, usable
from ganstab.diagnose.folds import SCENARIO_PREFIXES, FoldFeatures

FIRST_FOUR = {"ring8", "grid25", "mixture6", "digits"}
POOLS = ("all", "first four", "plain draw")


def _pools(e) -> list[str]:
    """The pools a held-out run's prediction counts in."""
    return ["all"] + ["first four"] * (e.dataset in FIRST_FOUR) + ["plain draw"] * (draw_of(e.id) == "plain")


def pooled(examples, folds: FoldFeatures, group) -> dict[str, dict]:
    """Leave each group out in turn (`evaluation.left_out`); macro-F1 per prefix, pooled over all
    runs, the first four data sets' runs and the plain draw's, and per group on whole runs."""
    runs = {p: {key: ([], []) for key in POOLS} for p in SCENARIO_PREFIXES}
    per_group = {}
    for g, (test, preds) in left_out(examples, folds, group).items():
        for p, pred in preds.items():
            for e, q in zip(test, pred):
                for key in _pools(e):
                    runs[p][key][0].append(e.label)
                    runs[p][key][1].append(q)
        per_group[g] = scores([e.label for e in test], preds[1.0])["macro_f1"]
    out = {
        key: {f"first {p:.0%}": scores(*runs[p][key])["macro_f1"] for p in SCENARIO_PREFIXES}
        for key in POOLS
        if runs[1.0][key][0]
    }
    out["per group, whole runs"] = per_group
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("corpus") / SHIPPED_CORPUS.name)
    ap.add_argument("--model", default="rich", choices=["rich", "losses"])
    ap.add_argument("--out", type=Path, default=Path("bench/results/diagnosis_lodo"))
    args = ap.parse_args()
    start = time.perf_counter()
    examples = usable(labelled_examples(args.corpus)[0], args.model)
    folds = FoldFeatures(examples, args.model)
    result = {
        "corpus": str(args.corpus),
        "model": args.model,
        "labelled runs": len(examples),
        "leave one data set out": pooled(examples, folds, lambda e: e.dataset),
        "leave one family out": pooled(examples, folds, lambda e: family(e.dataset)),
    }
    result["seconds"] = round(time.perf_counter() - start)
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.corpus.name}-{args.model}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
