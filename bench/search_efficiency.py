"""Search efficiency: member-steps spent until a search finds a configuration that covers every
mode with HQ >= 90 % on 3 seeds, for ganstab's search (TPE, pruning, cohorts) against random
search without pruning and a grid over the two learning rates.

    python bench/search_efficiency.py run --method ganstab --dataset ring8 --rep 0 --out DIR
    python bench/search_efficiency.py run --method random  --dataset ring8 --pool 96 --out DIR
    python bench/search_efficiency.py run --method grid    --dataset ring8 --out DIR
    python bench/search_efficiency.py report DIR
    python bench/search_efficiency.py rebar DIR LOWER --hq 75   # the same runs at a lower bar

All three run through `ganstab.search.run_search` (the local executor, an SQLite file in DIR) over
one space, bench/spaces/efficiency.yaml, with `data.name` and `train.steps` set per data set.

- ganstab: TPE, the median quality pruner and the diagnosis pruner, cohorts of `--cohort-size`
  trials, trial values by `--objective` (as `ganstab search --objective`). It runs round after
  round (one cohort each) until a candidate passes verification or `--max-trials` is reached. A round costs what its members trained (a pruned member counts up
  to the step it was pruned at), and the verification of its candidates.
- random / grid: non-adaptive, so one pool of trials tells how a sequential search goes in any
  order: `run` trains the pool (random: `--pool` random trials, no pruning; grid: 7 x 7
  log-spaced learning rates at the vanilla defaults, no pruning) and verifies every candidate in
  it; `report` then walks 10,000 random orders of the pool in rounds of the same cohort size,
  counting member-steps and verifications the same way, until the first verified candidate. An
  order that meets none is censored at the pool's whole cost. Pools of one method and data set
  from several `--rep` seeds are merged into one (a grid's rep N trains its 49 points from
  `train.seed=N`: the points are fixed, so seed noise is what another grid rep samples).

A candidate is a COMPLETE trial whose last evaluation covers every mode with HQ >= 90 % (`--hq`).
Verification retrains its configuration on seeds 1000-1002 for the same steps (3 x steps
member-steps, counted); it passes if all three cover every mode with HQ >= 90 %.

Member-steps count what members trained. The engine keeps a pruned member's slot in its cohort's
batched network until the cohort ends, so `report` also shows the slot-steps this engine computed
(members x the cohort's last step): pruning saves slot-steps only where a whole cohort stops early.
`report` ends with how sure the figures are: each method's per-trial rate of verified finds with
its exact 95 % interval, and the member-steps a sequential search expects at that rate (geometric:
1/rate trials). One find in a pool leaves that interval wide.

Results are recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import optuna  # noqa: E402
import torch  # noqa: E402

from ganstab.engine import CohortTrainer, apply_overrides  # noqa: E402
from ganstab.search.driver import run_search  # noqa: E402
from ganstab.search.factories import SCHEDULERS  # noqa: E402
from ganstab.search.settings import OBJECTIVES, POOL_FACTOR, SearchSettings  # noqa: E402
from ganstab.search.space import load_space  # noqa: E402

SPACE = Path(__file__).with_name("spaces") / "efficiency.yaml"
MODES = {"ring8": 8, "grid25": 25}
HQ_MIN = 90.0
VERIFY_SEEDS = (1000, 1001, 1002)
GRID = [10 ** (-5 + 0.5 * i) for i in range(7)]  # 1e-5 .. 1e-2, half a decade apart


def passes(metrics: dict, dataset: str, hq_min: float = HQ_MIN) -> bool:
    modes, hq = metrics.get("eval_modes"), metrics.get("eval_hq")
    if modes is None or hq is None or any(isinstance(v, float) and math.isnan(v) for v in (modes, hq)):
        return False
    return int(modes) >= MODES[dataset] and float(hq) >= hq_min


def trial_config(params: dict, extra: list[str]):
    """A trial's configuration from its parameters (the run folder may be on another machine)."""
    return load_space(SPACE).config(extra, values=params)


