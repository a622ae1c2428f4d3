"""The history of a data set: the finished search trials on it in a storage, with their verdicts.

Where the history comes from. A search writes two things per trial into one database: Optuna's
trial (state, value = `ganstab.search.member_report.late_score`, params, user attributes) and ganstab's
own run row (`ganstab_runs`: data set name, the resolved config as JSON, status) with its
diagnoses and labels.
The run row is the only place that names the data set and holds the whole config, and the Optuna
trial is the authority on whether the run finished (COMPLETE) and on its score. So the history of
a data set is: every run row with `dataset == NAME` that belongs to a study, joined by (study name,
trial number) to a COMPLETE trial with a finite value of that study; studies of any name count.
Every user data set is named "factory": given its `data.factory` ("pkg.mod:fn"), only the runs
on that factory count, so two users' data sets are not pooled.
Run rows without an Optuna trial (deleted study, `ganstab train` runs) and Optuna trials without a
run row (someone else's study) are left out: either the verdict or the config would be unknown.

The verdict of a run is, in order: a person's ground-truth label (`Store.set_label(...,
source="user")`), else the latest diagnosis stored for the run (`Store.add_diagnosis`, which the
search's diagnosis writes and a later re-diagnosis appends to), else the trial's `diagnosis`
attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ganstab.engine.config import Config, ConfigError, did_you_mean, from_dict, resolve
from ganstab.storage import Store
from ganstab.storage.urls import is_memory_sqlite, mask_url, normalize_url, why_empty

__all__ = ["CONVERGING", "History", "HistoryRun", "check_dataset", "find_history"]

CONVERGING = "converging"
USER_SOURCE = "user"  # the label source of a person's own verdict (ganstab.storage)


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


def check_dataset(dataset: Any) -> str:
    """`dataset` if it names a registered data set, else ValueError naming it."""
    from ganstab.engine.dataset_registry import DATASETS

    if not isinstance(dataset, str) or dataset not in DATASETS:
        hint = did_you_mean(str(dataset), DATASETS, quote="'")
        raise ValueError(f"unknown data set {dataset!r}{hint}; choose one of: {', '.join(DATASETS.names())}.")
    return dataset


def _absent(url: str) -> str | None:
    """Why the storage certainly holds no history without connecting (`why_empty`: opening a
    missing SQLite file would create it), in the words of the recommendation, else None."""
    if why_empty(url) is None:
        return None
    if is_memory_sqlite(url):
        return "an in-memory database holds no history"
    return f"there is no database file {normalize_url(url).database}"


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


def find_history(dataset: str, storage: str, *, factory: str | None = None) -> History:
    """Every COMPLETE trial with a finite score, of any study in `storage`, whose run trained on
    `dataset` (and, given `factory`, on that `data.factory`), best score first (see the module doc
    for the join). Reads only: a missing SQLite file is not created, a database without ganstab's
    or Optuna's tables is not written to."""
    from sqlalchemy import inspect

    dataset = check_dataset(dataset)
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
            if r.study_name is not None and r.trial_number is not None and _on_factory(r.config, factory)
        }
        if rows:
            _read_studies(history, store, storage, rows)
    finally:
        store.dispose()
    history.runs.sort(key=lambda r: (-r.score, r.study_name, r.trial_number))
    return history


def _on_factory(config: Any, factory: str | None) -> bool:
    """Whether a run row's stored config trained on `factory` (None: any data.factory)."""
    if factory is None:
        return True
    data = config.get("data") if isinstance(config, dict) else None
    return isinstance(data, dict) and data.get("factory") == factory


def _read_studies(history: History, store: Store, storage: str, rows: dict[tuple[str, int], Any]) -> None:
    """Add the finished trials of every study that holds one of `rows` (run rows by (study,
    trial number)) to `history`; a study that cannot count is named in its notes."""
    import optuna
    from optuna.study import StudyDirection

    from ganstab.storage.studies import open_optuna_storage

    optuna_storage = open_optuna_storage(storage, immediate=False)  # reads only: no write lock
    try:
        summaries = {
            s.study_name: s for s in optuna.get_all_study_summaries(optuna_storage, include_best_trial=False)
        }
        for name in sorted({name for name, _ in rows}):
            summary = summaries.get(name)
            if summary is None:
                history.notes.append(f"runs of study {name!r} have no Optuna study (deleted?): left out")
                continue
            if summary.directions != [StudyDirection.MAXIMIZE]:
                history.notes.append(f"study {name!r} does not maximize eval_score: left out")
                continue
            study = optuna.load_study(study_name=name, storage=optuna_storage)
            history.studies.append(name)
            _read_trials(history, store, study, rows)
    finally:
        optuna_storage.engine.dispose()


def _read_trials(history: History, store: Store, study: Any, rows: dict[tuple[str, int], Any]) -> None:
    """The study's COMPLETE trials with a finite value and a run row, as HistoryRuns."""
    from optuna.trial import TrialState

    name = study.study_name
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
