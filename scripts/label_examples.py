"""Pick example runs of each label from a corpus and draw what justifies the label: the metric
curves behind the rules (coverage, quality, spread, movement per evaluation) and the samples at a
middle and the last evaluation. Writes docs/labels/*.png and prints a Markdown table for
docs/labels.md.

    python scripts/label_examples.py [--corpus corpus/v1] [--per-label 2]

Samples are not stored in the corpus, so each example is retrained alone from its config (same
seed); the label of the retrained run is printed next to the corpus label.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from ganstab.curves import LABEL_STYLE, save_curves
from ganstab.diagnose import corpus_files
from ganstab.diagnose.corpus_runs import DATASETS
from ganstab.diagnose.labels import _movement, _spread, label_run
from ganstab.engine import CohortTrainer, apply_overrides, preset

OUT = Path("docs/labels")


def curves(evals: list[dict], n_modes: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    steps = np.array([e["step"] for e in evals], float)
    near = [e.get("near") or [0] * n_modes for e in evals]
    move = [np.nan] + [_movement(a, b) for a, b in zip(near, near[1:])]
    return {
        "coverage": (steps, np.array([e["modes"] / n_modes for e in evals])),
        "quality (HQ)": (steps, np.array([e["hq"] / 100 for e in evals])),
        "spread": (steps, np.array([_spread(h) for h in near])),
        "movement": (steps, np.array(move)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("corpus/v1"))
    p.add_argument("--per-label", type=int, default=2)
    args = p.parse_args()
    runs = corpus_files.load(args.corpus)
    by_label: dict[str, list] = {}
    for run in runs:
        n_modes = next((len(e["near"]) for e in run.evals if e.get("near")), 0)
        label, sig = label_run(run.evals, run.diverged_at, n_modes)
        by_label.setdefault(label, []).append((run, sig, n_modes))
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    print("| label | run | data set | config | signals | curves | samples (middle, last) | retrained label |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for label in ("converging", "collapsing", "oscillating", "ambiguous", "diverged"):
        items = by_label.get(label, [])
        # prefer mixtures (their scatter shows modes at a glance), then any data set
        items = sorted(items, key=lambda it: (it[0].dataset == "digits", rng.random()))
        for run, sig, n_modes in items[: args.per_label]:
            base, steps, eval_every = DATASETS[run.dataset]
            # the run's own pace and length (a draw or --steps-scale may have set them): its first
            # evaluation, and its last, which the engine makes at the final step
            if run.evals:
                eval_every = run.evals[0]["step"]
                steps = steps if run.diverged_at is not None else run.evals[-1]["step"]
            cfg = apply_overrides(
                preset("vanilla"),
                [
                    *base,
                    f"train.steps={steps}",
                    f"train.eval_every={eval_every}",
                    "train.log_every=10",
                    *run.overrides,
                ],
            )
            run_dir = Path("/tmp/ganstab-label-examples") / run.id
            shutil.rmtree(run_dir, ignore_errors=True)
            trainer = CohortTrainer([cfg], run_dir)
            trainer.train()
            re_label, _ = label_run(
                trainer.eval_log[0], trainer.ended_at[0] if trainer.status[0] == "diverged" else None, n_modes
            )
            chart = OUT / f"{run.id}-curves.png"
            if run.evals:
                save_curves(chart, curves(run.evals, n_modes), title=f"{run.id}: {label}", style=LABEL_STYLE, y_range=(0, 1))
            samples = sorted((run_dir / "members" / "000" / "samples").glob("*.png"))
            shown = []
            for s in [samples[len(samples) // 2], samples[-1]] if samples else []:
                dst = OUT / f"{run.id}-{s.name}"
                shutil.copy(s, dst)
                shown.append(f"![]({dst.relative_to('docs')})")
            cfg_text = " ".join(
                o.replace("train.", "") for o in run.overrides if not o.startswith("train.seed")
            )
            sig_text = ", ".join(f"{k} {v:.2f}" for k, v in sig.items())
            curve_md = f"![]({chart.relative_to('docs')})" if run.evals else "-"
            print(
                f"| {label} | {run.id} | {run.dataset} | {cfg_text} | {sig_text} | {curve_md} | "
                f"{' '.join(shown)} | {re_label} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
