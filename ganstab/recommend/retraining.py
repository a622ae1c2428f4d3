"""Retraining the candidates on new seeds, in a pool of processes, and their mean and spread.

Every candidate is retrained on the same new seeds (shared seeds make the comparison paired).
Candidates x seeds that share a shape train as `CohortTrainer` cohorts, split over one process per
CPU (`default_workers`; one on a GPU). Every member trains as it would alone
(engine/trainer.py), so the split changes no result beyond rounding.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import os
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ganstab.checks import whole_number
from ganstab.engine.config import Config, apply_values, resolve, shape_key
from ganstab.recommend.candidates import Candidate
from ganstab.search.events import EventFn, emit

__all__ = ["claim_dir", "default_workers", "prepare", "retrain"]

# one part of the retraining: its cohort folder, its members' configs, each member's candidate
Part = tuple[Path, list[Config], list[int]]


def prepare(cfg: Config, values: Mapping[str, Any], seed: int) -> Config:
    """`cfg` with the retraining's values (--steps, --set) set, resolved, on `seed`."""
    cfg = resolve(apply_values(cfg, values))
    cfg.train.seed = seed
    return cfg


def claim_dir(runs_dir: Path, dataset: str) -> Path:
    """A new folder runs_dir/recommend-DATASET-TIMESTAMP[-N], created atomically."""
    stem = f"recommend-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        path = runs_dir / (stem if i == 0 else f"{stem}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a new recommend folder under {runs_dir}")


def default_workers(configs: list[Config]) -> int:
    """Processes to retrain in: one per CPU this process may use (small cohorts keep one core
    busy each better than one cohort keeps two: per-step work is many small operations); one on
    a GPU, which trains one cohort better than processes sharing it."""
    from ganstab.engine.device import pick_device

    if any(pick_device(c.train.device).type == "cuda" for c in configs):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def retrain(
    candidates: list[Candidate], seeds: list[int], root: Path, on_event: EventFn | None, workers: int | None
) -> None:
    """Train every candidate x seed and fill in the stats. Members that share a shape train as
    cohorts, each group split into up to `workers` parts of nearly equal size (a candidate's seeds
    stay together where the split allows), run in as many processes at once."""
    every = [c.config for c in candidates]
    workers = default_workers(every) if workers is None else whole_number("workers", workers)
    parts = _parts(candidates, seeds, root, workers)
    for g, (run_dir, configs, owners) in enumerate(parts):
        who = ", ".join(
            f"{candidates[i].label} seeds {[c.train.seed for c, o in zip(configs, owners) if o == i]}"
            for i in dict.fromkeys(owners)
        )
        emit(on_event, "cohort", f"cohort {g}: {len(configs)} member(s), {who} -> {run_dir}", cohort=g,
             run_dir=str(run_dir))  # fmt: skip
    summaries = _train_parts(parts, workers)
    per_candidate: dict[int, list[dict[str, Any]]] = {}
    folders: dict[int, set[str]] = {}
    for (run_dir, _, owners), summary in zip(parts, summaries):
        for i, member in zip(owners, summary):
            per_candidate.setdefault(i, []).append(member)
            folders.setdefault(i, set()).add(str(run_dir))
    for i, members in per_candidate.items():
        _stats(candidates[i], members)
        # the cohort folder its seeds trained in, or the recommendation's folder if they were split
        candidates[i].run_dir = folders[i].pop() if len(folders[i]) == 1 else str(root)


def _parts(candidates: list[Candidate], seeds: list[int], root: Path, workers: int) -> list[Part]:
    """Candidates x seeds grouped by shape, each group cut into up to `workers` cohorts."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        groups.setdefault(shape_key(c.config), []).append(i)
    parts: list[Part] = []
    for members in groups.values():
        configs, owners = [], []
        for i in members:
            for s in seeds:
                cfg = copy.deepcopy(candidates[i].config)
                cfg.train.seed = s
                configs.append(cfg)
                owners.append(i)
        n = min(workers, len(configs))
        for p in range(n):
            lo, hi = p * len(configs) // n, (p + 1) * len(configs) // n
            parts.append((root / f"cohort-{len(parts):03d}", configs[lo:hi], owners[lo:hi]))
    return parts


def _train_parts(parts: list[Part], workers: int) -> list[list[dict[str, Any]]]:
    """Each part's member summaries: in this process, or in up to `workers` processes at once."""
    if workers == 1 or len(parts) == 1:
        return [_train_part(configs, run_dir, 0) for run_dir, configs, _ in parts]
    # spawn: a forked child would inherit this process's torch and Ray threads
    at_once = min(workers, len(parts))
    threads = max(1, default_workers([]) // at_once)  # the CPUs shared among the parts at once
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=at_once, mp_context=context) as pool:
        futures = [pool.submit(_train_part, configs, run_dir, threads) for run_dir, configs, _ in parts]
        return [f.result() for f in futures]


def _train_part(configs: list[Config], run_dir: Path, threads: int) -> list[dict[str, Any]]:
    """One part of the retraining as one cohort; in a worker process it has `threads` of the CPUs."""
    import torch

    from ganstab.engine.trainer import CohortTrainer

    if threads:
        torch.set_num_threads(threads)
    return CohortTrainer(configs, run_dir).train()


def _stats(c: Candidate, members: list[dict[str, Any]]) -> None:
    """Fill the candidate's per-seed values, mean, std and failures from its members' summaries."""
    names: list[str] = []
    for m in members:
        for k in m:
            # the graded score only ranks early rungs of a search: not a metric to choose by
            if k.startswith("eval_") and k[5:] not in names and k != "eval_graded":
                names.append(k[5:])
    if "score" in names:  # the ranked metric last, as tables show it
        names.remove("score")
        names.append("score")
    c.statuses = [str(m.get("status")) for m in members]
    ok = []
    for m in members:
        score = m.get("eval_score")
        ok.append(m.get("status") == "finished" and score is not None and math.isfinite(score))
    c.failed = ok.count(False)
    for name in names:
        values: list[float | None] = []
        for m, good in zip(members, ok):
            v = m.get(f"eval_{name}")
            values.append(float(v) if good and v is not None and math.isfinite(v) else None)
        c.per_seed[name] = values
        finite = [v for v in values if v is not None]
        c.mean[name] = float(np.mean(finite)) if finite else math.nan
        c.std[name] = float(np.std(finite, ddof=1)) if len(finite) > 1 else (0.0 if finite else math.nan)
