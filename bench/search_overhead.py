"""Search overhead: the wall time of one cohort as a search over the same cohort as `ganstab train`.

For each K: a search of K trials in one cohort (`--executor local`, one cohort of K, default
pruning and diagnosis, a fresh SQLite file), then the same K sampled configs trained by the
engine alone as `ganstab train` does (`CohortTrainer(configs, run_dir).train()`, run folder
included). Both in this process, after a warm-up, so imports and CUDA start-up count for neither.
The ratio is what the search's bookkeeping (reports, pruning, diagnosis, storage writes, images)
costs on top of the engine it drives. Targets (issue "search at scale"): <= 1.15x on the CPU at
K=16, <= 1.3x on a GPU at K=1,024.

Bookkeeping per trial is (search - train) / K. With two or more K, the marginal cost of one more
trial between the smallest and the largest K, ((search - train) at K2 - (search - train) at K1) /
(K2 - K1), leaves out the fixed costs (imports are warm; the study's creation, the classifier's
first load): issue 27's target is <= 3 ms per trial on the CPU, and no growth with K.

    python bench/search_overhead.py --k 4 16 64 --steps 600 --evals 4
    python bench/search_overhead.py --k 256 1024 --steps 40 --evals 2 --profile prof-1024.txt
    python bench/search_overhead.py --k 256 1024 --device cuda --profile prof-1024.txt

Prints one line per K and writes JSON (--json). Run folder sizes are reported per trial.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from ganstab.engine import config as C  # noqa: E402
from ganstab.engine.trainer import CohortTrainer  # noqa: E402
from ganstab.search.driver import run_search  # noqa: E402
from ganstab.search.settings import SearchSettings  # noqa: E402
from ganstab.search.space import find_space, load_space  # noqa: E402


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(k: int, steps: int, evals: int, device: str, space_name: str, dataset: str, work: Path,
            profile: Path | None = None, seed: int = 0) -> dict:  # fmt: skip
    space = load_space(find_space(space_name))
    extra = [
        f"data.name={dataset}",
        f"train.steps={steps}",
        f"train.eval_every={steps // evals}",
        f"train.device={device}",
    ]
    root = work / f"k{k}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    url = f"sqlite:///{root / 'study.db'}"

    settings = SearchSettings(
        storage=url, study_name="overhead", n_trials=k, runs_dir=root / "runs", sampler="random",
        cohort_size=k, seed=seed, extra_overrides=extra,
    )  # fmt: skip
    prof = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    study = run_search(space, settings)
    if prof:
        prof.disable()
    search_s, search_cpu = time.perf_counter() - t0, time.process_time() - c0
    trials = sorted(study.trials, key=lambda t: t.number)
    states: dict[str, int] = {}
    for t in trials:
        states[t.user_attrs.get("status", t.state.name)] = states.get(t.user_attrs.get("status", t.state.name), 0) + 1
    configs = [C.load_yaml(Path(t.user_attrs["run_dir"]) / "config.yaml") for t in trials]
    search_bytes = _folder_bytes(root / "runs")

    t0, c0 = time.perf_counter(), time.process_time()
    CohortTrainer(configs, root / "train").train()
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    train_bytes = _folder_bytes(root / "train")
    out = {
        "k": k,
        "steps": steps,
        "evals": evals,
        "device": device,
        "search_s": round(search_s, 2),
        "train_s": round(train_s, 2),
        "ratio": round(search_s / train_s, 3),
        "bookkeeping_ms_per_trial": round(1e3 * (search_s - train_s) / k, 2),
        # CPU seconds of this process: on a shared machine they move less with the load than
        # wall time does (with OMP_NUM_THREADS=1 they are the work itself)
        "search_cpu_s": round(search_cpu, 2),
        "train_cpu_s": round(train_cpu, 2),
        "bookkeeping_cpu_ms_per_trial": round(1e3 * (search_cpu - train_cpu) / k, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "statuses": states,
        "search_folder_bytes_per_trial": search_bytes // k,
        "train_folder_bytes_per_member": train_bytes // k,
    }
    if prof:
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("cumulative").print_stats(150)
        stats.sort_stats("tottime").print_stats(30)
        profile.write_text(buf.getvalue())
    shutil.rmtree(root, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, nargs="+", default=[4, 16, 64])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--evals", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--space", default="quick")
    ap.add_argument("--dataset", default="ring8")
    ap.add_argument("--repeats", type=int, default=1, help="measure each K this many times (median kept)")
    ap.add_argument("--profile", type=Path, help="cProfile of the largest K's search, written here")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)
    for k in args.k:
        if k < 1:
            ap.error(f"--k takes whole numbers >= 1, but got {k}")
    if args.evals < 1 or args.steps < args.evals:
        ap.error(f"--evals must be in [1, --steps], but got {args.evals} with --steps {args.steps}")
    work = args.work or Path(tempfile.mkdtemp(prefix="ganstab-overhead-"))
    measure(2, 40, 2, args.device, args.space, args.dataset, work)  # warm-up: imports, kernels, model load
    results = []
    for k in args.k:
        runs = [
            measure(k, args.steps, args.evals, args.device, args.space, args.dataset, work,
                    args.profile if (k == max(args.k) and r == 0) else None, seed=r)
            for r in range(args.repeats)
        ]  # fmt: skip
        res = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
        res["ratios"] = [r["ratio"] for r in runs]
        results.append(res)
        print(
            f"K={k:5d}  search {res['search_s']:8.2f} s  train {res['train_s']:8.2f} s  "
            f"ratio {res['ratio']:.2f}x  (all: {res['ratios']})  "
            f"bookkeeping {res['bookkeeping_ms_per_trial']:.1f} ms/trial "
            f"(CPU: search {res['search_cpu_s']:.1f} s, train {res['train_cpu_s']:.1f} s, "
            f"{res['bookkeeping_cpu_ms_per_trial']:.1f} ms/trial)  {res['statuses']}  "
            f"folder/trial {res['search_folder_bytes_per_trial'] / 1e3:.0f} kB",
            flush=True,
        )
    marginal = None
    if len(results) > 1:
        lo, hi = min(results, key=lambda r: r["k"]), max(results, key=lambda r: r["k"])
        extra = (hi["search_s"] - hi["train_s"]) - (lo["search_s"] - lo["train_s"])
        extra_cpu = (hi["search_cpu_s"] - hi["train_cpu_s"]) - (lo["search_cpu_s"] - lo["train_cpu_s"])
        marginal = {
            "from_k": lo["k"],
            "to_k": hi["k"],
            "ms_per_trial": round(1e3 * extra / (hi["k"] - lo["k"]), 2),
            "cpu_ms_per_trial": round(1e3 * extra_cpu / (hi["k"] - lo["k"]), 2),
        }
        print(
            f"marginal bookkeeping K={lo['k']} -> {hi['k']}: {marginal['ms_per_trial']:.2f} ms per added trial "
            f"(CPU time: {marginal['cpu_ms_per_trial']:.2f} ms)"
        )
    print(f"load average at the end: {os.getloadavg()}")
    machine = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "results": results, "marginal": marginal}, indent=2))
    shutil.rmtree(work, ignore_errors=True) if args.work is None else None
    return 0


if __name__ == "__main__":
    sys.exit(main())