def verify(params: list[dict], extra: list[str], device: str) -> list[dict]:
    """Retrain each configuration on VERIFY_SEEDS (all in one cohort); per config each seed's
    modes and HQ, and the member-steps spent."""
    configs = []
    for pr in params:
        cfg = trial_config(pr, extra)
        configs += [
            apply_overrides(cfg, [f"train.seed={s}", "train.eval_every=0", f"train.device={device}"])
            for s in VERIFY_SEEDS
        ]
    summary = CohortTrainer(configs).train()
    out = []
    n = len(VERIFY_SEEDS)
    for j, _ in enumerate(params):
        seeds = summary[j * n : (j + 1) * n]
        out.append(
            {
                "seeds": [{"modes": m.get("eval_modes"), "hq": m.get("eval_hq")} for m in seeds],
                "steps": sum(int(configs[j * n].train.steps) for _ in seeds),
            }
        )
    return out


def _trial_rows(study: optuna.Study, dataset: str, hq_min: float) -> list[dict]:
    rows = []
    for t in sorted(study.trials, key=lambda t: t.number):
        if t.state not in (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
        ):
            continue
        attrs = t.user_attrs
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "status": attrs.get("status"),
                "steps": int(attrs.get("steps_trained", 0)),
                "modes": attrs.get("eval_modes"),
                "hq": attrs.get("eval_hq"),
                "params": t.params,
                "candidate": t.state == optuna.trial.TrialState.COMPLETE and passes(attrs, dataset, hq_min),
                "run_dir": attrs.get("run_dir"),
                "cohort": str(Path(attrs.get("run_dir", "")).parent.parent),
            }
        )
    return rows


def _extra(args: argparse.Namespace) -> list[str]:
    # the grid's points are fixed, so another grid rep is the same points trained from another seed:
    # what decides whether a point passes is seed noise (rep 0 keeps the default seed, as before)
    seed = [f"train.seed={args.rep}"] if getattr(args, "method", None) == "grid" and args.rep else []
    # --set comes last: it may fix more of the problem for every method alike (train.g_ema=0.99)
    return [f"data.name={args.dataset}", f"train.steps={args.steps}", f"train.eval_every={args.steps // 10}",
            *seed, *args.set]  # fmt: skip


