"""The diagnosis on user networks the corpus never saw (issue 29 item 5): the shipped rich model's
label against the rules' label (docs/labels.md, ganstab/diagnose/labels.py) on short runs of
  - `dcgan`: the worked example's DCGAN with BatchNorm (examples/dcgan_digits) on 8x8 digits
    (data.factory, scored by the digits classifier: 10 modes);
  - `ln_mlp`: a user MLP with LayerNorm (defined here) on ring8 (8 modes).
Members are drawn from the corpus's own space (corpus_runs.sample_member: losses, learning rates
from 3e-5 to 5e-3, beta1 up to 0.9, SN, n_dis, label smoothing, instance noise: some deliberately
bad), trained as cohorts of user networks; each member's trace is diagnosed by the rich model.
Runs the rules call ambiguous have no ground truth and are reported but not scored.

    python bench/diagnosis_user_networks.py --cohorts 2 --members 8 --steps 600 [--out bench/results/diagnosis_user_networks.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dcgan_digits"


class LayerNormGenerator(nn.Module):
    """A user's MLP generator with LayerNorm (ganstab's own MLPs have no normalization)."""

    def __init__(self, latent: int = 16, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent, hidden), nn.LayerNorm(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(),
            nn.Linear(hidden, 2),
        )  # fmt: skip

    def forward(self, z):
        return self.net(z)


class LayerNormDiscriminator(nn.Module):
    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def forward(self, x):
        return self.net(x)


ARCHITECTURES = {
    "dcgan": (10, [
        "model.generator=dcgan:Generator", "model.generator_kwargs={nz: 32, ngf: 32}",
        "model.discriminator=dcgan:Discriminator", "model.latent_dim=32",
        "data.name=factory", "data.factory=digits_data:digits", "data.factory_metric=digits",
    ]),
    "ln_mlp": (8, [
        "model.generator=diagnosis_user_networks:LayerNormGenerator",
        "model.discriminator=diagnosis_user_networks:LayerNormDiscriminator",
        "model.latent_dim=16", "data.name=ring8", "train.batch_size=256",
    ]),
}  # fmt: skip


def run_cohort(arch: str, members: list[list[str]], steps: int, n_eval: int) -> list[dict]:
    from ganstab.diagnose.classifier import diagnose_trace
    from ganstab.diagnose.labels import label_run
    from ganstab.engine import CohortTrainer, apply_overrides, preset

    n_modes, common = ARCHITECTURES[arch]
    common = [
        *common,
        f"train.steps={steps}",
        "train.eval_every=50",
        f"data.n_eval={n_eval}",
        "train.device=cpu",
    ]
    trainer = CohortTrainer([apply_overrides(preset("vanilla"), [*common, *m]) for m in members])
    trainer.train()
    out = []
    for i, m in enumerate(members):
        diverged_at = trainer.ended_at[i] if trainer.status[i] == "diverged" else None
        truth, _ = label_run(trainer.eval_log[i], diverged_at, n_modes)
        rows = trainer.member_trace(i)
        trace = {c: rows[:, j].astype(float) for j, c in enumerate(trainer.columns)}
        try:
            d = diagnose_trace(trace, model="rich")
        except ValueError:  # too short for the rich model's columns (e.g. diverged before its 3rd evaluation)
            d = None
        out.append({"arch": arch, "overrides": m, "truth": truth, "rich": d.label if d else None,
                    "uncertain": bool(getattr(d, "uncertain", False)) if d else None})  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohorts", type=int, default=2, help="cohorts per architecture")
    p.add_argument("--members", type=int, default=8, help="members per cohort")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--n-eval", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "diagnosis_user_networks.json")
    args = p.parse_args()
    sys.path[:0] = [str(EXAMPLE), str(Path(__file__).resolve().parent)]  # the user's modules
    from ganstab.diagnose.corpus_runs import sample_member
    from ganstab.diagnose.evaluation import scores

    rng = random.Random(args.seed)
    runs, t0 = [], time.time()
    for arch in args.arch:
        for c in range(args.cohorts):
            runs += run_cohort(
                arch, [sample_member(rng) for _ in range(args.members)], args.steps, args.n_eval
            )
            print(
                f"{arch} cohort {c}: {Counter((r['truth'], r['rich']) for r in runs if r['arch'] == arch)}",
                flush=True,
            )
    scored = [r for r in runs if r["truth"] != "ambiguous" and r["rich"] is not None]
    res = {"runs": len(runs), "scored": len(scored), "wall_s": round(time.time() - t0, 1),
           "truth": dict(Counter(r["truth"] for r in runs)),
           "all": scores([r["truth"] for r in scored], [r["rich"] for r in scored]) if scored else None,
           "per_arch": {a: scores([r["truth"] for r in scored if r["arch"] == a], [r["rich"] for r in scored if r["arch"] == a])
                        for a in args.arch if any(r["arch"] == a for r in scored)},
           "details": runs}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, default=float))
    print(json.dumps({k: v for k, v in res.items() if k != "details"}, indent=1, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
