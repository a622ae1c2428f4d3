"""Issue 29, item 4: a search on a user's own points file, whose modes ganstab is not told.

For each layout: write the points as a .npy, run the README's search on it
(`ganstab search --space points --dataset points --set data.path=FILE --set train.steps=4000
--trials 8`; until the twentieth session `--space quick` at 2,000 steps, `--space quick --steps
2000` here), which ends with the recommendation on 3 new seeds and writes recommended-points.yaml),
then retrain the recommended YAML on 3 seeds new to both (100, 101, 102) and count the modes each
covers against the generating centres: by the mixtures' rule (a mode is covered when one sample
lies within 3 std of its centre; HQ = samples within 3 std of any centre) and by a stricter one
that a lone straggler does not pass (a mode is covered when it gets at least a tenth of the HQ
samples its weight would give it). Also a config that drops
modes (`--bad`'s values) is trained on the same seeds, to show what the points score (k-NN
coverage x precision) and the recommendation's seed check (mean - std of the score over seeds)
make of it next to the recommended one.

    nice -n 10 python bench/user_points.py --out /tmp/user-points      # both layouts
    nice -n 10 python bench/user_points.py --layouts hex6 --trials 8

Results are recorded in bench/RESULTS.md ("Issue 29: scores for the user's data").
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the `ganstab` command: busy CPUs

import argparse  # noqa: E402
import math  # noqa: E402
import subprocess
import sys
import time
from pathlib import Path

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ganstab.engine.config import apply_overrides, load_yaml, member_configs
from ganstab.engine.metrics import mixture_metrics
from ganstab.engine.trainer import CohortTrainer

STD = 0.05
N_POINTS = 20_000
# A configuration that drops modes on this data: vanilla NS, no weight average, G far faster than D.
BAD = ["train.g_ema=0.0", "train.lr_g=5e-3", "train.lr_d=2e-4"]


def hexagon() -> tuple[np.ndarray, np.ndarray]:
    """6 equal Gaussians on a hexagon of radius 2, written mode by mode (a file's first rows are
    all one mode, as many users' files are)."""
    angles = np.arange(6) * 2 * np.pi / 6
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres, np.ones(6) / 6


def unequal() -> tuple[np.ndarray, np.ndarray]:
    """5 Gaussians at no regular layout, weights 40/25/15/12/8 %."""
    centres = np.array([[-2.0, -1.0], [0.0, 2.0], [2.0, -1.0], [1.5, 0.8], [-0.5, -2.5]])
    return centres, np.array([0.40, 0.25, 0.15, 0.12, 0.08])


def grid9() -> tuple[np.ndarray, np.ndarray]:
    """9 Gaussians on a 3x3 grid of spacing 1.6, weights rising from 4.8 to 17.5 % (3:4:...:11): a
    third layout, added after the points space's beta1 was fixed from the first two's results."""
    xs = np.array([-1.6, 0.0, 1.6])
    centres = np.array([[x, y] for y in xs for x in xs])
    weights = np.arange(3, 12, dtype=float)
    return centres, weights / weights.sum()


LAYOUTS = {"hex6": hexagon, "unequal5": unequal, "grid9": grid9}


def write_points(path: Path, centres: np.ndarray, weights: np.ndarray, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    counts = np.round(weights * N_POINTS).astype(int)
    parts = [c + STD * rng.standard_normal((n, 2)) for c, n in zip(centres, counts)]
    np.save(path, np.concatenate(parts).astype(np.float32))


def ganstab(args: list[str], cwd: Path, log: Path) -> float:
    """Run `python -m ganstab.cli ARGS` (the `ganstab` command) in `cwd` (this checkout first on the path); its wall time."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    start = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run([sys.executable, "-m", "ganstab.cli", *args], cwd=cwd, env=env, stdout=out,
                            stderr=subprocess.STDOUT).returncode  # fmt: skip
    if rc != 0:
        raise SystemExit(f"ganstab {' '.join(args)} failed ({rc}); see {log}")
    return time.monotonic() - start


def true_modes(samples: torch.Tensor, centres: np.ndarray, weights: np.ndarray):
    """Per member: modes covered by the mixtures' rule, by the stricter one, and HQ %."""
    m = mixture_metrics(samples, torch.tensor(centres, dtype=torch.float32), STD)
    need = torch.tensor(0.1 * weights * samples.shape[1], dtype=torch.float32).clamp_min(1)
    strict = (m["counts"] >= need).sum(dim=1)
    return [int(v) for v in m["modes"]], [int(v) for v in strict], [float(v) for v in m["hq"]]


def train_on_seeds(cfg, seeds, run_dir: Path, centres: np.ndarray, weights: np.ndarray) -> list[dict]:
    """The config on `seeds` (one cohort); per seed its true modes and HQ and its ganstab metrics."""
    configs = []
    for s in seeds:
        c = member_configs(cfg, 1)[0]
        c.train.seed = s
        configs.append(c)
    trainer = CohortTrainer(configs, run_dir)
    summary = trainer.train()
    modes, strict, hq = true_modes(trainer.sample(2500), centres, weights)
    for m in summary:
        m["found"] = trainer.evaluator.n_modes
    return [
        {"seed": s, "modes": modes[i], "strict": strict[i], "hq": hq[i], "score": summary[i].get("eval_score"),
         "covered": summary[i].get("eval_modes"), "knn_hq": summary[i].get("eval_hq"),
         "coverage": summary[i].get("eval_coverage"), "swd": summary[i].get("eval_swd"),
         "status": summary[i]["status"], "found": summary[i]["found"]}
        for i, s in enumerate(seeds)
    ]  # fmt: skip


def robust(rows: list[dict]) -> float:
    """The recommendation's seed check: mean - sample std of the score."""
    v = [r["score"] for r in rows if r["score"] is not None and math.isfinite(r["score"])]
    return float(np.mean(v) - (np.std(v, ddof=1) if len(v) > 1 else 0.0)) if v else -math.inf


def show(label: str, rows: list[dict], n_modes: int, found: int) -> None:
    for r in rows:
        print(f"  {label:<12} seed {r['seed']}: true modes {r['modes']}/{n_modes} (strict {r['strict']})  true HQ {r['hq']:.1f} %  "
              f"| ganstab: score {r['score']:.3f} (modes {r['covered']:.0f}/{found} x HQ {r['knn_hq']:.1f} %)  "
              f"coverage {r['coverage']:.3f}  swd {r['swd']:.3f}  {r['status']}")  # fmt: skip
    print(f"  {label:<12} seed check (mean - std of the score): {robust(rows):.3f}")


def run_layout(
    name: str, out: Path, trials: int, steps: int, seeds: list[int], reuse: bool, space: str, search_seed: int = 0
) -> None:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    centres, weights = LAYOUTS[name]()
    data = folder / f"{name}.npy"
    if not (reuse and data.exists()):
        write_points(data, centres, weights)
    print(f"== {name}: {len(centres)} modes, weights {np.round(weights, 2).tolist()}, std {STD}, {data}")
    search = ["search", "--space", space, "--dataset", "points", "--set", f"data.path={data}",
              "--set", f"train.steps={steps}", "--trials", str(trials), "--executor", "local",
              "--storage", f"sqlite:///{folder / 'study.db'}", "--runs", str(folder / "runs"),
              "--seed", str(search_seed)]  # fmt: skip
    yaml_path = folder / "recommended-points.yaml"
    if reuse and yaml_path.exists():
        print(f"  reusing {yaml_path} (--reuse)")
    else:
        took = ganstab(search, folder, folder / "search.log")
        print(f"  search + recommend: {took:.0f} s (log {folder / 'search.log'})")
    print("  " + "\n  ".join(line for line in yaml_path.read_text().splitlines() if line.startswith("# score")))
    rec = load_yaml(yaml_path)
    tag = f"{seeds[0]}-{seeds[-1]}"
    good = train_on_seeds(rec, seeds, folder / f"retrain-recommended-{tag}", centres, weights)
    show("recommended", good, len(centres), good[0]["found"])
    bad = train_on_seeds(apply_overrides(rec, BAD), seeds, folder / f"retrain-bad-{tag}", centres, weights)
    show("bad config", bad, len(centres), good[0]["found"])
    every = good + bad
    full = [r["score"] for r in every if r["strict"] == len(centres)]
    dropped = [r["score"] for r in every if r["strict"] < len(centres)]
    print(f"  recommended seeds covering every mode: {sum(r['modes'] == len(centres) for r in good)}/{len(good)}, "
          f"strictly {sum(r['strict'] == len(centres) for r in good)}/{len(good)}")  # fmt: skip
    if full and dropped:
        print(f"  score: every mode strictly covered {min(full):.3f}..{max(full):.3f}, a mode dropped "
              f"{min(dropped):.3f}..{max(dropped):.3f}; separated: {max(dropped) < min(full)}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/user-points"))
    p.add_argument("--layouts", default="hex6,unequal5")
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--seeds", default="100,101,102", help="new seeds to retrain the recommendation on")
    p.add_argument("--space", default="points", help="the search space (the README's: points)")
    p.add_argument("--reuse", action="store_true", help="keep an earlier run's data and recommendation")
    p.add_argument("--search-seed", type=int, default=0, help="the search's sampler seed (`ganstab search --seed`)")
    a = p.parse_args()
    torch.set_num_threads(1)
    print(f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')} UTC")
    for name in a.layouts.split(","):
        run_layout(name, a.out, a.trials, a.steps, [int(x) for x in a.seeds.split(",")], a.reuse, a.space, a.search_seed)


if __name__ == "__main__":
    main()
