"""What the driver hands an executor, and what it gets back: a `CohortJob` (one cohort's trials
with the search's settings: plain, picklable data for a Ray task) and a `MemberResult` per trial.
A light module (no torch), so an executor can be imported without the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ganstab.engine.config import Config
from ganstab.search.errors import SearchError
from ganstab.search.settings import OBJECTIVES, SearchSettings

__all__ = ["CohortJob", "MemberResult"]


def _setting(name: str, doc: str = "") -> Any:
    """A read-only property of a job that is its settings' `name`."""
    return property(lambda job: getattr(job.settings, name), doc=doc or f"The search's `{name}`.")


@dataclass(frozen=True)
class CohortJob:
    """Everything a worker needs to run one cohort: the search's settings, which trials, their
    resolved configs. Plain data, picklable for a Ray task; the settings' values a cohort uses
    are properties of the job (`job.prune`, `job.objective`, ...)."""

    settings: SearchSettings  # the run's settings (its objective the study's own, see run_search)
    index: int  # cohort number within the study (folder cohort-NNN)
    run_dir: str  # the cohort's run folder
    trial_ids: tuple[int, ...]  # Optuna trial ids, one per member
    trial_numbers: tuple[int, ...]
    configs: tuple[Config, ...]  # resolved member configs (shape-compatible)
    deadline: float | None = None  # time.time() after which no waiting trial starts (--timeout)
    # each trial's parameters as asked (for its note); empty: the cohort reads them from the study
    params: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:  # before a cohort trains, not after
        if not isinstance(self.settings, SearchSettings):
            raise SearchError(f"a CohortJob needs SearchSettings, but got {type(self.settings).__name__}.")

    # the settings a cohort runs with, read through the job
    storage_url = _setting("storage", "The database of the study (Optuna's tables and ganstab's).")
    study_name = _setting("study_name")
    prune = _setting("prune")
    diagnose = _setting("diagnose")
    quality_pruner = _setting("quality_pruner", "On eval_score; None: no quality pruning.")
    heartbeat_interval = _setting("heartbeat_interval")
    grace_period = _setting("grace_period")
    slots = _setting(
        "slots",
        "Members trained at once; 0: all trials. With fewer slots than trials, a slot whose member "
        "ends (pruned, diverged, finished) is refilled with the next waiting trial (multi-fidelity).",
    )

    @property
    def artifact_dir(self) -> str:
        """FileSystemArtifactStore root (shared by all cohorts of the study)."""
        return str(self.settings.artifact_dir)

    @property
    def objective(self) -> str:
        """How a finished trial's value is made (`late_score`)."""
        return self.settings.objective or OBJECTIVES[0]

    @property
    def graded(self) -> bool:
        """Report the graded score as the intermediate value where the data set has one (asha: its
        early rungs must rank trials whose eval_score is still 0); else eval_score."""
        return self.settings.scheduler == "asha"

    @property
    def live(self) -> int:
        """How many members train at once."""
        return min(self.slots or len(self.trial_ids), len(self.trial_ids))


@dataclass
class MemberResult:
    """How one member (one trial) ended."""

    trial_number: int
    state: str  # COMPLETE | PRUNED | FAIL
    status: str  # finished | pruned | diverged | no_score | error | interrupted | lost
    value: float | None  # the told value (COMPLETE only)
    metrics: dict[str, float | None] = field(default_factory=dict)  # final eval_* values
    steps_trained: int = 0
    diverged_at: int | None = None
    run_dir: str = ""
    diagnosis: str | None = None
    error: str | None = None
    pruned_by: str | None = None  # which rule pruned it, at which step (short, an attribute)
    pruned_because: str | None = None  # ... and on which values, in words (the note)
    node: str = ""  # the Ray node that trained it, when not the driver's ("IP (node id...)")

