"""Recommend a configuration for a data set: history -> candidates -> reseeded cohort -> YAML.

Where the history comes from. A search writes two things per trial into one database: Optuna's
trial (state, value = `ganstab.search.member_report.late_score`, params, user attributes) and ganstab's
own run row (`ganstab_runs`: data set name, the resolved config as JSON, status) with its
diagnoses and labels.
The run row is the only place that names the data set and holds the whole config, and the Optuna
trial is the authority on whether the run finished (COMPLETE) and on its score. So the history of
a data set is: every run row with `dataset == NAME` that belongs to a study, joined by (study name,
trial number) to a COMPLETE trial with a finite value of that study; studies of any name count.
Run rows without an Optuna trial (deleted study, `ganstab train` runs) and Optuna trials without a
run row (someone else's study) are left out: either the verdict or the config would be unknown.

Which runs may be candidates. A high score can come from a run that is falling apart (lesson 2), so
when diagnoses exist only runs whose verdict is `converging` are kept. The verdict of a run is, in
order: a person's ground-truth label (`Store.set_label(..., source="user")`), else the latest
diagnosis stored for the run (`Store.add_diagnosis`, which the search's diagnosis writes and a
later re-diagnosis appends to), else the trial's `diagnosis` attribute. If no finished run has a
verdict at all (a search run with `diagnose=False`), the finished runs are ranked by score alone
and the message says the diagnoses were missing. Runs are ranked by final score; the first `top`
distinct configurations are taken, where two configs are the same if they differ only in
`train.seed` and `train.device`.

How one is chosen. Every candidate is retrained on the same `reseed` new seeds (one above the
largest seed in the history, so none repeats a run the search already saw; shared seeds make the
comparison paired). Candidates x seeds that share a shape train as `CohortTrainer` cohorts, split
over one process per CPU (`default_workers`; one on a GPU). The ranking rule, `rank_key`:

1. fewer failed seeds first (a seed that diverged or ended without a finite score): a
   configuration that breaks on some seeds is not a recommendation, whatever its other seeds did;
2. then the highest *robust score* `mean(score) - std(score)` over the seeds that finished (sample
   standard deviation, ddof=1; 0 with a single seed), so a candidate that is good on every seed
   beats one that is brilliant on one and poor on another;
3. ties: the better historic rank.

The chosen config is written as YAML (resolved, seed = the first new seed, `steps`/`overrides`
applied as retrained) with a comment header; `ganstab train --config FILE` accepts it.

Where the dashboard shows it. Every study that holds runs on the data set gets the recommendation
as user attributes (STUDY_ATTRS: the chosen trial, the seeds' mean and spread, the YAML's path, when)
and as the last section of its optuna-dashboard note, under the heading NOTE_HEADING: what a person
wrote in the note above that heading is kept, the section itself is rewritten by each
recommendation. The values are short: the dashboard's attribute table does not wrap them well.

Without history (no such SQLite file, no ganstab tables, no finished run on the data set, or none
diagnosed converging) the lessons preset on this data set is retrained the same way, for its mean
and spread, and written; the message says so.
"""

from __future__ import annotations

import copy
import json
import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganstab.engine.config import (
    PRESETS,
    Config,
    ConfigError,
    apply_overrides,
    did_you_mean,
    dump_yaml,
    flat_items,
    from_dict,
    preset,
    resolve,
    shape_key,
    validate,
)
from ganstab.search.events import EventFn, emit
from ganstab.storage import Store
from ganstab.storage.urls import is_memory_sqlite, mask_url, normalize_url

__all__ = [
    "CONVERGING",
    "NOTE_HEADING",
    "SOURCE_HISTORY",
    "SOURCE_LESSONS",
    "STUDY_ATTRS",
    "Candidate",
    "History",
    "HistoryRun",
    "Recommendation",
    "find_history",
    "format_report",
    "publish",
    "rank_key",
    "recommend",
    "recommendation_note",
    "select_candidates",
    "write_config",
]

