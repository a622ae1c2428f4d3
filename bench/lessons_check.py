"""The lessons, checked: 5 seeds each of `vanilla` and `lessons` on ring8 and grid25 (one cohort
per preset and data set), reporting modes covered, HQ % and reverse KL as mean and spread after
training, next to the published rows of docs/benchmarks.md.

    python bench/lessons_check.py [--steps 10000] [--seeds 5] [--extra]

`--extra` adds the variants that explain the result (see bench/RESULTS.md). Results are recorded
in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.config import member_configs

PUBLISHED = [  # method, ring8 modes, ring8 HQ, grid25 modes, grid25 HQ, source (docs/benchmarks.md)
    ("GAN", "1", "99.3", "3.3", "0.5", "VEEGAN Table 1"),
    ("Unrolled GAN", "7.6", "35.6", "23.6", "16.0", "VEEGAN Table 1"),
    ("VEEGAN", "8", "52.9", "24.6", "40.0", "VEEGAN Table 1"),
    ("WGAN-GP", "6.8", "59.6", "24.2", "28.7", "GDPP Table 1"),
    ("GDPP", "8.0", "71.7", "24.8", "68.5", "GDPP Table 1"),
    ("GAN (other setup)", "6.3", "98.2", "17.3", "94.8", "PacGAN Table 1"),
    ("PacGAN4", "7.8", "95.9", "24.8", "93.6", "PacGAN Table 1"),
]

VARIANTS = {
    "vanilla": ("vanilla", []),
    "lessons": ("lessons", []),
}
EXTRA = {  # what the lessons default does without SN on G, and vanilla at a larger step size
    "lessons, SN on D only": ("lessons", ["train.sn_g=false"]),
    "vanilla, lr 1e-3": ("vanilla", ["train.lr_d=1e-3", "train.lr_g=1e-3"]),
}


def _stat(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def run(name: str, overrides: list[str], data: str, steps: int, seeds: int) -> tuple[dict, float]:
    cfg = apply_overrides(
        preset(name), [f"data.name={data}", f"train.steps={steps}", "train.eval_every=0", *overrides]
    )
    start = time.perf_counter()
    summary = CohortTrainer(member_configs(cfg, seeds)).train()
    elapsed = time.perf_counter() - start
    cols = {k: [m[f"eval_{k}"] for m in summary] for k in ("modes", "hq", "kl")}
    cols["diverged"] = [float(m["status"] == "diverged") for m in summary]
    return cols, elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--extra", action="store_true", help="also run the explanatory variants")
    args = p.parse_args()
    variants = {**VARIANTS, **(EXTRA if args.extra else {})}
    print(
        f"# lessons check, {time.strftime('%Y-%m-%d')}, {args.seeds} seeds, {args.steps} steps, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, 2,500 samples per evaluation"
    )
    print(
        "| method | ring8 modes | ring8 HQ % | ring8 KL | grid25 modes | grid25 HQ % | grid25 KL | source |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, (name, overrides) in variants.items():
        cells, times = [], []
        for data in ("ring8", "grid25"):
            cols, elapsed = run(name, overrides, data, args.steps, args.seeds)
            times.append(f"{elapsed:.0f} s")
            cells += [_stat(cols["modes"], 1), _stat(cols["hq"], 1), _stat(cols["kl"], 3)]
            if any(cols["diverged"]):
                cells[-1] += f" ({int(sum(cols['diverged']))} diverged)"
        print(
            f"| ganstab `{label}` | " + " | ".join(cells) + f" | this run ({', '.join(times)}) |", flush=True
        )
    for method, r_modes, r_hq, g_modes, g_hq, source in PUBLISHED:
        print(f"| {method} | {r_modes} | {r_hq} | - | {g_modes} | {g_hq} | - | {source} |")
    print("| GAN / PacGAN4 reverse KL |  |  | 0.45 / 0.07 |  |  | 0.70 / 0.04 | PacGAN Table 1 |")


if __name__ == "__main__":
    main()
