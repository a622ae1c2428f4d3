"""What a settled member says of itself: its value (`late_score`, by the study's objective), the
value its pruners rank at an evaluation (`rung_value`), and its note for the dashboard
(`note_text`), its trial's user attributes (`member_attrs`) and the rules' label of it
(`ground_truth`). Plain functions of numbers and text (no torch)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ganstab.diagnose.labels import LATE_FRACTION
from ganstab.diagnose.result import Diagnosis
from ganstab.search.cohort_job import MemberResult
from ganstab.search.outcomes import ATTR_STATUS
from ganstab.search.settings import OBJECTIVES

__all__ = ["finite", "ground_truth", "late_score", "member_attrs", "note_text", "rung_value"]


def finite(value: Any) -> Any:
    """JSON for Optuna's user attributes and the dashboard: NaN/Inf become None."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def rung_value(member: dict[str, Any], graded: bool = False) -> float | None:
    """A member's intermediate value at an evaluation, what the pruners rank: `eval_score`, or
    with `graded` (asha) the graded score where the data set has one (mixtures: it tells a G whose
    samples are near the modes from one whose samples are nowhere, where `eval_score` is 0 for
    both, so successive halving's early rungs do not rank ties). A finished trial's value is its
    late score of `eval_score` either way."""
    value = member.get("eval_graded") if graded else None
    return value if value is not None else member.get("eval_score")


def late_score(evals: Sequence[dict[str, Any]], objective: str = "late-mean") -> float | None:
    """A finished trial's value from the `score` of the last third of its evaluations (at least the
    last one): their mean (`late-mean`), or their mean minus their standard deviation
    (`late-robust`: a configuration whose quality swings between evaluations swings between seeds
    too). None when the last evaluation has no finite score (its samples were not finite)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    if not evals or finite(evals[-1].get("score")) is None:
        return None
    late = evals[-max(1, round(len(evals) * LATE_FRACTION)) :]
    values = [v for v in (finite(e.get("score")) for e in late) if v is not None]
    return float(np.mean(values) - (np.std(values) if objective == "late-robust" else 0.0))


def note_text(
    result: MemberResult,
    diagnosis: Diagnosis | None = None,
    params: dict | None = None,
    objective: str = "late-mean",
) -> str:
    """A trial's note in Markdown, as the dashboard shows it on the trial's page. Table cells stay
    short (numbers to 4 significant digits, strings unquoted): the page is no wider than the window."""

    def cell(v: Any) -> str:
        return format(v, ".4g") if isinstance(v, float) else str(v)

    head = {
        "finished": "Finished",
        "pruned": "Pruned",
        "diverged": "Diverged",
        "no_score": "Finished without a finite score",
        "error": "Failed with an error",
        "interrupted": "Interrupted",
    }.get(result.status, result.status)
    lines = [f"### Trial {result.trial_number}: {head}", ""]
    if result.value is not None:
        lines.append(
            f"Score ({'mean' if objective == 'late-mean' else 'mean minus spread of'} `eval_score` of the "
            f"last third of its evaluations): **{result.value:.4g}** "
            f"after {result.steps_trained} steps."
        )
    else:
        lines.append(f"Trained {result.steps_trained} steps.")
    metrics = result.metrics or {}
    if metrics.get("eval_fd_proxy") is not None and metrics.get("eval_fid") is None:
        from ganstab.engine.metrics import SCORE_WORDS  # the proxy named as one wherever it scores

        lines.append(f"The score is {SCORE_WORDS['images_proxy']}.")
    if result.diverged_at is not None:
        lines.append(f"Losses turned NaN/Inf at step {result.diverged_at}.")
    if result.pruned_because:
        lines += ["", result.pruned_because]
    if result.error:
        lines.append(f"Error: `{result.error}`")
    if params:
        lines += ["", "| parameter | value |", "|---|---|"]
        lines += [f"| `{k}` | {cell(v)} |" for k, v in params.items()]
    if result.metrics:
        lines += ["", "| metric | value |", "|---|---|"]
        lines += [f"| `{k}` | {'-' if v is None else cell(v)} |" for k, v in result.metrics.items()]
    if diagnosis is not None:
        lines += ["", f"**Diagnosis: {diagnosis.verdict}**"]  # the words of `ganstab diagnose`
        lines += [f"- {a}" for a in diagnosis.advice]
    if result.run_dir:
        lines += ["", f"Run folder: `{result.run_dir}`"]
    return "\n".join(lines)


def member_attrs(
    result: MemberResult, diagnosis: Diagnosis | None, evals: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The user attributes of a settled member's trial (`evals`: its evaluations, for the late mean)."""
    attrs: dict[str, Any] = {
        ATTR_STATUS: result.status,
        "steps_trained": result.steps_trained,
        "run_dir": result.run_dir,
        **result.metrics,
    }
    if result.value is not None:
        attrs["late_score"] = result.value  # the trial's value, by the study's objective
        # the plain late mean too, comparable across studies of either objective (recommend)
        attrs["late_mean"] = late_score(evals)
    if result.diverged_at is not None:
        attrs["diverged_at"] = result.diverged_at
    if result.pruned_by:
        attrs["pruned_by"] = result.pruned_by  # the rule, short; its values are in the note
    if diagnosis is not None:
        attrs["diagnosis"] = diagnosis.label
        attrs["diagnosis_confidence"] = finite(diagnosis.confidence)
        # rounded: each attribute is one line of the dashboard's trial page, which never wraps
        attrs["diagnosis_probabilities"] = {
            k: round(v, 3) for k, v in finite(dict(diagnosis.probabilities)).items() if v is not None
        }
    return attrs


def ground_truth(evals: list[dict[str, Any]], diverged_at: int | None) -> str | None:
    """The rules' label of a member from its evaluations (docs/labels.md), or None."""
    from ganstab.diagnose.labels import label_run

    n_modes = next((len(e["near"]) for e in evals if e.get("near")), 0)
    if not n_modes and diverged_at is None:
        return None  # a metric family without mode histograms: no ground truth
    return label_run(evals, diverged_at, n_modes)[0]
