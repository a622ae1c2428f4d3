"""The diagnosis of a read log: `diverged` by rule where the reader saw a sign of it, else the
classifier's label."""

from __future__ import annotations

import math

from ganstab.diagnose.logs.results import LoadedLog, LogError
from ganstab.diagnose.result import DIVERGED, Diagnosis


def diagnose_log(log: LoadedLog, *, model: str = "auto", context: dict | None = None) -> Diagnosis:
    """The diagnosis of one read log: `diverged` by rule when the reader saw a sign of it (in any
    column, or in the run's summary.json), else the classifier's label (classifier.diagnose_trace).
    The advice reads `log.context` (a ganstab run's config), overridden key by key by `context`
    (what the user said: `ganstab diagnose --data/--arch/--loss/--uses`); the result carries the merge."""
    from ganstab.diagnose.advice import advice_for
    from ganstab.diagnose.classifier import MODELS, choose_model, diagnose_trace
    from ganstab.diagnose.context import check_context

    if log.error is not None:
        raise LogError(log.error)
    given = check_context(context)
    uses = {**log.context.get("uses", {}), **given.get("uses", {})}  # --uses overrides the config key by key
    context = {**log.context, **given} | ({"uses": uses} if uses else {})
    if log.diverged_at is None:
        return diagnose_trace(log.trace, model=model, context=context)
    if model != "auto" and model not in MODELS:
        raise ValueError(f"Unknown diagnosis model {model!r}; choose one of auto, {', '.join(MODELS)}.")
    kind = choose_model(log.trace) if model == "auto" else model
    at = log.diverged_at if math.isfinite(log.diverged_at) else None
    ev = {"diverged_at": log.diverged_at}
    rows = len(log.trace.get("step", ()))
    return Diagnosis(
        DIVERGED, {}, ev, advice_for(DIVERGED, ev, context), kind, rows, at, log.diverged_why, context=context
    )