CONVERGING = "converging"
SOURCE_HISTORY = "history"
SOURCE_LESSONS = "lessons default"
USER_SOURCE = "user"  # the label source of a person's own verdict (ganstab.storage)
# Keys that do not make a configuration different: the seed is what reseeding varies, the device
# only where it runs.
IDENTITY_IGNORES = ("train.seed", "train.device")
# study user attributes of the latest recommendation: what each holds
STUDY_ATTRS = {
    "recommended": "the chosen trial, 'STUDY #N' (or 'lessons default')",
    "recommended_score": "the score's mean ± std over the new seeds, and the seeds",
    "recommended_yaml": "the absolute path of the YAML written",
    "recommended_at": "when, UTC",
}
NOTE_HEADING = "### ganstab recommendation"  # the study note's section that recommend rewrites

# ------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class HistoryRun:
    """One finished search trial on the data set: its score, resolved config and verdict."""

    study_name: str
    trial_number: int
    run_id: int
    score: float  # its late mean (mean eval_score of its last evaluations), whatever the objective
    config: Config  # the resolved config the run trained with
    params: dict[str, Any]  # the searched values (trial.params)
    metrics: dict[str, Any]  # the trial's eval_* attributes
    diagnosis: str | None  # the verdict (see the module doc), None when none is recorded
    diagnosis_source: str | None  # "user label", "diagnosis" (ganstab tables) or "trial attribute"
    run_dir: str | None

    @property
    def label(self) -> str:
        return f"{self.study_name} #{self.trial_number}"


@dataclass
class History:
    """What a storage knows about a data set: its finished runs, best score first."""

    dataset: str
    storage: str  # the URL, password masked
    available: bool  # False: no such database, or no ganstab search ever wrote to it
    runs: list[HistoryRun] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)  # studies that hold runs on the data set
    notes: list[str] = field(default_factory=list)  # why something was left out


@dataclass
class Candidate:
    """One configuration retrained across seeds, with its mean and spread."""

    label: str  # "STUDY #TRIAL", or "lessons default"
    config: Config  # resolved, as retrained; seed = the first of `seeds`
    params: dict[str, Any]  # the searched values, or the lessons preset's train values
    history_score: float | None  # the score the search saw (one seed), None for the lessons default
    history_rank: int  # 1 = the best historic score among the candidates
    history_runs: int  # finished runs in the pool with this configuration
    diagnosis: str | None  # the historic run's verdict
    seeds: list[int] = field(default_factory=list)
    per_seed: dict[str, list[float | None]] = field(default_factory=dict)  # None: the seed failed
    mean: dict[str, float] = field(default_factory=dict)  # over the seeds that finished
    std: dict[str, float] = field(default_factory=dict)  # sample std (ddof=1); 0 for one seed
    failed: int = 0  # seeds that diverged or ended without a finite score
    statuses: list[str] = field(default_factory=list)  # the trainer's status per seed
    run_dir: str | None = None  # the cohort folder the seeds trained in
    study_name: str | None = None  # the historic trial's study (None for the lessons default)
    trial_number: int | None = None  # the historic trial's number in it

    @property
    def robust_score(self) -> float:
        """mean(score) - std(score) over the finished seeds; -inf when none finished."""
        mean, std = self.mean.get("score", math.nan), self.std.get("score", math.nan)
        if not (math.isfinite(mean) and math.isfinite(std)):
            return -math.inf
        return mean - std


@dataclass
class Recommendation:
    """What `recommend` decided, and why."""

    dataset: str
    storage: str  # masked URL
    source: str  # SOURCE_HISTORY or SOURCE_LESSONS
    message: str  # one paragraph for a person: where the candidates came from
    config: Config  # the chosen config, as written to `out`
    chosen: int  # index into `candidates`
    candidates: list[Candidate]
    seeds: list[int]
    out: Path
    run_dir: Path  # where the reseeded cohorts trained
    history_runs: int  # finished runs on the data set found in the storage
    notes: list[str] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)  # studies whose note and attribute show it

    @property
    def best(self) -> Candidate:
        return self.candidates[self.chosen]


def rank_key(c: Candidate) -> tuple[int, float, int]:
    """Sort key, best first: fewer failed seeds, then higher mean - std of the score, then the
    better historic rank (see the module doc for why)."""
    return (c.failed, -c.robust_score, c.history_rank)


