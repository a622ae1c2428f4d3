"""One cohort of a search, start to finish: the unit of execution the driver hands to an executor.

`run_cohort(job)` trains the job's member configs as one `CohortTrainer` and settles every member
as an Optuna trial by itself: it reports its `rung_value` at each evaluation (`eval_score`; under
asha the graded score on mixtures), asks the study's pruner,
stops pruned members, and for each member writes the user attributes, the artifacts, ganstab's own
tables (run, trace, evaluations, diagnosis) and finally the trial's state. The job is plain,
picklable data (storage URL, trial ids, configs), so a Ray remote task can call `run_cohort(job)`
unchanged on another process or host: Optuna's own ask/tell against the shared storage gives true
PRUNED states and complete curves there too (tests/search/test_ray_executor.py runs it so). The in-process
executor passes its open storage and Store to save reconnecting.

Trial states (the driver counts them against `n_trials`, see `counts_toward_budget`):

- finished   COMPLETE with the *late score*: the mean `eval_score` over the last third of its
             evaluations (`late_score`; `late-robust` studies take the spread off), the window
             docs/labels.md judges a run by. Not the last
             evaluation alone: on a mixture HQ can swing from 85 % to 33 % between two evaluations,
             and a configuration that swings in time swings across seeds too (lesson 2: never judge
             a run by one point). The last evaluation stays in the `eval_score` attribute.
- pruned     PRUNED, told without a value (Optuna refuses one and takes the last intermediate value).
- diverged   FAIL, as Optuna itself treats a NaN objective, with `status=diverged` and
             `diverged_at`; it still counts toward `n_trials`: the configuration was tried and the
             answer is "it diverges" (retrying new samples instead would make the cost of a search
             unbounded where most of a space diverges).
- no_score   FAIL: finished, but its last score is NaN/Inf (its samples were not finite).
- error      FAIL with `error`: the cohort raised. Not counted; a crash is re-raised, never retried.
- interrupted FAIL with `error`, and its parameters re-enqueued (Ctrl-C, SystemExit).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from ganstab.curves import svg_curves
from ganstab.diagnose.classifier import choose_model, diagnose_traces
from ganstab.diagnose.monitor import OPTIONAL as MONITOR_EXTRA
from ganstab.diagnose.result import DIVERGED, Diagnosis
from ganstab.engine.config import Config, to_dict
from ganstab.engine.trainer import CohortTrainer
from ganstab.search.batched_writes import (
    BatchedWrites,
    StudySnapshot,
    final_values,
    note_attrs,
    upload_artifact,
)
from ganstab.search.cohort_job import CohortJob, MemberResult
from ganstab.search.errors import SearchError
from ganstab.search.heartbeat import Heartbeat, worker_id
from ganstab.search.member_report import finite, ground_truth, late_score, member_attrs, note_text, rung_value
from ganstab.search.outcomes import ATTR_WORKER, StaleTrialRequeuer, fail_trial
from ganstab.search.pruning import CohortPruner
from ganstab.search.settings import check_classifier
from ganstab.storage import Store
from ganstab.storage.records import SettledRun
from ganstab.storage.studies import open_optuna_storage

__all__ = ["build_pruner", "run_cohort"]

log = logging.getLogger(__name__)
# each trial's d_loss/g_loss plot, an artifact beside its newest sample picture
TRACE_PLOT = "trace.svg"


def build_pruner(job: CohortJob) -> CohortPruner | None:
    """The cohort's pruner: the quality pruner (never a raw loss), then the classifier when
    `diagnose`; None without pruning."""
    if not job.prune:
        return None
    return CohortPruner(job.quality_pruner, diagnose=job.diagnose)


# --------------------------------------------------------------------------------------- cohort


def run_cohort(
    job: CohortJob,
    *,
    storage: optuna.storages.BaseStorage | None = None,
    store: Store | None = None,
    scratch: str | None = None,
) -> list[MemberResult]:
    """Train the job's cohort and settle each member's trial (see the module doc for the states).

    `storage` and `store` default to new connections to `job.storage_url` (a Ray worker); the
    local executor passes its own. `scratch`: a folder of this machine that the cohort writes its
    run folder (`scratch/cohort`) and artifacts (`scratch/artifacts`) in, instead of the job's
    (a cohort on another node than the driver's, whose files are sent back); the paths the study
    records stay the job's. A cohort that raises tells its unfinished trials FAIL and re-raises."""
    if job.diagnose:
        check_classifier()
    if storage is None:
        storage = open_optuna_storage(
            job.storage_url, heartbeat_interval=job.heartbeat_interval, grace_period=job.grace_period
        )
    own_store = store is None
    store = store if store is not None else Store(job.storage_url)
    try:
        return _CohortRun(job, storage, store, scratch).run()
    finally:
        if own_store:
            store.dispose()


class _CohortRun:
    """One cohort's training and the bookkeeping of its trials, batched per evaluation round: the
    reports in one transaction, the pruning of all members from one study read and one
    `predict_proba` (`CohortPruner`), and the members that end in a round settled together (one
    transaction for ganstab's tables, one for Optuna's). Trials are numbered by their place in
    the job (`n`); `slot_trial[i]` is the trial cohort slot i trains now. A freed slot takes the
    next waiting trial (`job.slots`)."""

    def __init__(
        self, job: CohortJob, storage: optuna.storages.BaseStorage, store: Store, scratch: str | None = None
    ) -> None:
        if not (len(job.configs) == len(job.trial_ids) == len(job.trial_numbers)) or not job.configs:
            raise SearchError(
                f"cohort {job.index}: needs one config per trial, but got {len(job.configs)} configs "
                f"for trials {list(job.trial_numbers)}."
            )
        self.job = job
        self.store = store
        self.pruner = build_pruner(job)
        self.study = optuna.Study(job.study_name, storage, sampler=optuna.samplers.RandomSampler())
        self.storage = self.study._storage
        self.writes = BatchedWrites(self.storage)
        self.scratch = Path(scratch) if scratch else None
        artifact_dir = self.scratch / "artifacts" if self.scratch else Path(job.artifact_dir)
        self.artifacts = optuna.artifacts.FileSystemArtifactStore(str(artifact_dir))
        artifact_dir.mkdir(parents=True, exist_ok=True)
        live = job.live
        # A trial's folder keeps its newest samples and no checkpoint (a search re-runs lost trials)
        self.trainer = CohortTrainer(
            list(job.configs[:live]), str(self.scratch / "cohort") if self.scratch else job.run_dir,
            samples="last", checkpoints=False, reserve=list(job.configs[live:]),
        )  # fmt: skip
        self.slot_trial = list(range(live))  # the trial (index in the job) each slot trains
        self.waiting = list(range(live, len(job.configs)))  # trials not started yet
        self.results: dict[int, MemberResult] = {}  # by trial index
        self.reasons: dict[int, tuple[str, str]] = {}  # trial -> (rule, why in words), for its note
        self.run_ids: list[int] = []
        # what the cohort reported of each trial ({step: value}, by trial index): a settling
        # trial's final value is its last one (Optuna's rule for PRUNED), known without a read
        self.intermediate: dict[int, dict[int, float]] = {}
        self._heartbeat: Heartbeat | None = None

    # ---- the loop

    def run(self) -> list[MemberResult]:
        job, trainer = self.job, self.trainer
        self._start()
        with Heartbeat(self.storage, job.heartbeat_interval, job.trial_ids) as beat:
            self._heartbeat = beat
            try:
                while True:
                    trainer.train(report=self._report)
                    # members that ended between evaluations (all diverged at once) settle here
                    rest = [i for i in range(trainer.k) if self.slot_trial[i] not in self.results]
                    self._settle(rest, ["diverged" if trainer.status[i] == "diverged" else "finished" for i in rest])
                    if not self._refill(list(range(trainer.k))):
                        break
                if self.waiting:  # the deadline passed before they could start
                    self._fail_waiting()
            except BaseException as e:
                self._fail_rest(e)
                raise
        return [self.results[n] for n in range(len(job.trial_ids))]

    def _start(self) -> None:
        """Each trial's run row, owner, run id and folder, before the first step."""
        job = self.job
        me = worker_id()
        runs = [
            {"dataset": cfg.data.name, "config": to_dict(cfg), "study_name": job.study_name, "trial_number": number,
             "status": "running" if n < job.live else "waiting"}
            for n, (cfg, number) in enumerate(zip(job.configs, job.trial_numbers))
        ]  # fmt: skip
        add_runs = getattr(self.store, "add_runs", None)  # a remote cohort's recording store has none
        if add_runs is not None:  # one statement for the cohort (a restarted trial's run keeps its id)
            self.run_ids = add_runs(runs, exist_ok=True)
        else:
            with self.store.batch():
                self.run_ids = [self.store.add_run(**run, exist_ok=True) for run in runs]
        for n, (tid, run_id) in enumerate(zip(job.trial_ids, self.run_ids)):
            self.writes.set_trial_user_attr(tid, ATTR_WORKER, me)
            self.writes.set_trial_user_attr(tid, "ganstab_run_id", run_id)
            if n < job.live:
                self.writes.set_trial_user_attr(tid, "run_dir", self._recorded_dir(n))
        self.writes.flush()

    def _refill(self, slots: list[int]) -> bool:
        """Give freed slots the next waiting trials (none after the deadline); whether any."""
        if self.job.deadline is not None and time.time() >= self.job.deadline:
            return False
        started = False
        for i in slots:
            if not self.waiting or self.slot_trial[i] not in self.results:
                continue
            n = self.waiting.pop(0)
            self.trainer.stop_member(i)
            self.trainer.refill(i, self.job.configs[n])
            self.slot_trial[i] = n
            self.store.set_status(self.run_ids[n], "running")
            started = True
        return started

    def _report(self, step: int, members: list[dict[str, Any]]) -> list[bool]:
        """One evaluation round: report every evaluated member's score at its own step, decide
        pruning for all of them at once, settle the diverged, the pruned and the finished, and
        hand their slots to waiting trials."""
        job, trainer = self.job, self.trainer
        live, diverged, finished, steps = [], [], [], {}
        for i, m in enumerate(members):
            n = self.slot_trial[i]
            if n in self.results or m["status"] not in ("running", "diverged"):
                continue
            if m["status"] == "diverged":
                diverged.append(i)
                continue
            if not m.get("evaluated", True):
                continue
            score = rung_value(m, job.graded)
            if score is not None and math.isfinite(score):
                self.writes.set_trial_intermediate_value(job.trial_ids[n], m["step"], float(score))
                self.intermediate.setdefault(n, {})[m["step"]] = float(score)
            if m["step"] >= trainer.steps:
                finished.append(i)
            else:
                live.append(i)
                steps[i] = m["step"]
        self.writes.flush()
        pruned = []
        if self.pruner is not None and live:
            traces = self._monitor_traces(live)
            snapshot = StudySnapshot(self.study, self.writes)
            # a refilled member's own step differs from the others': verdicts are per own step
            for i, verdict in zip(live, self._decide(snapshot, live, traces, steps)):
                if verdict.prune:
                    pruned.append(i)
                    self.reasons[self.slot_trial[i]] = (verdict.rule, verdict.reason)
        self._settle(
            diverged + pruned + finished,
            ["diverged"] * len(diverged) + ["pruned"] * len(pruned) + ["finished"] * len(finished),
        )
        self._refill(diverged + pruned + finished)
        return [self.slot_trial[i] not in self.results for i in range(trainer.k)]  # a refilled slot goes on

    def _decide(self, snapshot: StudySnapshot, live: list[int], traces: list, steps: dict[int, int]) -> list:
        """The pruner's verdicts for the live slots, grouped by their members' own steps."""
        out: dict[int, Any] = {}
        trace_of = dict(zip(live, traces))
        for step in sorted(set(steps.values())):
            group = [i for i in live if steps[i] == step]
            ids = [self.job.trial_ids[self.slot_trial[i]] for i in group]
            verdicts = self.pruner.decide(snapshot, ids, [trace_of[i] for i in group], step)
            out.update(zip(group, verdicts))
        self.writes.flush()  # what the pruner recorded (rung values)
        return [out[i] for i in live]

    def _monitor_traces(self, members: list[int]) -> list[dict[str, np.ndarray]]:
        """The live members' traces so far, with the columns a StabilityMonitor would be fed."""
        trainer = self.trainer
        cols = ["step", "d_loss", "g_loss", *(c for c in MONITOR_EXTRA if c in trainer.columns)]
        idx = [trainer.columns.index(c) for c in cols]
        rows = np.stack(trainer.trace)[:, members][:, :, idx].astype(float)  # [T, members, cols]
        return [{c: rows[:, n, j] for j, c in enumerate(cols)} for n in range(len(members))]

    # ---- settling members

    def _member_trace(self, i: int) -> dict[str, np.ndarray]:
        rows = self.trainer.member_trace(i)
        return {c: rows[:, j].astype(float) for j, c in enumerate(self.trainer.columns)}

    def _diagnose(
        self, traces: list[dict[str, np.ndarray]], results: list[MemberResult], configs: list[Config]
    ) -> list[Diagnosis | None]:
        """The members' diagnoses at the end (one classifier call for all): a divergence the engine
        saw is the rule, whatever the rows; too short a trace gets none."""
        if not self.job.diagnose:
            return [None] * len(traces)
        from ganstab.diagnose.advice import advice_for
        from ganstab.diagnose.logs import context_for

        # what ganstab knows of each run (data, G, loss) conditions its advice
        kind = self.trainer.dataset.kind  # a data.factory's points or images
        contexts = [context_for(c.data.name, c.train.loss, generator=c.model.generator, data_kind=kind) for c in configs]
        out = diagnose_traces(traces, contexts=contexts)
        for n, (trace, result) in enumerate(zip(traces, results)):
            if result.status == "diverged":
                ev = {"diverged_at": float(result.diverged_at or 0)}
                out[n] = Diagnosis(
                    DIVERGED, {}, ev, advice_for(DIVERGED, ev, contexts[n]), choose_model(trace),
                    len(trace["step"]), ev["diverged_at"], context=contexts[n],
                )  # fmt: skip
        return out

    def _result(self, i: int, status: str) -> MemberResult:
        """How slot i's member ended (its trial: `slot_trial[i]`)."""
        trainer, n = self.trainer, self.slot_trial[i]
        own = trainer.step - trainer.start[i]
        steps = int(trainer.ended_at[i] or 0) if status == "diverged" else min(own, trainer.steps)
        metrics = {f"eval_{k}": finite(v) for k, v in trainer.last_eval[i].items()}
        score = late_score(trainer.eval_log[i], self.job.objective)
        if status == "finished" and (score is None or metrics.get("eval_score") is None):
            status = "no_score"
        state = {"finished": "COMPLETE", "pruned": "PRUNED"}.get(status, "FAIL")
        return MemberResult(
            trial_number=self.job.trial_numbers[n],
            state=state,
            status=status,
            value=score if state == "COMPLETE" else None,
            metrics=metrics,
            steps_trained=steps,
            diverged_at=steps if status == "diverged" else None,
            run_dir=self._recorded_dir(i),
            pruned_by=self.reasons[n][0] if n in self.reasons else None,
            pruned_because=self.reasons[n][1] if n in self.reasons else None,
        )

    def _recorded_dir(self, i: int) -> str:
        """Slot i's member folder as the study records it: under the job's run folder, even when
        written in a scratch folder."""
        folder = self.trainer.member_dir(i)
        if self.scratch is None:
            return str(folder)
        return str(Path(self.job.run_dir) / folder.relative_to(self.scratch / "cohort"))

    def _settle(self, members: list[int], statuses: list[str]) -> None:
        """Write everything about the members of these slots, then tell their trials' final
        states: ganstab's tables in one transaction, Optuna's attributes, notes, artifact records
        and states in another (a finished trial takes no more attributes, so the states go last)."""
        if not members:
            return
        trainer, job = self.trainer, self.job
        results = [self._result(i, s) for i, s in zip(members, statuses)]
        traces = [self._member_trace(i) for i in members]
        diagnoses = self._diagnose(traces, results, [job.configs[self.slot_trial[i]] for i in members])
        settled = []
        for i, result, trace, diagnosis in zip(members, results, traces, diagnoses):
            result.diagnosis = diagnosis.label if diagnosis else None
            truth = ground_truth(trainer.eval_log[i], result.diverged_at)
            settled.append(
                SettledRun(
                    self.run_ids[self.slot_trial[i]],
                    result.status,
                    trace,
                    trainer.eval_log[i],
                    # the label the classifier learns from: `ganstab diagnose train --storage URL`
                    label=truth if result.status in ("finished", "diverged") else None,
                    diagnosis=diagnosis,
                    diagnosis_step=int(trace["step"][-1]) if len(trace["step"]) else result.steps_trained,
                )
            )
        self.store.settle_runs(settled)  # one statement per table for the whole round

        trainer.folder.flush()  # the newest sample pictures, uploaded below
        # each trial's parameters (for its note): as the driver asked them, else one read
        params = self._params([self.slot_trial[i] for i in members])
        for i, result, trace, diagnosis in zip(members, results, traces, diagnoses):
            tid = job.trial_ids[self.slot_trial[i]]
            for key, value in member_attrs(result, diagnosis, self.trainer.eval_log[i]).items():
                self.writes.set_trial_user_attr(tid, key, value)
            # the note lives where the dashboard shows it (a long attribute would widen the page)
            note = note_text(result, diagnosis, params[self.slot_trial[i]], job.objective)
            for args in note_attrs(self.study._study_id, tid, note):
                self.writes.set_study_system_attr(*args)
            self._upload(i, trace, result.status)
            state = {"COMPLETE": TrialState.COMPLETE, "PRUNED": TrialState.PRUNED}.get(result.state, TrialState.FAIL)
            values = final_values(self.intermediate.get(self.slot_trial[i], {}), state, result.value)
            self.writes.set_trial_state_values(tid, state, values)
        self.writes.flush()
        for i, result in zip(members, results):
            n = self.slot_trial[i]
            if self._heartbeat is not None:
                self._heartbeat.drop(job.trial_ids[n])
            self.results[n] = result

    def _params(self, trials: list[int]) -> dict[int, dict[str, Any]]:
        """The parameters of these trials (by index in the job)."""
        if self.job.params:
            return {n: dict(self.job.params[n]) for n in trials}
        frozen = StudySnapshot(self.study).trials_by_id
        return {n: dict(frozen[self.job.trial_ids[n]].params) for n in trials}

    def _upload(self, i: int, trace: dict[str, np.ndarray], status: str) -> None:
        """The newest sample picture and a d_loss/g_loss plot, as the trial's artifacts (the plot
        lives in the artifact store only, not in the run folder: written in memory, as SVG, about
        10x cheaper than a PNG; its mimetype, image/svg+xml, comes from the name, and
        optuna-dashboard shows it as an image)."""
        tid = self.job.trial_ids[self.slot_trial[i]]
        for path in sorted((self.trainer.member_dir(i) / "samples").glob("step_*.png"))[-1:]:
            upload_artifact(self.artifacts, self.writes, tid, path)
        steps = trace["step"]
        if len(steps):
            plot = svg_curves(
                {"d_loss": (steps, trace["d_loss"]), "g_loss": (steps, trace["g_loss"])},
                title=f"trial {self.job.trial_numbers[self.slot_trial[i]]} ({status})",
            )
            upload_artifact(self.artifacts, self.writes, tid, Path(TRACE_PLOT), plot)

    def _fail_waiting(self) -> None:
        """The search's time ran out before these trials started: FAIL, parameters re-enqueued
        (the same command continues with them)."""
        text = "the search's --timeout passed before this trial started"
        self._fail(self.waiting, "interrupted", text, requeue=True)
        self.waiting = []

    def _fail_rest(self, error: BaseException) -> None:
        """The cohort raised: tell its unsettled trials FAIL (with the error); when interrupted,
        re-enqueue their parameters so the next run of the search tries them again."""
        interrupted = isinstance(error, (KeyboardInterrupt, SystemExit))
        text = f"{type(error).__name__}: {error}"[:500]
        left = [n for n in range(len(self.job.trial_ids)) if n not in self.results]
        self._fail(left, "interrupted" if interrupted else "error", text, requeue=interrupted)

    def _fail(self, trials: list[int], status: str, text: str, requeue: bool) -> None:
        again = StaleTrialRequeuer() if requeue else None
        for i in trials:
            number = self.job.trial_numbers[i]
            try:
                fail_trial(
                    self.study, self.job.trial_ids[i], status, text, requeue=again, reason=status, store=self.store
                )
            except Exception as e:  # keep the original error; this one only goes to the log
                log.warning("could not mark trial %s failed: %s", number, e)
            self.results[i] = MemberResult(number, "FAIL", status, None, error=text)
