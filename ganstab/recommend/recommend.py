"""Recommend a configuration for a data set: history -> candidates -> reseeded cohort -> YAML.

The steps, each in its module: the history of the data set in a storage (`history`), the best
distinct converging configurations and the rule that chooses among them (`candidates`), their
retraining on new seeds (`retraining`: one above the largest seed in the history, so none repeats
a run the search already saw), the YAML and the report (`report`), and the note and attributes
that show it in optuna-dashboard (`publishing`).

The chosen config is written as YAML (resolved, seed = the first new seed, `steps`/`overrides`
applied as retrained) with a comment header; `ganstab train --config FILE` accepts it.

Without history (no such SQLite file, no ganstab tables, no finished run on the data set, or none
diagnosed converging) the configuration ganstab ships for the data set (`ganstab.zoo`, labelled
"shipped"), or else the lessons preset on it, is retrained the same way, for its mean and spread,
and written; the message says so. A search's history always comes first.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ganstab.checks import whole_number
from ganstab.engine.config import PRESETS, Config, apply_values, flat_items, parse_overrides, preset, validate
from ganstab.recommend.candidates import (
    SOURCE_HISTORY,
    SOURCE_LESSONS,
    SOURCE_SHIPPED,
    Candidate,
    Recommendation,
    ranked,
    select_candidates,
)
from ganstab.recommend.history import History, check_dataset, find_history
from ganstab.recommend.publishing import publish
from ganstab.recommend.report import write_config
from ganstab.recommend.retraining import claim_dir, prepare, retrain
from ganstab.search.events import EventFn, emit
from ganstab.zoo import PREFIX, entry_header, shipped_for, zoo_config

__all__ = ["recommend"]


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
    factory: str | None = None,
) -> Recommendation:
    """Recommend a config for `dataset` from the history in `storage` and write it to `out`.

    `reseed` new seeds per candidate, the `top` best distinct configurations (see
    `ganstab.recommend.candidates`: pool, ranking rule). `steps` (train.steps) and `overrides`
    (`key=value`, e.g. `train.device=cpu`) are applied to every retrained config and so to the
    written one. The reseeded cohorts train in a new folder under `runs_dir`, in `workers`
    processes at once (None: `default_workers`; 1: in this process). `factory`: for data set
    "factory", the `data.factory` whose runs count (history.find_history). Raises ValueError
    (ConfigError, SearchError) naming the bad value, or StorageError (a RuntimeError) for a
    database that cannot be opened or read.
    """
    dataset = check_dataset(dataset)
    reseed = whole_number("reseed", reseed)
    if workers is not None:
        workers = whole_number("workers", workers)
    top = whole_number("top", top)
    extra, values = _retraining_values(steps, overrides)
    out, runs_dir = Path(out), Path(runs_dir)

    history = find_history(dataset, storage, factory=factory)
    first = max((r.config.train.seed for r in history.runs), default=-1) + 1  # new to the history
    seeds = list(range(first, first + reseed))
    source, message, candidates = _candidates(history, top, values, seeds[0])
    for c in candidates:
        c.seeds = list(seeds)
    if extra:
        message += f" Retrained with {' '.join(extra)}."
    emit(on_event, "history", message, source=source, candidates=[c.label for c in candidates])

    root = claim_dir(runs_dir, dataset)
    retrain(candidates, seeds, root, on_event, workers)
    chosen = ranked(candidates)[0]
    rec = Recommendation(
        dataset=dataset,
        storage=history.storage,
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


def _retraining_values(steps: int | None, overrides: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """--steps and --set as the text the message repeats and as the values every retrained config
    gets (parsed here, once); a bad one fails before any database is read."""
    if isinstance(overrides, str):
        raise ValueError(f"overrides must be a list of key=value strings, but got the string {overrides!r}.")
    extra = [*([f"train.steps={whole_number('steps', steps)}"] if steps is not None else []), *overrides]
    values = parse_overrides(extra)
    validate(apply_values(Config(), values))
    return extra, values


def _candidates(
    history: History, top: int, values: Mapping[str, Any], seed: int
) -> tuple[str, str, list[Candidate]]:
    """(source, message, candidates): the history's best distinct configurations, or when the
    history has none to offer the shipped configuration for the data set, else the lessons default,
    each with the retraining's values on `seed`."""
    dataset, masked = history.dataset, history.storage
    picked, basis = select_candidates(history, top) if history.runs else ([], "")
    if picked:
        message = f"{len(history.runs)} finished runs for {dataset} in {masked}: {basis}."
        candidates = [
            Candidate(
                label=run.label,
                config=prepare(run.config, values, seed),
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
        return SOURCE_HISTORY, message, candidates
    if not history.runs:
        why = f" ({history.notes[0]})" if not history.available and history.notes else ""
        message = f"no history for {dataset} in {masked}{why}"
    else:
        message = f"no converging runs for {dataset} in {masked} ({basis})"
    shipped = _shipped(dataset, values, seed)
    if shipped is not None:  # the zoo's answer, found and measured by ganstab's own search
        candidate, found = shipped
        message += f": offering the configuration ganstab ships for it, {candidate.label}{found}."
        return SOURCE_SHIPPED, message, [candidate]
    message += ": recommending the lessons default."
    base = apply_values(preset("lessons"), {"data.name": dataset})
    lessons = Candidate(
        label=SOURCE_LESSONS,
        config=prepare(base, values, seed),
        params={f"train.{k}": v for k, v in PRESETS["lessons"]["train"].items()},
        history_score=None,
        history_rank=1,
        history_runs=0,
        diagnosis=None,
    )
    return SOURCE_LESSONS, message, [lessons]


def _shipped(dataset: str, values: Mapping[str, Any], seed: int) -> tuple[Candidate, str] | None:
    """The configuration ganstab's zoo ships for `dataset` as a candidate labelled `shipped
    zoo:NAME` (params: its train values that differ from the defaults) and its header's first line
    for the message, or None when the zoo has none for it."""
    name = shipped_for(dataset)
    if name is None:
        return None
    cfg, defaults = zoo_config(name), flat_items(Config())
    params: dict[str, Any] = {k: v for k, v in flat_items(cfg).items() if k.startswith("train.") and v != defaults[k]}
    header = entry_header(name)
    found = f" ({header[0].rstrip('.')})" if header else ""
    candidate = Candidate(
        label=f"{SOURCE_SHIPPED} {PREFIX}{name}",
        config=prepare(cfg, values, seed),
        params=params,
        history_score=None,
        history_rank=1,
        history_runs=0,
        diagnosis=None,
    )
    return candidate, found