# ------------------------------------------------------------------------------------- checks


def _whole(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, but got {value!r}.")
    return int(value)


def _check_dataset(dataset: Any) -> str:
    from ganstab.engine.dataset_registry import DATASETS

    if not isinstance(dataset, str) or dataset not in DATASETS:
        hint = did_you_mean(str(dataset), DATASETS, quote="'")
        raise ValueError(f"unknown data set {dataset!r}{hint}; choose one of: {', '.join(DATASETS.names())}.")
    return dataset


# ------------------------------------------------------------------------------------- history


def _absent(url: str) -> str | None:
    """Why the storage certainly holds no history without connecting (a SQLite file that does not
    exist: opening it would create it), else None."""
    sa = normalize_url(url)
    if sa.get_backend_name() != "sqlite":
        return None
    db = sa.database
    if is_memory_sqlite(sa):
        return "an in-memory database holds no history"
    if not Path(str(db)).expanduser().exists():
        return f"there is no database file {db}"
    return None


def _identity(cfg: Config) -> str:
    """Two configs are the same recommendation when they differ only in IDENTITY_IGNORES."""
    items = {k: v for k, v in flat_items(cfg).items() if k not in IDENTITY_IGNORES}
    return json.dumps(items, sort_keys=True, default=str)


def _verdict(store: Store, run_id: int, attrs: dict[str, Any]) -> tuple[str | None, str | None]:
    """(label, where it came from): a person's label, else the latest stored diagnosis, else the
    trial's attribute."""
    user = store.labels(run_id).get(USER_SOURCE)
    if user:
        return user, "user label"
    diagnoses = store.diagnoses(run_id)
    if diagnoses:
        return diagnoses[-1].diagnosis.label, "diagnosis"
    attr = attrs.get("diagnosis")
    if isinstance(attr, str) and attr:
        return attr, "trial attribute"
    return None, None


def find_history(dataset: str, storage: str) -> History:
    """Every COMPLETE trial with a finite score, of any study in `storage`, whose run trained on
    `dataset`, best score first (see the module doc for the join). Reads only: a missing SQLite
    file is not created, a database without ganstab's or Optuna's tables is not written to."""
    import optuna
    from optuna.study import StudyDirection
    from optuna.trial import TrialState
    from sqlalchemy import inspect

    from ganstab.storage.studies import open_optuna_storage

    dataset = _check_dataset(dataset)
    masked = mask_url(storage)
    reason = _absent(storage)
    if reason is not None:
        return History(dataset, masked, available=False, notes=[reason])
    store = Store(storage, create=False)
    try:
        tables = set(inspect(store.engine).get_table_names())
        missing = [t for t in ("ganstab_runs", "studies") if t not in tables]
        if missing:
            return History(
                dataset, masked, available=False, notes=[f"the database has no {' or '.join(missing)} table"]
            )
        history = History(dataset, masked, available=True)
        rows = {
            (r.study_name, r.trial_number): r
            for r in store.runs(dataset=dataset)
            if r.study_name is not None and r.trial_number is not None
        }
        names = sorted({name for name, _ in rows})
        if not names:
            return history
        optuna_storage = open_optuna_storage(storage, immediate=False)  # reads only: no write lock
        try:
            summaries = {
                s.study_name: s
                for s in optuna.get_all_study_summaries(optuna_storage, include_best_trial=False)
            }
            for name in names:
                summary = summaries.get(name)
                if summary is None:
                    history.notes.append(f"runs of study {name!r} have no Optuna study (deleted?): left out")
                    continue
                if summary.directions != [StudyDirection.MAXIMIZE]:
                    history.notes.append(f"study {name!r} does not maximize eval_score: left out")
                    continue
                study = optuna.load_study(study_name=name, storage=optuna_storage)
                history.studies.append(name)
                for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                    row = rows.get((name, t.number))
                    if row is None or t.value is None or not math.isfinite(t.value):
                        continue
                    try:
                        cfg = resolve(from_dict(row.config))
                    except (ConfigError, KeyError) as e:
                        history.notes.append(f"{name} #{t.number}: stored config is no longer valid ({e})")
                        continue
                    label, source = _verdict(store, row.id, t.user_attrs)
                    history.runs.append(
                        HistoryRun(
                            study_name=name,
                            trial_number=t.number,
                            run_id=row.id,
                            # late_mean: comparable across studies of either objective
                            score=float(t.user_attrs.get("late_mean", t.value)),
                            config=cfg,
                            params=dict(t.params),
                            metrics={k: v for k, v in t.user_attrs.items() if k.startswith("eval_")},
                            diagnosis=label,
                            diagnosis_source=source,
                            run_dir=t.user_attrs.get("run_dir"),
                        )
                    )
        finally:
            optuna_storage.engine.dispose()
    finally:
        store.dispose()
    history.runs.sort(key=lambda r: (-r.score, r.study_name, r.trial_number))
    return history


def select_candidates(history: History, top: int = 3) -> tuple[list[tuple[HistoryRun, int]], str]:
    """The `top` best distinct configurations of the pool, each with how many runs in the pool
    share it, and a sentence saying what the pool was. Empty when no run qualifies."""
    top = _whole("top", top)
    runs = history.runs
    n = len(runs)
    converging = [r for r in runs if r.diagnosis == CONVERGING]
    undiagnosed = [r for r in runs if r.diagnosis is None]
    other = n - len(converging) - len(undiagnosed)
    if converging:
        pool = converging
        basis = f"{len(converging)} of {n} finished runs diagnosed converging"
        left = []
        if other:
            left.append(f"{other} diagnosed otherwise")
        if undiagnosed:
            left.append(f"{len(undiagnosed)} without a diagnosis")
        if left:
            basis += f" ({' and '.join(left)} left out)"
    elif undiagnosed:
        pool = undiagnosed
        basis = (
            f"diagnoses were missing for {len(undiagnosed)} of {n} finished runs (a search with "
            f"--no-diagnose?), so finished runs are ranked by score alone"
        )
        if other:
            basis += f" ({other} diagnosed, none converging, left out)"
    else:
        return [], f"none of the {n} finished runs was diagnosed converging"
    picked: dict[str, list[HistoryRun]] = {}
    for r in pool:  # best score first
        picked.setdefault(_identity(r.config), []).append(r)
    distinct = [(group[0], len(group)) for group in picked.values()][:top]
    return distinct, f"{basis}; {len(picked)} distinct configurations, the best {len(distinct)} retrained"


# ------------------------------------------------------------------------------------- retrain


def _claim_dir(runs_dir: Path, dataset: str) -> Path:
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


def _train_part(configs: list[Config], run_dir: Path, threads: int) -> list[dict[str, Any]]:
    """One part of the retraining as one cohort; in a worker process it has `threads` of the CPUs."""
    import torch

    from ganstab.engine.trainer import CohortTrainer

    if threads:
        torch.set_num_threads(threads)
    return CohortTrainer(configs, run_dir).train()


def default_workers(configs: list[Config]) -> int:
    """Processes to retrain in: one per CPU this process may use (small cohorts keep one core
    busy each better than one cohort keeps two: per-step work is many small operations); one on
    a GPU, which trains one cohort better than processes sharing it."""
    from ganstab.engine.device import pick_device

    if any(pick_device(c.train.device).type == "cuda" for c in configs):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _retrain(
    candidates: list[Candidate], seeds: list[int], root: Path, on_event: EventFn | None, workers: int | None
) -> None:
    """Train every candidate x seed and fill in the stats. Members that share a shape train as
    cohorts, each group split into up to `workers` parts of nearly equal size (a candidate's seeds
    stay together where the split allows), run in as many processes at once. Every member trains
    as it would alone (engine/trainer.py), so the split changes no result beyond rounding."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        groups.setdefault(shape_key(c.config), []).append(i)
    every = [c.config for c in candidates]
    workers = default_workers(every) if workers is None else _whole("workers", workers)
    parts: list[tuple[Path, list[Config], list[int]]] = []  # folder, configs, owning candidate
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
    for g, (run_dir, configs, owners) in enumerate(parts):
        who = ", ".join(
            f"{candidates[i].label} seeds {[c.train.seed for c, o in zip(configs, owners) if o == i]}"
            for i in dict.fromkeys(owners)
        )
        emit(on_event, "cohort", f"cohort {g}: {len(configs)} member(s), {who} -> {run_dir}", cohort=g,
             run_dir=str(run_dir))  # fmt: skip
    if workers == 1 or len(parts) == 1:
        summaries = [_train_part(configs, run_dir, 0) for run_dir, configs, _ in parts]
    else:  # spawn: a forked child would inherit this process's torch and Ray threads
        at_once = min(workers, len(parts))
        threads = max(1, default_workers([]) // at_once)  # the CPUs shared among the parts at once
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=at_once, mp_context=context) as pool:
            futures = [pool.submit(_train_part, configs, run_dir, threads) for run_dir, configs, _ in parts]
            summaries = [f.result() for f in futures]
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


def _prepare(cfg: Config, extra: list[str], seed: int) -> Config:
    cfg = resolve(apply_overrides(cfg, extra))
    cfg.train.seed = seed
    return cfg


def _lessons_params() -> dict[str, Any]:
    return {f"train.{k}": v for k, v in PRESETS["lessons"]["train"].items()}


# ------------------------------------------------------------------------------------- recommend


def recommend(
    dataset: str,
    *,
    storage: str,
    reseed: int = 3,
    top: int = 3,
    steps: int | None = None,
    out: Path,
    runs_dir: Path,
    overrides: Sequence[str] = (),
    on_event: EventFn | None = None,
    workers: int | None = None,
) -> Recommendation:
    """Recommend a config for `dataset` from the history in `storage` and write it to `out`.

    `reseed` new seeds per candidate, the `top` best distinct configurations (module doc: pool,
    ranking rule). `steps` (train.steps) and `overrides` (`key=value`, e.g. `train.device=cpu`) are
    applied to every retrained config and so to the written one. The reseeded cohorts train in a
    new folder under `runs_dir`, in `workers` processes at once (None: `default_workers`; 1: in
    this process). Raises ValueError (ConfigError, SearchError) naming the bad value,
    or StorageError (a RuntimeError) for a database that cannot be opened or read.
    """
    dataset = _check_dataset(dataset)
    reseed = _whole("reseed", reseed)
    if workers is not None:
        workers = _whole("workers", workers)
    top = _whole("top", top)
    if isinstance(overrides, str):
        raise ValueError(f"overrides must be a list of key=value strings, but got the string {overrides!r}.")
    extra = [*([f"train.steps={_whole('steps', steps)}"] if steps is not None else []), *overrides]
    validate(apply_overrides(Config(), extra))  # a bad override fails before any database is read
    out, runs_dir = Path(out), Path(runs_dir)

    history = find_history(dataset, storage)
    masked = history.storage
    picked, basis = select_candidates(history, top) if history.runs else ([], "")
    first = max((r.config.train.seed for r in history.runs), default=-1) + 1  # new to the history
    seeds = list(range(first, first + reseed))

    if picked:
        source = SOURCE_HISTORY
        message = f"{len(history.runs)} finished runs for {dataset} in {masked}: {basis}."
        candidates = [
            Candidate(
                label=run.label,
                config=_prepare(run.config, extra, seeds[0]),
                params=run.params,
                history_score=run.score,
                history_rank=rank,
                history_runs=count,
                diagnosis=run.diagnosis,
                study_name=run.study_name,
                trial_number=run.trial_number,
            )
            for rank, (run, count) in enumerate(picked, start=1)
        ]
    else:
        source = SOURCE_LESSONS
        if not history.runs:
            why = f" ({history.notes[0]})" if not history.available and history.notes else ""
            message = f"no history for {dataset} in {masked}{why}: recommending the lessons default."
        else:
            message = (
                f"no converging runs for {dataset} in {masked} ({basis}): recommending the lessons default."
            )
        base = apply_overrides(preset("lessons"), [f"data.name={dataset}"])
        candidates = [
            Candidate(
                label=SOURCE_LESSONS,
                config=_prepare(base, extra, seeds[0]),
                params=_lessons_params(),
                history_score=None,
                history_rank=1,
                history_runs=0,
                diagnosis=None,
            )
        ]
    for c in candidates:
        c.seeds = list(seeds)
    if extra:
        message += f" Retrained with {' '.join(extra)}."
    emit(on_event, "history", message, source=source, candidates=[c.label for c in candidates])

    root = _claim_dir(runs_dir, dataset)
    _retrain(candidates, seeds, root, on_event, workers)
    order = sorted(range(len(candidates)), key=lambda i: rank_key(candidates[i]))
    chosen = order[0]
    rec = Recommendation(
        dataset=dataset,
        storage=masked,
        source=source,
        message=message,
        config=copy.deepcopy(candidates[chosen].config),
        chosen=chosen,
        candidates=candidates,
        seeds=seeds,
        out=out,
        run_dir=root,
        history_runs=len(history.runs),
        notes=list(history.notes),
    )
    write_config(rec)
    publish(rec, storage, history.studies)
    emit(on_event, "done", f"chose {rec.best.label}; wrote {out}", out=str(out))
    return rec


# ------------------------------------------------------------------------------------- dashboard


def _attrs(rec: Recommendation) -> dict[str, str]:
    """The STUDY_ATTRS values: short strings, as the dashboard shows them."""
    best = rec.best
    values = {
        "recommended": best.label,
        "recommended_score": f"{_pm(best, 'score')} (seeds {', '.join(map(str, rec.seeds))})",
        "recommended_yaml": str(rec.out.resolve()),
        "recommended_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    assert set(values) == set(STUDY_ATTRS)
    return values


def _break_path(path: str) -> str:
    """A long path as text that a narrow note box can wrap after each '/' (a zero-width space;
    the code block below keeps the path to copy)."""
    return path.replace("/", "/\u200b")


def recommendation_note(rec: Recommendation, study_ids: dict[str, int] | None = None) -> str:
    """The recommendation as the Markdown section of a study's dashboard note: the chosen trial
    (a link to its page where its study is known), the seeds' mean and spread, the YAML's path and
    how to train it, and the candidates. Lines are short: the note box does not scroll sideways."""
    from ganstab.dashboard.server import trial_page_path

    best = rec.best
    chosen = f"**{best.label}**"
    if best.study_name is not None and best.trial_number is not None and study_ids:
        sid = study_ids.get(best.study_name)
        if sid is not None:
            chosen = f"[**{best.label}**]({trial_page_path(sid, best.trial_number)})"
    if rec.source == SOURCE_LESSONS:
        chosen += " (no converging trial in the history)"
    yaml_path = str(rec.out.resolve())
    lines = [
        NOTE_HEADING,
        "",
        f"For **{rec.dataset}**, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "(`ganstab recommend` rewrites this section).",
        "",
        f"- Chosen: {chosen}",
        f"- Score over seeds {', '.join(map(str, rec.seeds))}: **{_pm(best, 'score')}** (mean ± std)",
        f"- Mean - std: {_fmt(best.robust_score)}; failed seeds: {best.failed} of {len(best.seeds)}",
        f"- YAML: {_break_path(yaml_path)}",
        "",
        "Train it:",
        "",
        "```",
        "ganstab train --config \\",
        f"  {yaml_path}",
        "```",
        "",
        "| candidate | score (seeds) | failed |",
        "|---|---|---|",
    ]
    for i in sorted(range(len(rec.candidates)), key=lambda i: rank_key(rec.candidates[i])):
        c = rec.candidates[i]
        name = f"**{c.label}**" if i == rec.chosen else c.label
        lines.append(f"| {name} | {_pm(c, 'score')} | {c.failed}/{len(c.seeds)} |")
    lines += ["", rec.message]
    return "\n".join(lines)


def _merge_note(old: str, section: str) -> str:
    """A person's note above NOTE_HEADING kept, the section replaced (or added at the end)."""
    keep = old.split(NOTE_HEADING, 1)[0].rstrip()
    return f"{keep}\n\n{section}" if keep else section


def publish(rec: Recommendation, storage: str, studies: Sequence[str]) -> None:
    """Show `rec` in the dashboard: the STUDY_ATTRS user attributes and the note section of each
    study in `studies` (those holding runs on its data set). A study that cannot be written is
    named in `rec.notes`: the YAML is written already, and a dashboard note is no reason to fail."""
    import optuna

    from ganstab.storage.studies import open_optuna_storage

    if not studies:
        return
    opened = open_optuna_storage(storage)
    try:
        loaded = [optuna.load_study(study_name=name, storage=opened) for name in studies]
        section = recommendation_note(rec, {s.study_name: s._study_id for s in loaded})
        attrs = _attrs(rec)
        for study in loaded:
            try:
                for key, value in attrs.items():
                    study.set_user_attr(key, value)
                _save_study_note(study, section)
            except Exception as e:  # a locked or read-only database: said, not raised
                rec.notes.append(f"could not write the recommendation into study {study.study_name!r}: {e}")
                continue
            rec.studies.append(study.study_name)
    finally:
        opened.engine.dispose()


def _save_study_note(study: Any, section: str) -> None:
    try:  # optional: without optuna-dashboard the user attribute alone carries it
        from optuna_dashboard import get_note, save_note
    except ImportError:
        return
    save_note(study, _merge_note(get_note(study), section))


def _pm(c: Candidate, name: str) -> str:
    mean, std = c.mean.get(name, math.nan), c.std.get(name, math.nan)
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.3g} ± {std:.2g}"


