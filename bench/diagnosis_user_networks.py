"""The diagnosis on user networks the corpus never saw (issue 29 item 5): the shipped rich model's
label against the rules' label (docs/labels.md, ganstab/diagnose/labels.py) on short runs of
  - `dcgan`: the worked example's DCGAN with BatchNorm (examples/dcgan_digits) on 8x8 digits
    (data.factory, scored by the digits classifier: 10 modes);
  - `ln_mlp`: a user MLP with LayerNorm (defined here) on ring8 (8 modes).
Members are drawn by `--draw`, trained as cohorts of user networks; each member's trace is
diagnosed by the rich model. Runs the rules call ambiguous have no ground truth and are reported
but not scored.

Draws (the networks, batch size, steps and evaluations are the same in both; only member keys vary):
  - `plain` (the default): the corpus's own space (corpus_runs.sample_member: losses, learning
    rates from 3e-5 to 5e-3, beta1 up to 0.9, SN, n_dis, label smoothing, instance noise: some
    deliberately bad). It makes few runs that the rules call collapsing on these networks (2 of 110).
  - `collapse` (`sample_collapse_member`): drawn towards the two textbook ways a generator ends up
    still on a few modes, with the lessons that fight collapse off (no SN on G, no label
    smoothing, no instance noise, no G average; SN on D one time in five), losses ns, ls, minimax:
      * half the members "D nearly still": G learns 10-100x faster than D (lr_g 5e-4..5e-3),
        n_dis 1, beta1 0.5 or 0.9. Against a D that hardly changes, G's best reply is to put all
        its mass on the samples D likes best (Goodfellow 2016, NIPS tutorial 5.1.1; Metz et al.
        2017), and a slow D does not push it off them;
      * half "G hardly moves": D learns 10-50x faster than G (lr_g 2e-5..1e-4), n_dis 1-3, the
        saturating minimax loss one time in two. A winning D leaves a slow G little gradient
        (Goodfellow et al. 2014; Arjovsky and Bottou 2017), so in a short run G stays close to
        its starting blob: the collapse that the corpus's `wgan-small` draw and bench/foreign's
        `--draw collapse` (G's learning rate away from D's, the lessons off) were made for.
    Chosen from those recipes before any run of this draw; like the plain draw it is still random
    and labelled from samples only: a run lands in whatever class its samples say.
    What it made (bench/RESULTS.md, "A draw that makes collapses"): on the MLP the slow-G half
    collapses still and the still-D half hops; the DCGAN with BatchNorm never collapses still (its
    slow G sits spread over the digits at low quality, which the rules call converging).

    python bench/diagnosis_user_networks.py --cohorts 2 --members 8 --steps 600 [--out bench/results/diagnosis_user_networks.json]
    python bench/diagnosis_user_networks.py --draw collapse --arch ln_mlp --cohorts 3 --members 8 --steps 600 --seed 3 --out ...
    python bench/diagnosis_user_networks.py --pool bench/results/diagnosis_user_networks/*.json   # score result files together
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
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


DRAWS = ("plain", "collapse")  # --draw; the module's docstring says what each draws


def sample_collapse_member(rng: random.Random) -> list[str]:
    """One member of the `collapse` draw (the module's docstring says why): G 10-100x faster than a
    nearly still D, or D 10-50x faster than a slow G; the lessons against collapse off."""
    if rng.random() < 0.5:  # D nearly still: G settles on D's favourite samples
        lr_g = 10 ** rng.uniform(-3.3, -2.3)
        lr_d = lr_g / 10 ** rng.uniform(1, 2)
        loss = rng.choice(["ns", "ns", "ls", "minimax"])
        beta1, n_dis = rng.choice([0.5, 0.9]), 1
    else:  # G hardly moves: a winning D, a slow G near its starting blob
        lr_g = 10 ** rng.uniform(-4.7, -4)
        lr_d = lr_g * 10 ** rng.uniform(1, 1.7)
        loss = rng.choice(["minimax", "minimax", "ns", "ls"])
        beta1, n_dis = rng.choice([0.0, 0.5, 0.5]), rng.choice([1, 2, 3])
    return [
        f"train.loss={loss}",
        f"train.lr_d={lr_d:.3g}",
        f"train.lr_g={lr_g:.3g}",
        f"train.beta1={beta1}",
        "train.beta2=0.999",
        f"train.n_dis={n_dis}",
        f"train.sn_d={str(rng.random() < 0.2).lower()}",
        "train.sn_g=false",
        f"train.seed={rng.randrange(10**6)}",
    ]


def sampler(draw: str) -> Callable[[random.Random], list[str]]:
    """The member sampler of `--draw`."""
    if draw == "collapse":
        return sample_collapse_member
    if draw == "plain":
        from ganstab.diagnose.corpus_runs import sample_member

        return sample_member
    raise ValueError(f"`--draw` must be one of {', '.join(DRAWS)}, but got {draw!r}.")


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
        truth, sig = label_run(trainer.eval_log[i], diverged_at, n_modes)
        rows = trainer.member_trace(i)
        trace = {c: rows[:, j].astype(float) for j, c in enumerate(trainer.columns)}
        try:
            d = diagnose_trace(trace, model="rich")
        except ValueError:  # too short for the rich model's columns (e.g. diverged before its 3rd evaluation)
            d = None
        out.append({"arch": arch, "overrides": m, "truth": truth, "rich": d.label if d else None,
                    "uncertain": bool(getattr(d, "uncertain", False)) if d else None,
                    # the model's top probability, and the rules' late-window signals
                    "confidence": round(max(d.probabilities.values()), 3) if d and d.probabilities else None,
                    "signals": {k: round(float(v), 3) for k, v in sig.items()}})  # fmt: skip
    return out


def pool(files: list[Path]) -> dict:
    """Scores over the runs of several result files (a file without `draw` is of the plain draw):
    per architecture, per draw and all together, and every wrong answer."""
    from ganstab.diagnose.evaluation import scores

    runs = []
    for f in files:
        res = json.loads(f.read_text())
        runs += [{"draw": res.get("draw", "plain"), "file": f.name, **r} for r in res["details"]]
    scored = [r for r in runs if r["truth"] != "ambiguous" and r["rich"] is not None]

    out: dict = {"files": [f.name for f in files], "runs": len(runs), "scored": len(scored)}
    slices = {"all": lambda r: True}
    slices |= {f"arch={a}": (lambda r, a=a: r["arch"] == a) for a in sorted({r["arch"] for r in runs})}
    slices |= {f"draw={d}": (lambda r, d=d: r["draw"] == d) for d in sorted({r["draw"] for r in runs})}
    slices |= {
        f"draw={d},arch={a}": (lambda r, d=d, a=a: r["draw"] == d and r["arch"] == a)
        for d in sorted({r["draw"] for r in runs})
        for a in sorted({r["arch"] for r in runs})
    }
    for name, keep in slices.items():
        sc = [r for r in scored if keep(r)]
        out[name] = {
            "runs": sum(1 for r in runs if keep(r)),
            "truth": dict(Counter(r["truth"] for r in runs if keep(r))),
            "scored": len(sc),
            "right": sum(r["truth"] == r["rich"] for r in sc),
            "scores": scores([r["truth"] for r in sc], [r["rich"] for r in sc]) if sc else None,
        }
    out["wrong"] = [
        {
            k: r.get(k)
            for k in (
                "file",
                "draw",
                "arch",
                "overrides",
                "truth",
                "rich",
                "confidence",
                "uncertain",
                "signals",
            )
        }
        for r in scored
        if r["truth"] != r["rich"]
    ]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohorts", type=int, default=2, help="cohorts per architecture")
    p.add_argument("--members", type=int, default=8, help="members per cohort")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--n-eval", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draw", choices=DRAWS, default="plain",
                   help="plain: the corpus's member space; collapse: drawn towards still collapse (see above)")  # fmt: skip
    p.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "diagnosis_user_networks.json")
    p.add_argument(
        "--pool",
        type=Path,
        nargs="+",
        metavar="RESULT",
        help="train nothing: score these result files together",
    )
    args = p.parse_args()
    if args.pool:
        from ganstab.diagnose.evaluation import format_scores

        res = pool(args.pool)
        for name, v in res.items():
            if isinstance(v, dict) and v.get("scores"):
                print(f"{name}: {v['runs']} runs {v['truth']}, {v['right']} of {v['scored']} right")
                print(format_scores(name, v["scores"]))
        for w in res["wrong"]:
            print("wrong:", json.dumps(w, default=float))
        if args.out != p.get_default("out"):
            args.out.write_text(json.dumps(res, indent=1, default=float))
        return
    sys.path[:0] = [str(EXAMPLE), str(Path(__file__).resolve().parent)]  # the user's modules
    from ganstab.diagnose.evaluation import scores

    sample = sampler(args.draw)

    rng = random.Random(args.seed)
    runs, t0 = [], time.time()
    for arch in args.arch:
        for c in range(args.cohorts):
            runs += run_cohort(arch, [sample(rng) for _ in range(args.members)], args.steps, args.n_eval)
            print(
                f"{arch} cohort {c}: {Counter((r['truth'], r['rich']) for r in runs if r['arch'] == arch)}",
                flush=True,
            )
    scored = [r for r in runs if r["truth"] != "ambiguous" and r["rich"] is not None]
    res = {"draw": args.draw, "steps": args.steps, "seed": args.seed,
           "runs": len(runs), "scored": len(scored), "wall_s": round(time.time() - t0, 1),
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
