"""How much can a loss log tell on other people's code? A ceiling for issue 15's foreign target.

    python bench/diagnosis_foreign_ceiling.py [--data bench/foreign/data] [--corpus corpus/v6]
        [--out bench/results/diagnosis_foreign_ceiling] [--folds 2 3 5 10] [--repeats 3] [--blocks]
        [--views] [--seeds 0 1 2]

The shipped losses model learns from ganstab's corpus only and meets the foreign benchmark
(bench/foreign/) as unseen code. This script asks another question, to tell a weak model from a
weak signal: if a classifier could learn from the foreign logs themselves, what would the same
features give? Every foreign run is read from its own log as a user would point `ganstab diagnose`
at it and turned into the shipped losses model's features (TraceFeatures, shipped settings); the
classifier is the shipped one (boosting + forest), refitted per fold. Protocols:

1. `shipped`: the shipped model (the benchmark's own figure; not with `--blocks`, whose features
   it does not read).
2. `corpus, as logged`: the classifier trained on the corpus's runs at the shipped training
   prefixes, as logged (no views): the like-for-like baseline of protocol 5. With `--views`, also
   `corpus, with views`: the same prefixes with the shipped logging views (classifier.train_views), as
   the shipped model learns them. Both with each of `--seeds`.
3. `foreign, k-fold`: stratified k-fold cross-validation over the foreign runs, for each of
   `--folds` (a training share of 1 - 1/k), `--repeats` shuffles each: every script seen in
   training, each run unseen. An in-domain ceiling, and how it grows with the training runs.
4. `foreign, script out`: trained on the other scripts' runs only, each script left out in turn.
5. `corpus + foreign, script out`: protocol 2's rows (as logged) plus the other scripts' runs, the
   classifier's seed 0: would code of more styles in the corpus close the gap?

`--blocks` adds the raw values of the 20 canonical blocks of each loss (both forms, 80 features) to
the features, a representation the shipped model does not use. One untuned classifier, so each
figure is what these features give at least, not all they could. Throwaway models only: nothing is
saved, shipped or used to choose the shipped model, whose training data excludes the benchmark
(tests/diagnose/test_foreign.py). Macro-F1 pooled over each protocol's folds; JSON under `--out`,
recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

# diagnosis_foreign is this folder's: on the path when this runs as a script
import numpy as np  # noqa: E402
from diagnosis_foreign import by_script, extract_logs, load_runs, log_path  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from ganstab.diagnose.classifier import TRAIN_PREFIXES, make_pipeline, shipped_model, train_views, truncate  # noqa: E402
from ganstab.diagnose.examples import labelled_examples, usable  # noqa: E402
from ganstab.diagnose.features import CANONICAL_FORMS, LOSS_COLUMNS, canonical  # noqa: E402
from ganstab.diagnose.logs import read_logs  # noqa: E402
from ganstab.diagnose.result import LABELS  # noqa: E402


class Features:
    """The shipped losses features of a trace, and with `blocks` the 20 canonical blocks' raw values."""

    def __init__(self, blocks: bool) -> None:
        self.shipped = make_pipeline("losses").named_steps["features"].fit(None)
        self.blocks = blocks

    def __call__(self, trace: dict[str, np.ndarray]) -> list[float]:
        row = self.shipped.features(trace)
        if self.blocks:
            for c in LOSS_COLUMNS:
                for form in CANONICAL_FORMS:
                    row += canonical(np.asarray(trace[c], float), form).tolist()
        return row


def foreign_features(data: Path, features: Features) -> tuple[list[dict], np.ndarray]:
    """The labelled foreign runs and their feature rows, each read from its own log."""
    runs = [r for r in load_runs(data) if r["label"] in LABELS]
    with tempfile.TemporaryDirectory() as tmp:
        root = extract_logs(data, Path(tmp))
        x = np.array([features(read_logs(log_path(root, r["id"]), tags=r["tags"])[0].trace) for r in runs])
    return runs, x