def _machine(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def _search(args: argparse.Namespace, out: Path, name: str, **kw) -> tuple[optuna.Study, list[str]]:
    space = load_space(SPACE)
    extra = _extra(args)
    storage = f"sqlite:///{out / (name + '.db')}"
    settings = SearchSettings(
        storage=storage,
        study_name=name,
        cohort_size=args.cohort_size,
        runs_dir=out / "runs",
        extra_overrides=(*extra, f"train.device={args.device}"),
        objective=args.objective,
        **kw,
    )
    study = run_search(space, settings)
    return study, extra


def _result(args: argparse.Namespace, rows: list[dict], verified: dict, start: float, **more) -> dict:
    """What `run` writes: the settings, the machine, every trial and the verifications."""
    return {
        "method": args.method,
        "scheduler": getattr(args, "scheduler", "median"),  # ganstab: median or asha
        "dataset": args.dataset,
        "rep": args.rep,
        "steps": args.steps,
        "cohort_size": args.cohort_size,
        "objective": args.objective,
        "extra": _extra(args),
        "hq_min": args.hq,
        "machine": _machine(args.device),
        "date": time.strftime("%Y-%m-%d"),
        "trials": rows,
        "verified": {str(k): v for k, v in verified.items()},
        "finished": True,
        **more,
        "seconds": time.perf_counter() - start,
    }


def _stem(args: argparse.Namespace) -> str:
    """A run's result file name (and a ganstab run's study name): method, scheduler, data set, rep."""
    tag = "" if args.method != "ganstab" or args.scheduler == "median" else f"-{args.scheduler}"
    return f"{args.method}{tag}-{args.dataset}-rep{args.rep}"


def _write(args: argparse.Namespace, out: Path, result: dict) -> Path:
    path = out / f"{_stem(args)}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    return path


def seeds_pass(verification: dict, dataset: str, hq_min: float = HQ_MIN) -> bool:
    """Whether every verification seed covers every mode with HQ >= hq_min."""
    seeds = verification["seeds"]
    return all(passes({"eval_modes": s["modes"], "eval_hq": s["hq"]}, dataset, hq_min) for s in seeds)


def run_ganstab(args: argparse.Namespace, out: Path) -> dict:
    name = _stem(args)
    # asha: a round is one cohort of POOL_FACTOR trials per slot, the slots refilled as trials stop
    per_round = args.cohort_size * (POOL_FACTOR if args.scheduler == "asha" else 1)
    start = time.perf_counter()
    verified: dict[int, dict] = {}
    found = None
    n = 0
    while n < args.max_trials and found is None:
        n = min(n + per_round, args.max_trials)
        study, _ = _search(
            args, out, name, n_trials=n, sampler="tpe", seed=args.rep, prune=True, diagnose=True,
            scheduler=args.scheduler,
        )  # fmt: skip
        rows = _trial_rows(study, args.dataset, args.hq)
        for row in rows:
            if row["candidate"] and row["number"] not in verified and found is None:
                verified[row["number"]] = verify([row["params"]], _extra(args), args.device)[0]
                if seeds_pass(verified[row["number"]], args.dataset, args.hq):
                    found = row["number"]
        print(
            f"{name}: {len(rows)} trials, {sum(r['steps'] for r in rows)} member-steps, found={found}",
            flush=True,
        )
        # each round leaves its result on disk, so a run cut by a time limit (the GPU script's
        # `timeout`) still counts: as a search that had not found by then (`finished` false)
        _write(args, out, _result(args, rows, verified, start, found=found, finished=False))
    return _result(args, rows, verified, start, found=found)


def run_pool(args: argparse.Namespace, out: Path) -> dict:
    # a pool of another --rep is a study of its own (rep 0 keeps the name earlier results used)
    name = f"{args.method}-{args.dataset}" + (f"-rep{args.rep}" if args.rep else "")
    start = time.perf_counter()
    if args.method == "grid":
        n = len(GRID) ** 2
        storage = f"sqlite:///{out / (name + '.db')}"
        study = optuna.create_study(
            storage=storage, study_name=name, direction="maximize", load_if_exists=True
        )
        if not study.trials:
            for lr_d in GRID:
                for lr_g in GRID:  # the vanilla defaults for everything else
                    study.enqueue_trial(
                        {
                            "train.lr_d": lr_d,
                            "train.lr_g": lr_g,
                            "train.loss": "ns",
                            "train.sn_d": False,
                            "train.n_dis": 1,
                            "train.beta1": 0.5,
                        }
                    )
    else:
        n = args.pool
    study, _ = _search(
        args, out, name, n_trials=n, sampler="random", seed=args.rep, prune=False, diagnose=False
    )
    rows = _trial_rows(study, args.dataset, args.hq)
    cands = [r for r in rows if r["candidate"]]
    verified = {}
    if cands and not args.no_verify:
        results = verify([r["params"] for r in cands], _extra(args), args.device)
        verified = {str(r["number"]): v for r, v in zip(cands, results)}
    print(f"{name}: {len(rows)} trials, {len(cands)} candidates", flush=True)
    return _result(args, rows, verified, start)


def verify_file(path: Path, device: str) -> None:
    result = json.loads(path.read_text())
    todo = [r for r in _searched(result) if r["candidate"] and str(r["number"]) not in result["verified"]]
    if todo:
        for r, v in zip(todo, verify([r["params"] for r in todo], result["extra"], device)):
            result["verified"][str(r["number"])] = v
        result["verified_on"] = _machine(device)
        if result["method"] == "ganstab":  # the search stops at its first find in trial order
            result["found"] = _first_find(result)
        path.write_text(json.dumps(result, indent=1, default=str))
    print(
        f"{path}: {len(todo)} candidate(s) verified, {sum(_verified_ok(result, r['number']) for r in todo)} passed"
    )


def rebar(src: Path, dst: Path, hq: float) -> None:
    """Copies of the results in `src`, judged at a lower bar `hq`: the same trials and
    verifications (they record modes and HQ, not pass or fail), candidates recomputed. A ganstab
    run's find passes any lower bar, so its trials up to it are all the run needs; a candidate
    before it that is new at this bar is verified by `verify`, which moves the find to the first
    that passes, as the search would have stopped there. A higher bar is refused: a run may have
    stopped at a find that would not pass it, and its later trials were never run. A file that
    `dst` already holds is kept, with the verifications done there."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.json")):
        if (dst / path.name).exists():  # judged before, maybe verified since: that cost training
            print(f"{dst / path.name}: kept")
            continue
        result = json.loads(path.read_text())
        was = result.get("hq_min", HQ_MIN)
        if hq > was:
            raise SystemExit(f"{path.name} ran at HQ >= {was:g} %: it can be judged at a lower bar only, not {hq:g} %")
        result.update(hq_min=hq, judged_from=was)
        for t in result["trials"]:
            metrics = {"eval_modes": t["modes"], "eval_hq": t["hq"]}
            t["candidate"] = t["state"] == "COMPLETE" and passes(metrics, result["dataset"], hq)
        if result["method"] == "ganstab" and result.get("found") is not None:
            result["found"] = _first_find(result)
        (dst / path.name).write_text(json.dumps(result, indent=1, default=str))
    print(f"{dst}: judged at HQ >= {hq:g} %; now `verify {dst}/*.json`, then `report {dst}`")


def _first_find(result: dict) -> int | None:
    """A ganstab run's first verified find in trial order, among the trials it searched."""
    return next((t["number"] for t in _searched(result) if t["candidate"] and _verified_ok(result, t["number"])), None)


def _searched(result: dict) -> list[dict]:
    """The trials a search went through: a pool's all; a ganstab run's up to its find (it stops
    verifying there, as a user would, so later trials of that round tell nothing)."""
    found = result.get("found")
    if result["method"] != "ganstab" or found is None:
        return result["trials"]
    return [r for r in result["trials"] if int(r["number"]) <= int(found)]


def _unverified(result: dict) -> int:
    """Candidates that `report` needs verified and are not."""
    return sum(1 for r in _searched(result) if r["candidate"] and str(r["number"]) not in result["verified"])


# ----------------------------------------------------------------------------------- report


def _verified_ok(result: dict, number: int | str) -> bool:
    v = result["verified"].get(str(number))
    return v is not None and seeds_pass(v, result["dataset"], result.get("hq_min", HQ_MIN))


def _walk(result: dict, order: list[dict], k: int) -> tuple[int, int, bool]:
    """Member-steps, slot-steps and success of a search that runs `order` in rounds of k trials,
    verifying each round's candidates in trial order until one passes."""
    steps = slots = 0
    for a in range(0, len(order), k):
        batch = order[a : a + k]
        # a cohort runs to its last active member; trials of different cohorts in one round
        # (shapes differ) are counted per cohort
        by_cohort: dict[str, list[int]] = {}
        for r in batch:
            by_cohort.setdefault(r["cohort"], []).append(r["steps"])
        steps += sum(r["steps"] for r in batch)
        slots += sum(len(v) * max(v) for v in by_cohort.values())
        for r in batch:
            if r["candidate"]:
                cost = 3 * result["steps"]
                steps += cost
                slots += cost
                if _verified_ok(result, r["number"]):
                    return steps, slots, True
    return steps, slots, False


def summarize(result: dict, round_size: int, orders: int = 10_000) -> dict:
    """ganstab: its recorded rounds (one cohort each). A pool: `orders` random orders of it, run
    in rounds of `round_size` trials (ganstab's cohort size, whatever cohorts trained the pool)."""
    rows = result["trials"]
    k = result["cohort_size"] if result["method"] == "ganstab" else round_size
    if result["method"] == "ganstab":
        # the recorded run: rounds in trial order (each round was one cohort)
        steps, slots, ok = _walk(result, rows, k)
        return {"member_steps": [steps], "slot_steps": [slots], "found": [ok], "trials": len(rows)}
    rng = random.Random(0)
    found, member_steps, slot_steps = [], [], []
    for _ in range(orders):
        order = rows[:]
        rng.shuffle(order)
        steps, slots, ok = _walk(result, order, k)
        member_steps.append(steps)
        slot_steps.append(slots)
        found.append(ok)
    return {"member_steps": member_steps, "slot_steps": slot_steps, "found": found, "trials": len(rows)}


def merge_pools(results: list[dict]) -> list[dict]:
    """One pool per (data set, method): several pools of the same non-adaptive search (other
    sampler seeds) are one larger sample of it. Trials are renamed `rep:number`."""
    merged: dict[tuple[str, str], dict] = {}
    for r in results:
        m = merged.setdefault(
            (r["dataset"], r["method"]), {**r, "trials": [], "verified": {}, "reps": [], "found": None}
        )
        if m["steps"] != r["steps"] or m["cohort_size"] != r["cohort_size"]:
            raise SystemExit(f"pools of {r['method']} on {r['dataset']} differ in steps or cohort size")
        m["reps"].append(r["rep"])
        m["trials"] += [{**t, "number": f"{r['rep']}:{t['number']}"} for t in _searched(r)]
        m["verified"].update({f"{r['rep']}:{n}": v for n, v in r["verified"].items()})
    return list(merged.values())


def pass_rate(passed: int, trials: int, level: float = 0.95) -> tuple[float, float, float]:
    """Per-trial probability that a trial of this search is a verified find: the estimate and its
    exact (Clopper-Pearson) interval. One find in a pool says little, and this says how little."""
    from scipy.stats import beta

    if trials <= 0 or not 0 <= passed <= trials:
        raise ValueError(f"need 0 <= passed <= trials and trials > 0, got passed={passed}, trials={trials}")
    a = (1 - level) / 2
    low = 0.0 if passed == 0 else float(beta.ppf(a, passed, trials - passed + 1))
    high = 1.0 if passed == trials else float(beta.ppf(1 - a, passed + 1, trials - passed))
    return passed / trials, low, high


def expected_cost(rate: float, steps_per_trial: float, candidate_rate: float, steps: int) -> float:
    """Member-steps a sequential search expects to spend until its first verified find when each
    trial is one with probability `rate` (geometric): 1/rate trials, each costing what it trained
    plus, for the share that are candidates, their verification (3 x steps)."""
    if rate <= 0:
        return math.inf
    return (steps_per_trial + candidate_rate * 3 * steps) / rate


def uncertainty(result: dict) -> dict:
    """A pool's (or a run's) per-trial rate of verified finds with its 95 % interval, and the
    expected member-steps to a find at the estimate and at the interval's ends."""
    rows = _searched(result)
    passed = sum(_verified_ok(result, r["number"]) for r in rows if r["candidate"])
    rate, low, high = pass_rate(passed, len(rows))
    per_trial = statistics.fmean(r["steps"] for r in rows)
    cands = sum(1 for r in rows if r["candidate"]) / len(rows)
    cost = {
        name: expected_cost(p, per_trial, cands, result["steps"])
        for name, p in (("estimate", rate), ("at_high_rate", high), ("at_low_rate", low))
    }
    return {"passed": passed, "trials": len(rows), "rate": rate, "low": low, "high": high, **cost}


def expected_spend(result: dict) -> float:
    """Member-steps to a verified find: a ganstab run's recorded spend; a pool's geometric
    expectation at its per-trial rate (an unending search of that kind: `uncertainty`)."""
    if result["method"] == "ganstab":
        return float(summarize(result, result["cohort_size"])["member_steps"][0])
    return uncertainty(result)["estimate"]


def spend_of(runs: list[dict]) -> float:
    """The expected spend of ganstab's runs (their mean) or of one pool."""
    if runs[0]["method"] == "ganstab":
        return statistics.fmean(expected_spend(r) for r in runs)
    return expected_spend(runs[0])


def ratio_interval(
    random_pool: dict, runs: list[dict], draws: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """How many times fewer member-steps `runs` (ganstab's runs, or one pool) spend to a find than
    random search, with a percentile bootstrap interval: the pool's trials and the runs are each
    resampled with replacement, and the ratio of their expected spends taken each time. A resample
    of the pool without a find has an unbounded spend (an infinite ratio), so an interval whose
    upper end is inf says the pool holds too few finds to bound it."""
    rng = random.Random(seed)
    spend = spend_of

    def resample(pool: dict) -> dict:
        trials = [rng.choice(pool["trials"]) for _ in pool["trials"]]
        return {**pool, "trials": trials, "found": None}

    point = spend([random_pool]) / spend(runs)
    ratios = []
    for _ in range(draws):
        mine = [rng.choice(runs) for _ in runs] if runs[0]["method"] == "ganstab" else [resample(runs[0])]
        ratios.append(spend([resample(random_pool)]) / spend(mine))
    ratios.sort()
    a = (1 - level) / 2
    return point, ratios[int(a * draws)], ratios[min(draws - 1, int((1 - a) * draws))]


def report(folder: Path, round_size: int = 8) -> None:
    results = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    missing = [f"{r['method']}-{r['dataset']}-rep{r['rep']}" for r in results if _unverified(r)]
    if missing:
        raise SystemExit(f"candidates not verified yet in {missing}: run `verify` on those files first")
    # a grid rep's own training seed (train.seed=N) is not a setting of the bar
    bars = {(r.get("hq_min", HQ_MIN), tuple(e for e in r.get("extra", ()) if not e.startswith("train.seed=")))
            for r in results}  # fmt: skip
    if len(bars) > 1:
        raise SystemExit(f"results in {folder} differ in their bar or settings {sorted(bars)}: one folder each")
    objectives = {r.get("objective", "late-mean") for r in results if r["method"] == "ganstab"}
    if len(objectives) > 1:
        raise SystemExit(
            f"ganstab runs in {folder} differ in objective {sorted(objectives)}: one folder each"
        )
    results = [r for r in results if r["method"] == "ganstab"] + merge_pools(
        [r for r in results if r["method"] != "ganstab"]
    )
    table: dict[tuple[str, str], dict] = {}
    for r in results:
        s = summarize(r, round_size)
        key = (r["dataset"], r["method"])
        agg = table.setdefault(
            key,
            {
                "member_steps": [],
                "slot_steps": [],
                "found": [],
                "runs": 0,
                "trials": 0,
                "cands": 0,
                "passed": 0,
            },
        )
        for f in ("member_steps", "slot_steps", "found"):
            agg[f] += s[f]
        agg["runs"] += 1
        agg["trials"] += s["trials"]
        agg["cands"] += sum(1 for t in _searched(r) if t["candidate"])
        # among the trials searched: a run judged at a lower bar (rebar) also holds the
        # verifications of trials after its new find
        agg["passed"] += sum(_verified_ok(r, t["number"]) for t in _searched(r) if t["candidate"])
        agg["steps"] = r["steps"]
        agg["k"] = r["cohort_size"]
    print(
        "| data set | method | searches (trials) | candidates (passed 3 seeds) | found | member-steps to success: mean (median) | slot-steps: mean | vs random |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (dataset, method), agg in sorted(table.items()):
        ms, ss = agg["member_steps"], agg["slot_steps"]
        found = sum(agg["found"]) / len(agg["found"])
        bound = "" if found == 1 else ">= "  # censored searches count their whole spend
        rnd = table.get((dataset, "random"))
        ratio = "-"
        if rnd is not None and method != "random":
            r_found = sum(rnd["found"]) / len(rnd["found"])
            r = statistics.fmean(rnd["member_steps"]) / statistics.fmean(ms)
            if found == 1:
                ratio = f"{'>= ' if r_found < 1 else ''}{r:.2f}x"
            elif r_found == 1:
                ratio = f"<= {r:.2f}x"
            else:
                ratio = "n/a (both censored)"
        print(
            f"| {dataset} | {method} | {agg['runs']} ({agg['trials']}) | {agg['cands']} ({agg['passed']}) | "
            f"{found:.0%} | {bound}{statistics.fmean(ms):,.0f} ({statistics.median(ms):,.0f}) | "
            f"{statistics.fmean(ss):,.0f} | {ratio} |"
        )
    print(
        "\n'found': the share of runs (ganstab) or of 10,000 random orders of the pool (random, grid) that "
        "found a verified configuration; a search that found none counts its whole spend, so its mean "
        "is a lower bound (>=)."
    )
    print(
        "\nHow sure: per-trial rate of verified finds (95 % Clopper-Pearson interval) and the member-steps "
        "a sequential search expects to spend at that rate (1/rate trials, each with its training and "
        "its share of verifications):\n"
    )
    print(
        "| data set | method | finds / trials | rate (95 % interval) | expected member-steps: at the rate (range over the interval) |"
    )
    print("|---|---|---|---|---|")
    for r in merge_pools(results):  # ganstab's runs pooled like the non-adaptive pools
        u = uncertainty(r)
        print(
            f"| {r['dataset']} | {r['method']} | {u['passed']} / {u['trials']} | {u['rate']:.3f} "
            f"({u['low']:.4f}-{u['high']:.3f}) | {_steps(u['estimate'])} ({_steps(u['at_high_rate'])} to "
            f"{_steps(u['at_low_rate'])}) |"
        )


    pools = {(r["dataset"], r["method"]): r for r in merge_pools(results)}
    print(
        "\nAgainst random search: how many times fewer member-steps each method expects to spend to a "
        "find (random: the geometric expectation of its pool), with a 95 % bootstrap interval over the "
        "pool's trials and the method's runs (or pool):\n"
    )
    print("| data set | method | runs that found | vs random (95 % interval) |")
    print("|---|---|---|---|")
    for (dataset, method), agg in sorted(table.items()):
        rnd = pools.get((dataset, "random"))
        if method == "random" or rnd is None:
            continue
        runs = [r for r in results if r["method"] == "ganstab" and r["dataset"] == dataset]
        runs = runs if method == "ganstab" else [pools[(dataset, method)]]
        found = f"{sum(agg['found'])} of {len(agg['found'])}" if method == "ganstab" else "pool"
        if math.isinf(spend_of(runs)):
            print(f"| {dataset} | {method} | {found} | no find: not bounded below |")
            continue
        point, low, high = ratio_interval(rnd, runs)
        # a ganstab run that found nothing counts only what it spent: the ratio is then an upper bound
        bound = "<= " if method == "ganstab" and not all(agg["found"]) else ""
        print(f"| {dataset} | {method} | {found} | {bound}{point:.2f}x ({low:.2f}-{high:.2f}) |")
    cut = [f"{r['method']}-{r['dataset']}-rep{r['rep']}" for r in results if r.get("finished") is False]
    if cut:
        print(f"\nCut short before they ended (counted as not found at what they spent): {', '.join(cut)}")


def _steps(value: float) -> str:
    return "unbounded" if math.isinf(value) else f"{value:,.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--method", choices=["ganstab", "random", "grid"], required=True)
    r.add_argument("--dataset", choices=sorted(MODES), default="ring8")
    r.add_argument("--steps", type=int, default=5000, help="G steps per trial")
    r.add_argument("--cohort-size", type=int, default=8)
    r.add_argument("--rep", type=int, default=0, help="search seed (ganstab) / sampler seed (random) / training seed (grid)")
    r.add_argument("--max-trials", type=int, default=96, help="ganstab: give up after this many trials")
    r.add_argument(
        "--objective",
        default="late-mean",
        choices=OBJECTIVES,
        help="trial values (ganstab search --objective); a candidate is judged by its last evaluation either way",
    )
    r.add_argument("--pool", type=int, default=96, help="random: trials in the pool")
    r.add_argument("--scheduler", default="median", choices=SCHEDULERS,
                   help="ganstab: how cohorts spend their steps (ganstab search --scheduler)")  # fmt: skip
    r.add_argument("--device", default="cpu")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--no-verify", action="store_true", help="random/grid: leave verification to `verify`")
    r.add_argument("--hq", type=float, default=HQ_MIN, help=f"the bar: HQ %% on every seed (default {HQ_MIN:g})")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a config key for every method and trial (e.g. train.g_ema=0.99); repeatable")  # fmt: skip
    v = sub.add_parser("verify", help="verify the unverified candidates of result files (in place)")
    v.add_argument("files", type=Path, nargs="+")
    v.add_argument("--device", default="cpu")
    rb = sub.add_parser("rebar", help="copies of a folder's results judged at a lower bar (then verify, report)")
    rb.add_argument("folder", type=Path)
    rb.add_argument("out", type=Path)
    rb.add_argument("--hq", type=float, required=True, help="the lower bar: HQ %% on every seed")
    rp = sub.add_parser("report")
    rp.add_argument("folder", type=Path)
    rp.add_argument("--round", type=int, default=8, help="pools: trials per round (ganstab's cohort size)")
    args = p.parse_args()
    if args.cmd == "report":
        report(args.folder, args.round)
        return
    if args.cmd == "rebar":
        rebar(args.folder, args.out, args.hq)
        return
    if args.cmd == "verify":
        for path in args.files:
            verify_file(path, args.device)
        return
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = run_ganstab(args, out) if args.method == "ganstab" else run_pool(args, out)
    path = _write(args, out, result)
    print(f"wrote {path} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