def write_config(rec: Recommendation) -> None:
    """The chosen config as YAML with a comment header (load_yaml and `ganstab train --config`
    ignore comments)."""
    best = rec.best
    header = [
        f"# ganstab recommend --dataset {rec.dataset} ({rec.source}): {best.label}",
        *(f"# {line}" for line in _wrap(rec.message)),
        f"# score over seeds {rec.seeds}: {_pm(best, 'score')} (robust score mean - std = "
        f"{best.robust_score:.3g}; {best.failed} failed seed(s))",
        f"# train it: ganstab train --config {rec.out}",
    ]
    rec.out.parent.mkdir(parents=True, exist_ok=True)
    rec.out.write_text("\n".join(header) + "\n" + dump_yaml(rec.config))


def _wrap(text: str, width: int = 96) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


# ------------------------------------------------------------------------------------- report


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def format_report(rec: Recommendation) -> str:
    """Plain-text report for the CLI: the message, one row per candidate (chosen one marked `*`),
    mean ± std per metric over the seeds, the rule and where the YAML went."""
    metrics = [m for m in rec.best.mean if m != "score"] + ["score"]
    head = ["", "candidate", "history", "runs", "failed", *metrics, "mean-std"]
    # one order, the rule's, for the table and the parameter lines under it
    order = sorted(range(len(rec.candidates)), key=lambda i: rank_key(rec.candidates[i]))
    rows = []
    for i in order:
        c = rec.candidates[i]
        rows.append(
            [
                "*" if i == rec.chosen else "",
                c.label,
                _fmt(c.history_score),
                str(c.history_runs),
                f"{c.failed}/{len(c.seeds)}",
                *(_pm(c, m) for m in metrics),
                _fmt(c.robust_score),
            ]
        )
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    lines = [f"recommend {rec.dataset} from {rec.storage} ({rec.source})", *_wrap(rec.message), ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    lines.append("")
    for c in (rec.candidates[i] for i in order):
        params = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in c.params.items())
        lines.append(f"  {c.label}: {params}")
    lines += [
        "",
        f"Seeds {rec.seeds} (new to the history), trained in {rec.run_dir}.",
        "Rule: fewest failed seeds, then the highest mean - std of the score (sample std).",
        f"Chosen: {rec.best.label}. Config written to {rec.out}: ganstab train --config {rec.out}",
    ]
    if rec.studies:
        lines.append(
            f"The dashboard shows it in the note and user attributes of study "
            f"{', '.join(map(repr, rec.studies))}."
        )
    lines += [f"note: {n}" for n in rec.notes]
    return "\n".join(lines)