def corpus_features(
    corpus: Path, features: Features, views: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The corpus's labelled runs at the shipped model's training prefixes, as logged, and with
    `views` also with the shipped training views of each prefix (the trace as logged first)."""
    examples, _ = labelled_examples(corpus)
    out: dict[str, list] = {"as logged": []} | ({"with views": []} if views else {})
    for e in usable(examples, "losses"):
        for p in TRAIN_PREFIXES:
            traces = (
                train_views(truncate(e.trace, p), "losses", f"{e.id}/{p}")
                if views
                else [truncate(e.trace, p)]
            )
            rows = [(features(t), e.label) for t in traces]
            out["as logged"].append(rows[0])  # train_views gives the trace as logged first
            if views:
                out["with views"] += rows
    return {k: (np.array([r for r, _ in v]), np.array([y for _, y in v])) for k, v in out.items()}


def k_fold(classifier, x: np.ndarray, y: np.ndarray, scripts: list[str], k: int, repeats: int) -> dict:
    """Repeated stratified k-fold over the foreign runs: the first shuffle's scores, and the
    macro-F1 of every shuffle, overall and per script."""
    runs = []
    for seed in range(repeats):
        pred = np.empty(len(y), dtype=object)
        for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
            pred[test] = clone(classifier).fit(x[train], y[train]).predict(x[test])
        assert all(p is not None for p in pred), "every run is scored once per shuffle"
        runs.append(by_script(list(y), list(pred), scripts))
    return runs[0] | {
        "training share": round(1 - 1 / k, 3),
        "macro_f1 over repeats": [r["all"]["macro_f1"] for r in runs],
        "per script over repeats": {s: [r[s]["macro_f1"] for r in runs] for s in sorted(set(scripts))},
    }


def script_out(classifier, x, y, scripts, extra: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Each script left out in turn, trained on the others' runs (and `extra` rows)."""
    pred = np.empty(len(y), dtype=object)
    for s in sorted(set(scripts)):
        test = np.array([q == s for q in scripts])
        tx, ty = x[~test], y[~test]
        if extra is not None:
            tx, ty = np.vstack([extra[0], tx]), np.concatenate([extra[1], ty])
        pred[test] = clone(classifier).fit(tx, ty).predict(x[test])
    return by_script(list(y), list(pred), scripts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("bench/foreign/data"))
    ap.add_argument("--corpus", type=Path, default=Path("corpus/v6"), help="for protocols 2 and 5")
    ap.add_argument("--no-corpus", action="store_true", help="skip protocols 2 and 5")
    ap.add_argument("--out", type=Path, default=Path("bench/results/diagnosis_foreign_ceiling"))
    ap.add_argument("--name", default="ceiling")
    ap.add_argument("--folds", type=int, nargs="+", default=[2, 3, 5, 10], metavar="K")
    ap.add_argument("--repeats", type=int, default=3, help="shuffles of each k-fold")
    ap.add_argument("--blocks", action="store_true", help="add the canonical blocks' raw values")
    ap.add_argument(
        "--views", action="store_true", help="also train on the corpus with the shipped views (slow)"
    )
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="classifier seeds of the corpus protocols"
    )
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    if not (args.data / "runs.jsonl.gz").is_file():
        ap.error(
            f"--data: {args.data} holds no runs.jsonl.gz (the foreign benchmark's folder is bench/foreign/data)"
        )
    if args.views and args.no_corpus:
        ap.error("--views trains on the corpus: drop --no-corpus")
    args.folds = sorted(set(args.folds))
    if bad := [k for k in args.folds if k < 2]:
        ap.error(f"--folds: k-fold needs k of at least 2, got {bad}")
    if not args.no_corpus and not args.corpus.is_dir():
        ap.error(f"--corpus: {args.corpus} is not a corpus folder (or pass --no-corpus)")
    start = time.perf_counter()
    features = Features(args.blocks)
    runs, x = foreign_features(args.data, features)
    y = np.array([r["label"] for r in runs])
    scripts = [r["script"] for r in runs]
    classifier = make_pipeline("losses").named_steps["classifier"]
    result: dict = {
        "runs": len(runs),
        "features": x.shape[1],
        "blocks": args.blocks,
        "machine": platform.node(),
        "date": date.today().isoformat(),
        "protocols": {},
    }
    if not args.blocks:  # the shipped model reads the shipped features only
        shipped = shipped_model("losses").named_steps["classifier"]
        result["protocols"]["shipped"] = by_script(list(y), list(shipped.predict(x)), scripts)
    corpus = None if args.no_corpus else corpus_features(args.corpus, features, args.views)
    for name, (cx, cy) in (corpus or {}).items():
        result[f"corpus rows, {name}"] = len(cy)
        seeds = []
        for seed in args.seeds:
            model = make_pipeline("losses", seed).named_steps["classifier"].fit(cx, cy)
            seeds.append(by_script(list(y), list(model.predict(x)), scripts))
        result["protocols"][f"corpus, {name}"] = seeds[0] | {
            "seeds": args.seeds,
            "macro_f1 over seeds": [r["all"]["macro_f1"] for r in seeds],
        }
    for k in args.folds:
        result["protocols"][f"foreign, {k}-fold"] = k_fold(classifier, x, y, scripts, k, args.repeats)
    result["protocols"]["foreign, script out"] = script_out(classifier, x, y, scripts)
    if corpus is not None:
        result["protocols"]["corpus + foreign, script out"] = script_out(
            classifier, x, y, scripts, corpus["as logged"]
        )
    result["seconds"] = round(time.perf_counter() - start)
    for name, res in result["protocols"].items():
        per = ", ".join(f"{s} {res[s]['macro_f1']:.3f}" for s in sorted(set(scripts)))
        spread = ""
        if f := res.get("macro_f1 over repeats"):
            spread = f" (mean {np.mean(f):.3f} over {len(f)} shuffles, {min(f):.3f}-{max(f):.3f})"
        elif len(f := res.get("macro_f1 over seeds", [])) > 1:
            spread = f" (mean {np.mean(f):.3f} over seeds {res['seeds']}: {', '.join(f'{v:.3f}' for v in f)})"
        print(
            f"{name}: macro-F1 {res['all']['macro_f1']:.3f}{spread} ({per}); confusion {res['all']['confusion']}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['seconds']} s; written to {args.out / (args.name + '.json')}")


if __name__ == "__main__":
    main()
