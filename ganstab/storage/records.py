"""What ganstab's tables hand back and take in: the records of runs, evaluations, diagnoses and
labels, and the errors a Store raises. Plain data, no database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from ganstab.storage.urls import StorageError

__all__ = [
    "SettledRun",
    "USER_SOURCE",
    "DiagnosisLike",
    "DiagnosisRecord",
    "DuplicateRunError",
    "EvaluationRecord",
    "LabelledRun",
    "NotFoundError",
    "RunRecord",
    "StoredDiagnosis",
]
USER_SOURCE = "user"  # the label source of a person's own verdict


class DuplicateRunError(StorageError):
    """A run for this (study_name, trial_number) is stored already."""


class NotFoundError(StorageError, LookupError):
    """No run (or no trace) with that id."""


@dataclass(frozen=True)
class RunRecord:
    id: int
    study_name: str | None
    trial_number: int | None
    dataset: str
    config: dict[str, Any]
    status: str
    created_at: datetime


@dataclass(frozen=True)
class EvaluationRecord:
    run_id: int
    step: int
    metrics: dict[str, Any]


class DiagnosisLike(Protocol):
    """What `add_diagnosis` stores of a diagnosis (`ganstab.diagnose.result.Diagnosis` is one):
    the storage reads these attributes and knows nothing else of diagnosis, so that diagnose may
    use the storage without the storage depending on it."""

    label: str
    probabilities: Mapping[str, float]
    evidence: Mapping[str, float]
    advice: Sequence[str]
    model: str
    rows: int
    diverged_at: float | None


@dataclass(frozen=True)
class StoredDiagnosis:
    """A diagnosis as stored: the `DiagnosisLike` fields, plain values (a `Diagnosis` can be made
    from them: `Diagnosis(**dataclasses.asdict(stored))`)."""

    label: str
    probabilities: dict[str, float]
    evidence: dict[str, float]
    advice: list[str]
    model: str
    rows: int
    diverged_at: float | None


@dataclass(frozen=True)
class DiagnosisRecord:
    id: int
    run_id: int
    step: int
    diagnosis: StoredDiagnosis
    created_at: datetime


@dataclass
class SettledRun:
    """Everything a search stores of a run when it ends, for `Store.settle_runs` (one statement per
    table for a whole round): its trace, its evaluations (each with its `step`), the rules' label
    (`label`, source "rules") if any, its diagnosis at `diagnosis_step` if any, its final status."""

    run_id: int
    status: str
    trace: Mapping[str, Any]
    evaluations: Sequence[Mapping[str, Any]] = ()
    label: str | None = None
    diagnosis: DiagnosisLike | None = None
    diagnosis_step: int = 0


@dataclass(frozen=True)
class LabelledRun:
    run: RunRecord
    label: str
    source: str
    trace: dict[str, np.ndarray]
