"""Can a calibration transfer between scripts? (issue 30, item 2; a measurement, nothing shipped)

From the shipped model's probabilities of every foreign run (bench/diagnosis_scripts.py's
predictions file: the four scripts of bench/foreign/data, tutorial_mlp and keras_style), for each
script left out: a further temperature and the uncertainty threshold
are fitted on the *other* scripts' runs only (the temperature by log-loss over a grid, the
threshold as the lowest top probability at which the other scripts' confident answers are right at
least 95 % of the time), then applied to the left-out script: its ECE, its coverage, the accuracy
of its confident answers and top-2 where uncertain. The shipped model itself stays as it is: it
never learns from foreign runs (tests/diagnose/test_foreign.py).

    python bench/diagnosis_loso_calibration.py [--predictions bench/results/diagnosis_scripts/all-predictions.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from diagnosis_foreign import ece  # noqa: E402

from ganstab.diagnose.calibration import third_label_bar  # noqa: E402
from ganstab.diagnose.classifier import calibrate  # noqa: E402
from ganstab.diagnose.model_files import fitted  # noqa: E402
from ganstab.diagnose.result import LABELS  # noqa: E402

TEMPERATURES = np.round(np.arange(0.3, 3.01, 0.05), 2)
TARGET = 0.95


def arrays(preds: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    p = np.array([[q["probabilities"][label] for label in LABELS] for q in preds])
    y = np.array([LABELS.index(q["label"]) for q in preds])
    return p, y


def fit(p: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(temperature, threshold, third-label bar) fitted on these runs."""
    losses = [-np.mean(np.log(np.clip(calibrate(p, t)[np.arange(len(y)), y], 1e-9, 1))) for t in TEMPERATURES]
    t = float(TEMPERATURES[int(np.argmin(losses))])
    q = calibrate(p, t)
    top, right = q.max(1), q.argmax(1) == y
    # the lowest bar whose confident answers meet the target
    bar = next((float(b) for b in np.unique(top) if right[top >= b].mean() >= TARGET), 1.0)
    return t, bar, third_label_bar(q, y, bar)[0]


def score(p: np.ndarray, y: np.ndarray, t: float, bar: float, third: float) -> dict:
    q = calibrate(p, t)
    top, pred = q.max(1), q.argmax(1)
    right = pred == y
    sure = top >= bar
    two = np.argsort(-q, 1)[:, :2]
    in_two = (two == y[:, None]).any(1)
    three = np.sort(q, 1)[:, 0] >= third  # an uncertain diagnosis names all three labels
    named = in_two | three
    return {
        "runs": len(y), "temperature": t, "threshold": round(bar, 3), "ece": round(ece(top, right.astype(float))[0], 3),
        "coverage": round(float(sure.mean()), 3),
        "accuracy_confident": round(float(right[sure].mean()), 3) if sure.any() else None,
        "top2_uncertain": round(float(in_two[~sure].mean()), 3) if (~sure).any() else None,
        "third_label_from": third,
        "named_contain_uncertain": round(float(named[~sure].mean()), 3) if (~sure).any() else None,
        "three_named_uncertain": round(float(three[~sure].mean()), 3) if (~sure).any() else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictions", type=Path, default=Path("bench/results/diagnosis_scripts/all-predictions.json"))
    ap.add_argument("--out", type=Path, default=Path("bench/results/diagnosis_scripts/loso_calibration.json"))
    args = ap.parse_args()
    preds = json.loads(args.predictions.read_text())
    res = {}
    for script in sorted({q["script"] for q in preds}):
        p_in, y_in = arrays([q for q in preds if q["script"] != script])
        p_out, y_out = arrays([q for q in preds if q["script"] == script])
        cal = fitted("CALIBRATION")["losses"]  # what a user gets: the shipped threshold and third-label bar
        shipped = score(p_out, y_out, 1.0, cal["uncertain_below"], cal.get("third_label_from", 1.0))
        res[script] = {"shipped": shipped, "loso": score(p_out, y_out, *fit(p_in, y_in))}
        print(script, res[script])
    args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
