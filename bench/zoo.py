"""The zoo, checked: every configuration ganstab ships (ganstab/zoo/*.yaml) retrained on 3 seeds
that neither its search nor its recommendation used, its row printed beside the published ones.

    python bench/zoo.py [--names ring8,grid25] [--seeds 3100,3101,3102] [--steps N] [--json FILE] [--runs DIR]

Each entry trains its seeds as one cohort (one batched network) for the entry's own `train.steps`
(`--steps` shortens it, for a smoke run only: the figures then say nothing about the entry). The
row gives the modes covered per seed, the mean HQ % and the mean reverse KL after the last step,
and whether it beats PacGAN4 on that data set (every mode on every seed, mean HQ above PacGAN4's,
mean reverse KL at or below). Digits report classes covered, HQ % and the offline Frechet distance,
beside the best runs of the diagnosis corpus (corpus/v6: 160 digits runs of the corpus's member
space, 1,000-2,000 steps): nothing is published for scikit-learn's 8x8 digits. Results go to bench/RESULTS.md ("Issue 31: the zoo") and the table to the README.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from ganstab.engine import CohortTrainer, apply_overrides
from ganstab.engine.config import member_configs, resolve
from ganstab.zoo import zoo_config, zoo_names

SEEDS = (3100, 3101, 3102)  # new to every search and recommendation recorded for the zoo
# Published rows (docs/benchmarks.md): modes, HQ %, reverse KL ("-": not published).
PUBLISHED = {
    "ring8": [("PacGAN4", "7.8", "95.9", "0.07"), ("GAN (PacGAN's setup)", "6.3", "98.2", "0.45"),
              ("VEEGAN", "8", "52.9", "-")],
    "grid25": [("PacGAN4", "24.8", "93.6", "0.04"), ("GAN (PacGAN's setup)", "17.3", "94.8", "0.70"),
               ("VEEGAN", "24.6", "40.0", "-")],
}  # fmt: skip
BAR = {name: (float(rows[0][2]), float(rows[0][3])) for name, rows in PUBLISHED.items()}  # PacGAN4's HQ, KL


def check(name: str, seeds: list[int], steps: int | None, runs: Path | None = None) -> dict:
    """Train entry `name` on `seeds` as one cohort (in `runs`/NAME when given, resumable with
    `ganstab train --resume`); its figures per seed."""
    cfg = zoo_config(name)
    extra = [f"train.seed={seeds[0]}", *([f"train.steps={steps}", "train.eval_every=0"] if steps else [])]
    cfg = apply_overrides(cfg, extra)
    members = [
        apply_overrides(c, [f"train.seed={s}"]) for c, s in zip(member_configs(cfg, len(seeds)), seeds)
    ]
    start = time.perf_counter()
    summary = CohortTrainer(members, runs / name if runs is not None else None).train()
    wall = time.perf_counter() - start
    resolved = resolve(cfg)
    row = {
        "name": name,
        "data": resolved.data.name,
        "seeds": seeds,
        "steps": resolved.train.steps,
        "wall_s": round(wall, 1),
        "status": [m["status"] for m in summary],
    }
    for key in ("modes", "hq", "kl", "fd"):
        values = [m.get(f"eval_{key}") for m in summary]
        if all(v is not None for v in values):
            row[key] = [float(v) for v in values]
    n_modes = {"ring8": 8, "grid25": 25}.get(resolved.data.name, 10)
    if "hq" in row and "kl" in row and resolved.data.name in BAR:
        hq_bar, kl_bar = BAR[resolved.data.name]
        row["beats_pacgan4"] = (
            all(m == n_modes for m in row["modes"])
            and statistics.fmean(row["hq"]) > hq_bar
            and statistics.fmean(row["kl"]) <= kl_bar
        )
    return row


def corpus_best(data: str) -> list[tuple[str, str, str, str]]:
    """The diagnosis corpus's best runs on `data` that cover every class at their last evaluation:
    the one of highest HQ and the one of lowest Frechet distance, as rows (method, modes, HQ, KL and
    Frechet); none where the corpus has no such run."""
    from ganstab.diagnose.corpus_files import SHIPPED_CORPUS, load

    if not SHIPPED_CORPUS.exists():
        return []
    full = [r.evals[-1] for r in load(SHIPPED_CORPUS) if r.dataset == data and r.evals]
    full = [e for e in full if e.get("modes") == 10 and e.get("hq") is not None and e.get("fd") is not None]
    if not full:
        return []
    picks = {"highest HQ": max(full, key=lambda e: e["hq"]), "lowest Frechet": min(full, key=lambda e: e["fd"])}
    return [
        (f"corpus v6 run of {what} ({e['step']} steps)", "10", f"{e['hq']:.1f}", f"{e['kl']:.3f}; Frechet {e['fd']:.2f}")
        for what, e in picks.items()
    ]


def table(rows: list[dict]) -> str:
    lines = [
        "| data set | method | modes covered (per seed) | mean HQ % | mean reverse KL | beats PacGAN4 | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        modes = " / ".join(f"{m:.0f}" for m in r.get("modes", []))
        hq = (
            f"{statistics.fmean(r['hq']):.1f} ({' / '.join(f'{h:.1f}' for h in r['hq'])})"
            if "hq" in r
            else "-"
        )
        kl = f"{statistics.fmean(r['kl']):.3f}" if "kl" in r else "-"
        if "fd" in r:
            kl += f"; Frechet {statistics.fmean(r['fd']):.2f}"
        beats = {True: "yes", False: "no"}.get(r.get("beats_pacgan4"), "-")
        lines.append(f"| {r['data']} | ganstab zoo:{r['name']} | {modes} | {hq} | {kl} | {beats} | "
                     f"seeds {', '.join(map(str, r['seeds']))}, {r['steps']} steps, {r['wall_s']:.0f} s |")  # fmt: skip
        for method, m, h, k in PUBLISHED.get(r["data"], []):
            lines.append(f"| {r['data']} | {method} | {m} | {h} | {k} | | docs/benchmarks.md |")
        if r["data"] not in PUBLISHED:
            for method, m, h, k in corpus_best(r["data"]):
                lines.append(f"| {r['data']} | {method} | {m} | {h} | {k} | | corpus/v6 |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", default=",".join(zoo_names()), help="entries to check (default: all)")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="the new seeds (default 3100-3102)")
    ap.add_argument("--steps", type=int, default=None, help="shorten training (smoke runs only)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    ap.add_argument("--runs", type=Path, default=None,
                    help="keep each entry's run folder here (RUNS/NAME; `ganstab train --resume` trains it on)")  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for name in args.names.split(","):
        rows.append(check(name, seeds, args.steps, args.runs))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
