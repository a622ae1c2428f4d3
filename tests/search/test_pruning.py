"""A cohort's pruning decided at once matches Optuna's per-trial `should_prune` on a fixed history."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from ganstab.diagnose import DiagnosisPruner
from ganstab.diagnose.classifier import diagnose_trace, diagnose_traces, held_out
from ganstab.diagnose.corpus_files import SHIPPED_CORPUS
from ganstab.diagnose.examples import labelled_examples
from ganstab.diagnose.features import OPTIONAL_COLUMNS
from ganstab.search.batched_writes import BatchedWrites, StudySnapshot
from ganstab.search.pruning import CohortPruner

STEP = 600


def _monitor_view(trace: dict[str, np.ndarray], rows: int | None = None) -> dict[str, np.ndarray]:
    cols = ["step", "d_loss", "g_loss", *(c for c in OPTIONAL_COLUMNS if c in trace)]
    return {c: np.asarray(trace[c][:rows], float) for c in cols}


@pytest.fixture(scope="module")
def traces() -> list[dict[str, np.ndarray]]:
    """Held-out corpus runs of every label, the most confident collapses first (so that the
    classifier prunes some), a short one (under the 40 rows the classifier needs) and one that
    diverged."""
    examples = [e for e in labelled_examples(SHIPPED_CORPUS)[0] if held_out(e.id)]
    collapsing = sorted(
        (e for e in examples if e.label == "collapsing"),
        key=lambda e: -diagnose_trace(_monitor_view(e.trace)).probabilities["collapsing"],
    )[:4]
    others = [e for e in examples if e.label == "converging"][:4] + [e for e in examples if e.label == "oscillating"][:3]
    out = [_monitor_view(e.trace) for e in collapsing + others]
    out.append(_monitor_view(others[0].trace, rows=30))
    diverged = _monitor_view(others[1].trace)
    diverged["d_loss"][len(diverged["d_loss"]) // 2 :] = np.inf
    out.append(diverged)
    return out


def _history(url: str, traces: list[dict[str, np.ndarray]]) -> tuple[optuna.Study, list[int]]:
    """Eight COMPLETE trials with intermediate values, then one RUNNING trial per trace, each
    having reported an eval_score at STEP (the median of the completed ones is about 0.5)."""
    study = optuna.create_study(storage=url, study_name="h", direction="maximize")
    rng = np.random.default_rng(0)
    for v in rng.uniform(0.2, 0.8, size=8):
        study.add_trial(
            optuna.trial.create_trial(value=float(v), intermediate_values={300: float(v) - 0.1, STEP: float(v)})
        )
    ids = []
    for n in range(len(traces)):
        trial = study.ask()
        trial.report(0.1 + 0.8 * ((n * 7) % len(traces)) / len(traces), STEP)
        ids.append(trial._trial_id)
    return study, ids


QUALITY = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5),
    # rungs at 300 and 900: at step 600 every trial is on rung 0 and competes with the round's
    # earlier members' rung values, which the per-trial path reads back from the database
    "successive-halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=300, reduction_factor=3),
}


@pytest.mark.parametrize("quality", sorted(QUALITY))
def test_cohort_decisions_match_per_trial_should_prune(tmp_path, traces, quality):
    # Per trial, as a search did before: a DiagnosisPruner wrapping the quality pruner, its
    # monitor fed the trace, `trial.should_prune()` reading the study each time.
    study, ids = _history(f"sqlite:///{tmp_path / 'one.db'}", traces)
    per_trial = DiagnosisPruner(wrapped=QUALITY[quality]())
    study.pruner = per_trial
    expected = []
    for tid, trace in zip(ids, traces):
        trial = optuna.Trial(study, tid)
        monitor = per_trial.monitor_for(trial)
        for r in range(len(trace["step"])):
            monitor.update(int(trace["step"][r]), trace["d_loss"][r], trace["g_loss"][r],
                           **{c: trace[c][r] for c in trace if c not in ("step", "d_loss", "g_loss")})  # fmt: skip
        expected.append(trial.should_prune())

    # The same history in a fresh database, decided for the whole cohort from one snapshot.
    study, ids = _history(f"sqlite:///{tmp_path / 'all.db'}", traces)
    writes = BatchedWrites(study._storage)
    verdicts = CohortPruner(QUALITY[quality]()).decide(StudySnapshot(study, writes), ids, traces, STEP)
    assert [v.prune for v in verdicts] == expected
    # the history exercises every path: kept, pruned on quality, pruned by the classifier
    assert any(expected) and not all(expected)
    rules = [v.rule for v in verdicts if v.prune]
    assert any(r.startswith(("median rule", "successive halving")) for r in rules)
    assert any(r.startswith("diagnosis") for r in rules)
    assert all(f"step {STEP}" in v.reason for v in verdicts if v.prune)
    # the classifier's pruned members carry their evidence (named in the reason); the members it
    # kept were read for label and confidence only, as the full diagnosis gives them
    by_classifier = [(v, t) for v, t in zip(verdicts, traces) if v.rule.startswith("diagnosis")]
    assert all(v.diagnosis.evidence and v.diagnosis.advice for v, _ in by_classifier)
    assert all(next(iter(v.diagnosis.evidence)) in v.reason for v, _ in by_classifier)
    kept = [(v, t) for v, t in zip(verdicts, traces) if not v.prune and v.diagnosis is not None]
    assert kept and all(not v.diagnosis.evidence and not v.diagnosis.advice for v, _ in kept)
    for v, t in kept:
        full = diagnose_trace(t, wait=True)
        assert (v.diagnosis.label, v.diagnosis.probabilities, v.diagnosis.uncertain) == (
            full.label, full.probabilities, full.uncertain,
        )  # fmt: skip
    writes.flush()  # what the pruner recorded (rung values) lands with the round
    if quality == "successive-halving":
        recorded = [t for t in study.trials if "completed_rung_0" in t.system_attrs]
        assert len(recorded) >= len([v for v in verdicts if not v.rule.startswith("diagnosis")])


def test_batched_diagnosis_equals_one_by_one(traces):
    batched = diagnose_traces(traces, wait=True)
    for trace, d in zip(traces, batched):
        one = diagnose_trace(trace, wait=True) if len(trace["d_loss"]) >= 20 else None
        if one is None:
            assert d is None
            continue
        assert d.label == one.label and d.model == one.model
        assert d.probabilities == pytest.approx(one.probabilities, abs=1e-9)


