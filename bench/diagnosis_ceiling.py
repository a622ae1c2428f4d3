"""How much does the first part of a run say about its final label? A ceiling for issue 3's prefix
targets, from the ground truth itself.

    python bench/diagnosis_ceiling.py [--corpus corpus/v6] [--out bench/results/diagnosis_ceiling]

`ganstab diagnose evaluate` scores a diagnosis made on the first 30 % (50 %) of a run against the
label of the *whole* run, so a prefix score is a forecast. This script asks what the quality
metric (the very thing labels are made of, which the classifier never sees) tells about that
final label when only the same prefix of it is known. Per prefix, over the labelled runs of the
corpus (converging / collapsing / oscillating):

1. `prefix label`: docs/labels.md's rules applied to the evaluations inside the prefix, taken as
   the forecast (an ambiguous prefix counts as wrong): how often the run already is what it ends as.
2. `metrics`: a classifier trained on the prefix's quality metrics (the label signals over the
   prefix's late window and how HQ, coverage, spread and movement went over the prefix), scored
   leave-one-data-set-out like the shipped model.
3. `traces`: the shipped rich pipeline's features and classifier (trained on every run's
   30/50/75/100 % prefixes, as shipped), leave-one-data-set-out: the figure of `diagnose evaluate`.
4. `metrics + traces`: both feature sets, one classifier trained on this prefix.

Macro-F1 over the three classes, pooled over the leave-one-data-set-out folds. Results are
written as JSON to `--out` and recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402

from ganstab.diagnose import corpus_files  # noqa: E402
from ganstab.diagnose.classifier import make_pipeline, truncate  # noqa: E402
from ganstab.diagnose.evaluation import scores  # noqa: E402
from ganstab.diagnose.folds import FoldFeatures  # noqa: E402
from ganstab.diagnose.labels import _movement, _spread, label_run, signals  # noqa: E402
from ganstab.diagnose.result import LABELS  # noqa: E402

PREFIXES = (0.3, 0.5, 1.0)
SIGNALS = ("coverage", "quality", "final_quality", "spread", "movement")


def prefix_evals(run: corpus_files.CorpusRun, fraction: float) -> list[dict]:
    """The evaluations made within the first `fraction` of the run's trace rows (the prefix the
    classifier sees, `classifier.truncate`)."""
    last_step = truncate(run.columns(), fraction)["step"][-1]
    return [e for e in run.evals if e["step"] <= last_step]


def metric_features(evals: list[dict], n_modes: int) -> list[float]:
    s = signals(evals, n_modes)
    usable = [e for e in evals if e.get("near") is not None]
    hq = [e["hq"] / 100 for e in usable] or [0.0]
    cover = [e["modes"] / n_modes for e in usable] or [0.0]
    spread = [_spread(e["near"]) for e in usable] or [0.0]
    moves = [_movement(a["near"], b["near"]) for a, b in zip(usable, usable[1:])] or [0.0]
    k = max(1, len(usable) // 3)
    return [-1.0 if np.isnan(s[name]) else s[name] for name in SIGNALS] + [
        float(np.mean(hq[-k:])),
        float(np.mean(cover[-k:])),
        float(np.mean(spread[-k:])),
        float(np.mean(moves[-k:])),
        float(np.max(moves)),
        float(np.mean(moves)),
        hq[-1] - hq[0],
        cover[-1] - cover[0],
        spread[-1] - spread[0],
        float(len(usable)),
    ]


def lodo(x: np.ndarray, y: np.ndarray, datasets: np.ndarray) -> float:
    """Leave-one-data-set-out macro-F1 of the shipped rich model's classifier on features `x`."""
    true, pred = [], []
    for d in sorted(set(datasets)):
        model = clone(make_pipeline("rich").named_steps["classifier"]).fit(x[datasets != d], y[datasets != d])
        true += list(y[datasets == d])
        pred += list(model.predict(x[datasets == d]))
    return scores(true, pred)["macro_f1"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("corpus") / corpus_files.SHIPPED_CORPUS.name)
    ap.add_argument("--out", type=Path, default=Path("bench/results/diagnosis_ceiling"))
    args = ap.parse_args()
    t0 = time.perf_counter()

    runs, labels = [], []
    for run in corpus_files.load(args.corpus):
        n_modes = next((len(e["near"]) for e in run.evals if e.get("near")), 0)
        label, _ = label_run(run.evals, run.diverged_at, n_modes)
        if label in LABELS:
            runs.append((run, n_modes))
            labels.append(label)
    y = np.array(labels)
    datasets = np.array([run.dataset for run, _ in runs])

    from ganstab.diagnose.examples import Example

    examples = [Example(run.id, run.dataset, label, run.columns()) for (run, _), label in zip(runs, labels)]
    traces = FoldFeatures(examples, "rich")
    true, shipped = {p: [] for p in PREFIXES}, {p: [] for p in PREFIXES}
    for d in sorted(set(datasets)):  # the shipped scheme: train on all prefixes, predict this one
        model = traces.fit([e for e in examples if e.dataset != d])
        test = [e for e in examples if e.dataset == d]
        for p in PREFIXES:
            true[p] += [e.label for e in test]
            shipped[p] += traces.predict(model, test, p)

    rows = []
    for p in PREFIXES:
        own = [label_run(prefix_evals(run, p), None, n)[0] for run, n in runs]
        metrics = np.array([metric_features(prefix_evals(run, p), n) for run, n in runs])
        trace_x = np.array([traces.x[(e.id, p)] for e in examples])
        rows.append(
            {
                "prefix": p,
                "runs": len(runs),
                "prefix_label_agrees": float(np.mean([a == b for a, b in zip(own, labels)])),
                "prefix_label": scores(labels, [lab if lab in LABELS else "none" for lab in own])["macro_f1"],
                "metrics": lodo(metrics, y, datasets),
                "traces": scores(true[p], shipped[p])["macro_f1"],
                "metrics_and_traces": lodo(np.hstack([metrics, trace_x]), y, datasets),
            }
        )
    result = {
        "corpus": str(args.corpus),
        "machine": f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}",
        "date": date.today().isoformat(),
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.corpus.name}.json").write_text(json.dumps(result, indent=1))
    print(
        "| prefix | prefix label = final label | prefix label as forecast | metrics | traces (shipped) | metrics + traces |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['prefix']:.0%} | {r['prefix_label_agrees']:.3f} | {r['prefix_label']:.3f} | {r['metrics']:.3f} "
            f"| {r['traces']:.3f} | {r['metrics_and_traces']:.3f} |"
        )
    print(f"({len(runs)} runs, {result['seconds']} s)")


if __name__ == "__main__":
    main()
