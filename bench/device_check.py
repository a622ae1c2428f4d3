"""Engine correctness on a device: cohort members against solo runs, divergence isolation, bf16,
and digits metrics, on `--device` (cpu here; cuda in a session lent a GPU).

    python bench/device_check.py --device cuda

The CPU suite (tests/) checks the same properties on the CPU; this script is what a GPU session
runs once, since CI has no GPU. Exits non-zero on the first failed check.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset

MEMBERS = [
    ["train.seed=0", "train.loss=ns", "train.lr_d=4e-4", "train.lr_g=1e-4", "train.label_smoothing=0.9"],
    ["train.seed=1", "train.loss=hinge", "train.sn_d=true", "train.sn_g=true", "train.beta1=0.0"],
    ["train.seed=2", "train.loss=wgan-gp", "train.n_dis=3", "train.gp_weight=5"],
    ["train.seed=3", "train.loss=ls", "train.noise_std=0.3", "train.n_dis=2"],
]


def _check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
    if not ok:
        raise SystemExit(1)


def cohort_vs_solo(device: str, base: list[str], members: list[list[str]], tol: float) -> None:
    common = [f"train.device={device}", "train.steps=12", "train.log_every=1", "train.eval_every=0", *base]
    configs = [apply_overrides(preset("vanilla"), common + m) for m in members]
    cohort = CohortTrainer(configs)
    cohort.train()
    worst = 0.0
    for i, cfg in enumerate(configs):
        solo = CohortTrainer([cfg])
        solo.train()
        a, b = cohort.member_trace(i), solo.member_trace(0)
        rel = np.nanmax(np.abs(a - b) / (np.abs(b) + 1e-3))
        worst = max(worst, float(rel))
    _check(
        f"cohort members match solo runs ({base[0] if base else 'ring8'})",
        worst < tol,
        f"max rel diff {worst:.2e}",
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    dev = p.parse_args().device
    start = time.perf_counter()
    print(f"# device check on {dev}" + (f" ({torch.cuda.get_device_name()})" if dev == "cuda" else ""))
    cohort_vs_solo(dev, [], MEMBERS, tol=1e-2)
    conv = [
        "data.name=digits",
        "model.channels=8",
        "model.latent_dim=8",
        "train.batch_size=16",
        "model.msg=true",
    ]
    cohort_vs_solo(
        dev, conv, [["train.seed=0", "train.sn_d=true"], ["train.seed=5", "train.loss=wgan-gp"]], tol=1e-2
    )

    ok = apply_overrides(preset("vanilla"), [f"train.device={dev}", "train.steps=12", "train.loss=ls"])
    bad = apply_overrides(ok, ["train.seed=1", "train.lr_d=1e6", "train.lr_g=1e6"])
    summary = CohortTrainer([ok, bad]).train()
    _check(
        "a diverging member is frozen, the other finishes",
        [m["status"] for m in summary] == ["finished", "diverged"],
        str([m["status"] for m in summary]),
    )

    bf = apply_overrides(
        preset("lessons"),
        [
            f"train.device={dev}",
            "train.steps=50",
            "train.precision=bf16",
            "data.name=digits",
            "data.resolution=32",
            "model.channels=16",
        ],
    )
    summary = CohortTrainer([bf, apply_overrides(bf, ["train.seed=1"])]).train()
    _check(
        "bf16 conv cohort trains and evaluates on digits",
        all(m["status"] == "finished" and m["eval_fd"] > 0 for m in summary),
        str([(m["status"], round(m["eval_fd"], 1)) for m in summary]),
    )
    print(f"all checks passed in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
