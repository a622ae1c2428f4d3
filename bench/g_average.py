"""G's weight average (`train.g_ema`) against G's last weights, on the same seeds in one cohort.

    python bench/g_average.py [--dataset ring8] [--steps 5000] [--decays 0,0.99,0.999] \
        [--seeds 100,101,102] [--set train.lr_d=1e-3 ...]

Every (decay, seed) pair is one member of one cohort; `train.g_ema` is a member key, and the
average never touches training, so the members of one seed train identically and differ only in
what is evaluated. Prints modes and HQ per evaluation and decay, then the last evaluation's mean
and minimum HQ over the seeds, and how far HQ swung between consecutive evaluations in the second
half of training (the figure the average should shrink). Results are recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ganstab.engine import CohortTrainer, apply_overrides, preset  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="ring8")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--decays", default="0,0.99,0.999")
    p.add_argument("--seeds", default="100,101,102")
    p.add_argument("--set", action="append", default=["train.lr_d=1e-3", "train.lr_g=1e-3", "model.hidden=128"],
                   metavar="KEY=VALUE", help="config overrides on the vanilla preset (default lr 1e-3, MLP 2x128)")  # fmt: skip
    args = p.parse_args()
    decays = [float(d) for d in args.decays.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    base = apply_overrides(
        preset("vanilla"),
        [f"data.name={args.dataset}", f"train.steps={args.steps}", f"train.eval_every={args.eval_every}",
         "train.device=cpu", *args.set],
    )  # fmt: skip
    members = [(d, s) for d in decays for s in seeds]
    configs = [apply_overrides(base, [f"train.g_ema={d}", f"train.seed={s}"]) for d, s in members]
    start = time.perf_counter()
    trainer = CohortTrainer(configs)
    trainer.train()
    seconds = time.perf_counter() - start
    print(f"{args.dataset}, {args.steps} steps, overrides {args.set}; {len(members)} members in "
          f"{seconds:.0f} s ({os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads)")  # fmt: skip
    steps = [e["step"] for e in trainer.eval_log[0]]
    print("step  " + "  ".join(f"g_ema={d:<6g} (modes/HQ per seed)" for d in decays))
    for j, step in enumerate(steps):
        cells = []
        for d in decays:
            evs = [trainer.eval_log[i][j] for i, (dd, _) in enumerate(members) if dd == d]
            cells.append(" ".join(f"{int(e['modes'])}/{e['hq']:4.1f}" for e in evs).ljust(33))
        print(f"{step:<5} " + "  ".join(cells))
    print("\ndecay   last HQ: mean  min  all modes on every seed   mean |HQ change| over the 2nd half")
    for d in decays:
        idx = [i for i, (dd, _) in enumerate(members) if dd == d]
        last = [trainer.eval_log[i][-1] for i in idx]
        half = [np.array([e["hq"] for e in trainer.eval_log[i] if e["step"] > args.steps / 2]) for i in idx]
        swing = np.mean([np.abs(np.diff(h)).mean() for h in half if len(h) > 1])
        every = all(int(e["modes"]) == trainer.evaluator.n_modes for e in last)
        print(f"{d:<7g} {np.mean([e['hq'] for e in last]):5.1f} {min(e['hq'] for e in last):5.1f}  "
              f"{str(every):<24} {swing:5.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
