"""The "outputs" model (issue 30 item 3): trained as the shipped losses model is, and measured in
domain, with one pass over the corpus's features.

The features of every labelled run of the corpus (FoldFeatures, with the calibration's foreign
views) are computed once; from them:

- the model and its calibration on the training split (training.fit_calibrated, what
  `ganstab diagnose train` does for a calibrated model), saved to --model-out with the fitted.json
  entries it would get (CALIBRATION and TRAINING) in the result file;
- held-out seeds: the committed held-out quarter, whole runs / first 50 % / first 30 %;
- leave one data set out (and, with --family-out, one family out), pooled over every fold
  (bench/diagnosis_lodo.py's readings), at the same prefixes.

The foreign scripts are scored by bench/diagnosis_scripts.py once the model is in place.

    python bench/diagnosis_outputs.py [--corpus corpus/v6] [--model-out /tmp/outputs.skops]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from diagnosis_lodo import pooled  # noqa: E402

from ganstab.diagnose.calibration import CALIBRATION_VIEWS  # noqa: E402
from ganstab.diagnose.classifier import held_out  # noqa: E402
from ganstab.diagnose.corpus_runs import family  # noqa: E402
from ganstab.diagnose.evaluation import scores  # noqa: E402
from ganstab.diagnose.examples import labelled_examples, usable  # noqa: E402
from ganstab.diagnose.folds import SCENARIO_PREFIXES, FoldFeatures  # noqa: E402
from ganstab.diagnose.model_files import save  # noqa: E402
from ganstab.diagnose.training import fit_calibrated, ids_hash  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("corpus/v6"))
    ap.add_argument("--kind", default="outputs")
    ap.add_argument("--model-out", type=Path, default=Path("/tmp/diagnosis_outputs/outputs.skops"))
    ap.add_argument("--cache", type=Path, default=None, help="pickle of the features, reused if present")
    ap.add_argument(
        "--family-out", action="store_true", help="also leave each family out of all runs (4 more fits)"
    )
    ap.add_argument("--out", type=Path, default=Path("bench/results/diagnosis_outputs/v6-outputs.json"))
    args = ap.parse_args()
    start = time.perf_counter()
    examples = usable(labelled_examples(args.corpus)[0], args.kind)
    if args.cache is not None and args.cache.exists():
        folds = pickle.loads(args.cache.read_bytes())
    else:
        folds = FoldFeatures(examples, args.kind, calibration_views=CALIBRATION_VIEWS)
        if args.cache is not None:
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            args.cache.write_bytes(pickle.dumps(folds))
    features_s = time.perf_counter() - start
    train = [e for e in examples if not held_out(e.id)]
    test = [e for e in examples if held_out(e.id)]
    model, cal = fit_calibrated(train, args.kind, folds)
    save(model, args.model_out)
    trained_s = time.perf_counter() - start
    held = {
        f"first {p:.0%}": scores([e.label for e in test], folds.predict(model.steps[-1][1], test, p))[
            "macro_f1"
        ]
        for p in SCENARIO_PREFIXES
    }
    result = {
        "corpus": str(args.corpus),
        "model": args.kind,
        "labelled runs": len(examples),
        "CALIBRATION": cal,
        "TRAINING": {
            "corpus": str(args.corpus),
            "runs": len(train),
            "ids_sha256": ids_hash(e.id for e in train),
        },
        "held-out seeds": held,
        "leave one data set out": pooled(examples, folds, lambda e: e.dataset),
        # the calibration's family_out_macro_f1_* are the same reading on the training split
        **(
            {"leave one family out": pooled(examples, folds, lambda e: family(e.dataset))}
            if args.family_out
            else {}
        ),
        "seconds": {
            "features": round(features_s),
            "model and calibration": round(trained_s - features_s),
            "all": round(time.perf_counter() - start),
        },
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
