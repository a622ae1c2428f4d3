"""Pruning a whole cohort at one evaluation: one study read, one `predict_proba`, a reason each.

`CohortPruner.decide` gives, for every live member of a cohort, the decision that Optuna's
per-trial `trial.should_prune()` with `DiagnosisPruner(wrapped=quality)` gives (tested on a fixed
history): the quality pruner first (by default a MedianPruner on `eval_score`), then the
classifier, which prunes a run confidently diagnosed collapsing (or diverged). It reads the study
once (`StudySnapshot`) and diagnoses all members in one call, where the per-trial path read the
whole study and ran the classifier once per member: O(K^2) per round.

Every decision to prune carries its reason in words (which rule, at which step, on which values),
for the trial's note in the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ganstab.diagnose.classifier import MIN_ROWS, diagnose_traces
from ganstab.diagnose.result import DIVERGED, Diagnosis
from ganstab.search.batched_writes import StudySnapshot

THRESHOLD = 0.9  # the classifier prunes at this confidence or above (DiagnosisPruner's default)
PRUNE_LABELS = ("collapsing", DIVERGED)
MIN_TRACE_ROWS = 40  # rows a trace needs before the classifier may prune it


_RULES = {"MedianPruner": "median rule", "SuccessiveHalvingPruner": "successive halving"}


@dataclass
class Verdict:
    """One member's decision at one evaluation."""

    prune: bool
    reason: str = ""  # why it was pruned, in words (empty when kept)
    rule: str = ""  # which rule at which step, short (e.g. "median rule at step 300")
    diagnosis: Diagnosis | None = None  # the classifier's view at this evaluation, if it looked (evidence only if pruned)


class CohortPruner:
    """Decides pruning for a cohort's live members at once (see the module doc)."""

    def __init__(
        self,
        quality: optuna.pruners.BasePruner | None = None,
        *,
        diagnose: bool = True,
        threshold: float = THRESHOLD,
        labels: tuple[str, ...] = PRUNE_LABELS,
        min_rows: int = MIN_TRACE_ROWS,
    ) -> None:
        if not 0.5 <= threshold <= 1.0:
            raise ValueError(f"`threshold` must be in [0.5, 1], but got {threshold}.")
        self.quality = quality
        self.diagnose = diagnose
        self.threshold = threshold
        self.labels = labels
        self.min_rows = max(min_rows, MIN_ROWS)

    def decide(
        self,
        snapshot: StudySnapshot,
        trial_ids: Sequence[int],
        traces: Sequence[dict[str, np.ndarray]],
        step: int,
    ) -> list[Verdict]:
        """Verdicts for the trials `trial_ids` (live, their reports of `step` already stored and in
        `snapshot`), whose traces so far are `traces`."""
        verdicts: list[Verdict | None] = [None] * len(trial_ids)
        snapshot.own(trial_ids)
        if self.quality is not None:
            for n, tid in enumerate(trial_ids):
                frozen = snapshot.trials_by_id[tid]
                if self.quality.prune(snapshot, frozen):  # type: ignore[arg-type]
                    rule = f"{_RULES.get(type(self.quality).__name__, type(self.quality).__name__)} at step {step}"
                    verdicts[n] = Verdict(True, _quality_reason(self.quality, snapshot, frozen, step), rule)
        if self.diagnose:
            ask = [n for n, v in enumerate(verdicts) if v is None and len(traces[n]["d_loss"]) >= self.min_rows]
            # labels and confidences only (no evidence, no advice: most members are kept), and the
            # pruned members' evidence for their reasons afterwards
            found = dict(zip(ask, diagnose_traces([traces[n] for n in ask], wait=True, explain=False)))
            prune = [n for n, d in found.items() if d is not None and d.label in self.labels and d.confidence >= self.threshold]
            found.update(zip(prune, diagnose_traces([traces[n] for n in prune], wait=True)))
            for n, d in found.items():
                if d is None:
                    continue
                why = _diagnosis_reason(d, step, self.threshold) if n in prune else ""
                verdicts[n] = Verdict(n in prune, why, f"diagnosis ({d.label}) at step {step}" if n in prune else "", d)
        return [v if v is not None else Verdict(False) for v in verdicts]


def _quality_reason(pruner: optuna.pruners.BasePruner, study: StudySnapshot, trial: FrozenTrial, step: int) -> str:
    values = trial.intermediate_values
    mine = values.get(step, values[max(values)] if values else float("nan"))
    name = type(pruner).__name__
    if isinstance(pruner, optuna.pruners.MedianPruner):
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if step in t.intermediate_values
        ]
        best = max(values.values()) if values else float("nan")
        return (
            f"Pruned by the median rule ({name}) at step {step}: its best intermediate value so far, {best:.3g}, "
            f"was below the median, {float(np.nanmedian(peers)):.3g}, of the {len(peers)} completed "
            f"trials' intermediate values at that step (eval_score; under asha the graded score on mixtures)."
            if peers
            else f"Pruned by {name} at step {step} (intermediate value {mine:.3g})."
        )
    return f"Pruned by {name} at step {step} (intermediate value {mine:.3g})."


def _diagnosis_reason(d: Diagnosis, step: int, threshold: float) -> str:
    shown = ", ".join(f"{k} {v:.3g}" for k, v in list(d.evidence.items())[:4])
    return (
        f"Pruned by the diagnosis at step {step}: the classifier ('{d.model}' model, {d.rows} trace rows) "
        f"called the run {d.label} with confidence {d.confidence:.2f} (threshold for pruning: "
        f"{threshold:.2f}). Evidence: {shown}."
    )
