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

On a shared machine wall time moves with the load, so CPU time is reported beside it: the
process's CPU seconds (search - train, as above), and the *bookkeeping clock*: the main thread's
CPU seconds (`time.thread_time`) and wall seconds inside the search's bookkeeping functions (the
driver's round of asks, cohort numbering and unsettled check; a cohort's start, its evaluation
rounds' reports, pruning and settling, its refills), outermost calls only. That clock counts no
training step and no waiting (the engine's picture thread runs on its own thread), so it
measures the bookkeeping itself; its marginal cost per added trial is the figure the target is
checked against.

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
from ganstab.search import cohort_run, driver  # noqa: E402
from ganstab.search.driver import run_search  # noqa: E402
from ganstab.search.settings import SearchSettings  # noqa: E402
from ganstab.search.space import find_space, load_space  # noqa: E402


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# The search's bookkeeping: everything the driver and a cohort do that `ganstab train` does not.
_BOOKKEEPING = [
    (driver, "_ask_round"),
    (driver, "_fail_invalid"),
    (driver, "_number_cohorts"),
    (driver, "_fail_unsettled"),
    (cohort_run._CohortRun, "_start"),
    (cohort_run._CohortRun, "_report"),
    (cohort_run._CohortRun, "_settle"),
    (cohort_run._CohortRun, "_refill"),
]


class BookkeepingClock:
    """Main-thread CPU and wall seconds inside the bookkeeping functions (outermost calls only:
    `_settle` inside `_report` counts once), per function and in all, while installed."""

    def __init__(self, profile: cProfile.Profile | None = None) -> None:
        self.profile = profile  # enabled inside the bookkeeping functions only
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self._depth = 0
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> BookkeepingClock:
        for owner, name in _BOOKKEEPING:
            original = getattr(owner, name)
            self._saved.append((owner, name, original))
            setattr(owner, name, self._timed(name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _timed(self, name: str, fn):  # noqa: ANN001, ANN202
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            if self.profile is not None:
                self.profile.enable()
            c0, w0 = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.profile is not None:
                    self.profile.disable()
                self._depth -= 1
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - c0
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w0

        return timed


def measure(k: int, steps: int, evals: int, device: str, space_name: str, dataset: str, work: Path,
            profile: Path | None = None, seed: int = 0, log_every: int | None = None,
            profile_bookkeeping: bool = False, train: bool = True) -> dict:  # fmt: skip
    space = load_space(find_space(space_name))
    extra = [
        f"data.name={dataset}",
        f"train.steps={steps}",
        f"train.eval_every={steps // evals}",
        f"train.device={device}",
    ]
    if log_every is not None:  # >= 20 trace rows by the end: the search diagnoses each trial
        extra.append(f"train.log_every={log_every}")
    root = work / f"k{k}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    url = f"sqlite:///{root / 'study.db'}"

    settings = SearchSettings(
        storage=url, study_name="overhead", n_trials=k, runs_dir=root / "runs", sampler="random",
        cohort_size=k, seed=seed, extra_overrides=extra,
    )  # fmt: skip
    prof = cProfile.Profile() if profile else None
    whole = prof is not None and not profile_bookkeeping  # else only inside the bookkeeping functions
    t0, c0 = time.perf_counter(), time.process_time()
    if whole:
        prof.enable()
    with BookkeepingClock(None if whole else prof) as clock:
        study = run_search(space, settings)
    if whole:
        prof.disable()
    search_s, search_cpu = time.perf_counter() - t0, time.process_time() - c0
    trials = sorted(study.trials, key=lambda t: t.number)
    states: dict[str, int] = {}
    for t in trials:
        states[t.user_attrs.get("status", t.state.name)] = states.get(t.user_attrs.get("status", t.state.name), 0) + 1
    configs = [C.load_yaml(Path(t.user_attrs["run_dir"]) / "config.yaml") for t in trials]
    search_bytes = _folder_bytes(root / "runs")

    t0, c0 = time.perf_counter(), time.process_time()
    if train:
        CohortTrainer(configs, root / "train").train()
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    train_bytes = _folder_bytes(root / "train") if train else 0
    nan = float("nan")  # without the train run: no ratio, only the bookkeeping clock
    train_s, train_cpu = (train_s, train_cpu) if train else (nan, nan)
    out = {
        "k": k,
        "steps": steps,
        "evals": evals,
        "device": device,
        "log_every": log_every,
        "search_s": round(search_s, 2),
        "train_s": round(train_s, 2),
        "ratio": round(search_s / train_s, 3),
        "bookkeeping_ms_per_trial": round(1e3 * (search_s - train_s) / k, 2),
        # CPU seconds of this process: on a shared machine they move less with the load than
        # wall time does (with OMP_NUM_THREADS=1 they are the work itself)
        "search_cpu_s": round(search_cpu, 2),
        "train_cpu_s": round(train_cpu, 2),
        "bookkeeping_cpu_ms_per_trial": round(1e3 * (search_cpu - train_cpu) / k, 2),
        # the bookkeeping functions' own time (main thread; see BookkeepingClock)
        "clock_cpu_s": round(sum(clock.cpu.values()), 3),
        "clock_wall_s": round(sum(clock.wall.values()), 3),
        "clock_cpu_ms_per_trial": round(1e3 * sum(clock.cpu.values()) / k, 3),
        "clock_wall_ms_per_trial": round(1e3 * sum(clock.wall.values()) / k, 3),
        "clock_cpu_by_function_s": {n: round(v, 3) for n, v in sorted(clock.cpu.items(), key=lambda x: -x[1])},
        "clock_wall_by_function_s": {n: round(v, 3) for n, v in sorted(clock.wall.items(), key=lambda x: -x[1])},
        "profiled": prof is not None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "statuses": states,
        "diagnosed": sum("diagnosis" in t.user_attrs for t in trials),
        "search_folder_bytes_per_trial": search_bytes // k,
        "train_folder_bytes_per_member": train_bytes // k,
    }
    if prof:
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("cumulative").print_stats(150)
        stats.sort_stats("tottime").print_stats(30)
        profile.parent.mkdir(parents=True, exist_ok=True)
        profile.write_text(buf.getvalue())
        prof.dump_stats(profile.with_suffix(".prof"))  # for pstats: callers, callees
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
    ap.add_argument(
        "--log-every", type=int, help="trace rows every N steps (default: the config's, 10); with 40 steps, "
        "--log-every 1 gives the 20+ rows the diagnosis needs, so that its cost is measured too",
    )  # fmt: skip
    ap.add_argument("--repeats", type=int, default=1, help="measure each K this many times (median kept)")
    ap.add_argument("--profile", type=Path, help="cProfile of the largest K's search, written here")
    ap.add_argument(
        "--profile-bookkeeping", action="store_true",
        help="profile only inside the bookkeeping functions (no training steps; less of cProfile's overhead)",
    )  # fmt: skip
    ap.add_argument(
        "--no-train", action="store_true",
        help="skip the `ganstab train` run of each K (no ratio; the bookkeeping clock is measured without it)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)
    for k in args.k:
        if k < 1:
            ap.error(f"--k takes whole numbers >= 1, but got {k}")
    if args.log_every is not None and args.log_every < 1:
        ap.error(f"--log-every takes a whole number >= 1, but got {args.log_every}")
    if args.evals < 1 or args.steps < args.evals:
        ap.error(f"--evals must be in [1, --steps], but got {args.evals} with --steps {args.steps}")
    work = args.work or Path(tempfile.mkdtemp(prefix="ganstab-overhead-"))
    measure(2, 40, 2, args.device, args.space, args.dataset, work)  # warm-up: imports, kernels, model load
    results = []
    for k in args.k:
        runs = [
            measure(k, args.steps, args.evals, args.device, args.space, args.dataset, work,
                    args.profile if (k == max(args.k) and r == 0) else None, seed=r, log_every=args.log_every,
                    profile_bookkeeping=args.profile_bookkeeping, train=not args.no_train)
            for r in range(args.repeats)
        ]  # fmt: skip
        # the median run by its ratio; without train runs (no ratio), by the bookkeeping clock
        order = "clock_cpu_s" if args.no_train else "ratio"
        res = sorted(runs, key=lambda r: r[order])[len(runs) // 2]
        res["ratios"] = [r["ratio"] for r in runs]
        res["clock_cpu_s_all"] = [r["clock_cpu_s"] for r in runs]
        results.append(res)
        print(
            f"K={k:5d}  search {res['search_s']:8.2f} s  train {res['train_s']:8.2f} s  "
            f"ratio {res['ratio']:.2f}x  (all: {res['ratios']})  "
            f"bookkeeping {res['bookkeeping_ms_per_trial']:.1f} ms/trial "
            f"(CPU: search {res['search_cpu_s']:.1f} s, train {res['train_cpu_s']:.1f} s, "
            f"{res['bookkeeping_cpu_ms_per_trial']:.1f} ms/trial)  {res['statuses']}, {res['diagnosed']} diagnosed  "
            f"folder/trial {res['search_folder_bytes_per_trial'] / 1e3:.0f} kB\n"
            f"         bookkeeping clock{' (profiled)' if res['profiled'] else ''}: "
            f"{res['clock_cpu_ms_per_trial']:.2f} ms/trial CPU, {res['clock_wall_ms_per_trial']:.2f} ms/trial wall; "
            f"CPU s by function {res['clock_cpu_by_function_s']}  load {res['load_average']}"
            f"{'  (clock CPU s of each repeat: ' + str(res['clock_cpu_s_all']) + ')' if len(runs) > 1 else ''}",
            flush=True,
        )
    marginal = None
    if len(results) > 1:
        lo, hi = min(results, key=lambda r: r["k"]), max(results, key=lambda r: r["k"])
        extra = (hi["search_s"] - hi["train_s"]) - (lo["search_s"] - lo["train_s"])
        extra_cpu = (hi["search_cpu_s"] - hi["train_cpu_s"]) - (lo["search_cpu_s"] - lo["train_cpu_s"])
        dk = hi["k"] - lo["k"]
        marginal = {
            "from_k": lo["k"],
            "to_k": hi["k"],
            "ms_per_trial": round(1e3 * extra / dk, 2),
            "cpu_ms_per_trial": round(1e3 * extra_cpu / dk, 2),
            "clock_cpu_ms_per_trial": round(1e3 * (hi["clock_cpu_s"] - lo["clock_cpu_s"]) / dk, 3),
            "clock_wall_ms_per_trial": round(1e3 * (hi["clock_wall_s"] - lo["clock_wall_s"]) / dk, 3),
        }
        print(
            f"marginal bookkeeping K={lo['k']} -> {hi['k']}: {marginal['ms_per_trial']:.2f} ms per added trial "
            f"(process CPU time: {marginal['cpu_ms_per_trial']:.2f} ms; bookkeeping clock: "
            f"{marginal['clock_cpu_ms_per_trial']:.3f} ms CPU, {marginal['clock_wall_ms_per_trial']:.3f} ms wall)"
            + ("  [the largest K was profiled: its figures carry cProfile's overhead]" if hi["profiled"] else "")
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
