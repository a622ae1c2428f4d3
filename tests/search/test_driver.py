"""The search driver against real databases (a SQLite file and the PostgreSQL server): every trial
ends COMPLETE, PRUNED or FAIL with its curve, attributes, artifacts and ganstab rows, and a driver
killed with SIGKILL resumes without losing or duplicating a trial.

Each PostgreSQL test gets a database of its own, created through the maintenance database and
dropped afterwards (as tests/storage/test_store.py does; GANSTAB_TEST_PG_URL points elsewhere). An
unreachable server fails the PostgreSQL tests, it never skips them. Training is tiny (ring8,
hidden 16, 200 steps) and single-threaded: on a loaded 2-core machine torch's two intra-op threads
make the same cohort ~25x slower.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from optuna_dashboard import get_note
from sqlalchemy import create_engine, text

from ganstab.search.cohort_job import MemberResult
from ganstab.search.driver import run_search
from ganstab.search.errors import SearchError
from ganstab.search.heartbeat import worker_id
from ganstab.search.leaderboard import leaderboard
from ganstab.search.outcomes import ATTR_RETRY_OF, ATTR_WORKER, StaleTrialRequeuer, counts_toward_budget
from ganstab.search.recovery import recover_stale_trials
from ganstab.search.settings import SearchSettings
from ganstab.search.space import SPACES_DIR, load_space
from ganstab.storage import Store
from ganstab.storage.studies import open_optuna_storage

TINY = ["train.steps=200", "train.eval_every=50", "model.hidden=16", "train.device=cpu"]
STATES = {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
REPO = Path(__file__).resolve().parents[2]

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ------------------------------------------------------------------------------------- fixtures


def _settings(url: str, runs: Path, **kw: Any) -> SearchSettings:
    """The tests' usual search: tiny CPU trials (TINY), no diagnosis, run folders in `runs`."""
    return SearchSettings(
        **{"storage": url, "runs_dir": runs, "extra_overrides": TINY, "diagnose": False, **kw}
    )


pytestmark = pytest.mark.usefixtures("one_thread")


class PruneAt100(optuna.pruners.BasePruner):
    """Prunes the given trial numbers once they reported step 100: a deterministic PRUNED."""

    def __init__(self, numbers: set[int]) -> None:
        self.numbers = numbers

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number in self.numbers and (trial.last_step or 0) >= 100


def _space(tmp_path: Path, params: str) -> object:
    path = tmp_path / "space.yaml"
    path.write_text(
        "description: driver test space\nbase: vanilla\n"
        "fixed: {data.name: ring8, train.steps: 1500, train.eval_every: 300}\n"
        f"params:\n{params}"
    )
    return load_space(path)


# ------------------------------------------------------------------------------------------ tests


def test_search_settles_every_trial(url: str, tmp_path: Path) -> None:
    space = _space(
        tmp_path,
        "  train.lr_d: {choice: [1.0e-4, 4.0e-4, 1.0e+6]}\n"
        "  train.lr_g: {log_uniform: [1.0e-5, 1.0e-2]}\n"
        "  train.loss: {choice: [ns, hinge]}\n",
    )
    pre = optuna.create_study(study_name="s", storage=url, direction="maximize")
    pre.enqueue_trial({"train.lr_d": 1e6, "train.lr_g": 1e-3, "train.loss": "ns"})  # diverges at once
    pre.enqueue_trial({"train.lr_d": 4e-4, "train.lr_g": 1e-4, "train.loss": "ns"})  # pruned at 100
    events = []
    study = run_search(
        space,
        _settings(
            url,
            tmp_path / "runs",
            n_trials=6,
            study_name="s",
            sampler="random",
            cohort_size=3,
            quality_pruner=PruneAt100({1}),
        ),
        on_event=events.append,
    )
    trials = study.trials
    assert len(trials) == 6 and {t.state for t in trials} <= STATES
    assert all(counts_toward_budget(t) for t in trials)
    assert [t.user_attrs["cohort"] for t in trials] == [0, 0, 0, 1, 1, 1]
    assert [t.user_attrs["member"] for t in trials] == [0, 1, 2, 0, 1, 2]
    assert [e.kind for e in events].count("cohort") == 2 and events[-1].kind == "done"

    diverged, pruned = trials[0], trials[1]
    assert diverged.state == TrialState.FAIL and diverged.user_attrs["status"] == "diverged"
    assert 1 <= diverged.user_attrs["diverged_at"] < 50 and diverged.value is None
    assert "Diverged" in get_note(optuna.Trial(study, diverged._trial_id))  # the dashboard's note
    assert pruned.state == TrialState.PRUNED and pruned.value == pruned.intermediate_values[100]
    assert sorted(pruned.intermediate_values) == [50, 100] and pruned.user_attrs["steps_trained"] == 100

    artifact_dir = tmp_path / "runs" / "artifacts"
    store = Store(url)
    runs = {r.trial_number: r for r in store.runs(study_name="s")}
    assert sorted(runs) == list(range(6))
    for t in trials:
        attrs = t.user_attrs
        assert attrs[ATTR_WORKER] == worker_id() and Path(attrs["run_dir"]).is_dir()
        assert attrs["ganstab_run_id"] == runs[t.number].id and runs[t.number].status == attrs["status"]
        note = get_note(optuna.Trial(study, t._trial_id))
        assert f"Trial {t.number}" in note
        # its parameters as stored (the cohort has them from the driver's asks, not a read)
        rows = [f"| `{k}` | {format(v, '.4g') if isinstance(v, float) else v} |" for k, v in t.params.items()]
        assert "\n".join(["| parameter | value |", "|---|---|", *rows]) in note
        trace = store.load_trace(runs[t.number].id)
        steps = trace["step"].tolist()
        if t.state == TrialState.COMPLETE:
            assert attrs["status"] == "finished" and t.value == attrs["late_score"]
            assert sorted(t.intermediate_values) == [50, 100, 150, 200]
            # 4 evaluations: the late third is the last one
            assert t.intermediate_values[200] == t.value == attrs["eval_score"]
        if attrs["status"] != "diverged":
            assert steps == list(range(10, attrs["steps_trained"] + 1, 10))
            assert [e.step for e in store.evaluations(runs[t.number].id)] == sorted(t.intermediate_values)
            metas = optuna.artifacts.get_all_artifact_meta(t, storage=study._storage)
            names = sorted(m.filename for m in metas)
            assert names == [f"step_{attrs['steps_trained']:06d}.png", "trace.svg"]
            assert all((artifact_dir / m.artifact_id).stat().st_size > 0 for m in metas)
            # the loss plot: an SVG document (a line each for d_loss and g_loss) the dashboard shows
            (plot,) = [m for m in metas if m.filename == "trace.svg"]
            assert plot.mimetype == "image/svg+xml"
            svg = ET.fromstring((artifact_dir / plot.artifact_id).read_bytes())
            assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == 2
        else:
            assert steps == [] or max(steps) <= attrs["diverged_at"]
    store.dispose()

    board = leaderboard(study, top=10)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert [row["trial"] for row in board] == [
        t.number for t in sorted(complete, key=lambda t: (-t.value, t.number))
    ]
    if board:
        best = board[0]
        assert best["rank"] == 1 and set(best["params"]) == {"train.lr_d", "train.lr_g", "train.loss"}
        assert best["metrics"]["eval_score"] == best["value"] and best["run_dir"]

    # the same call again: the study already holds its 6 verdicts, nothing more runs
    again = run_search(
        space,
        _settings(url, tmp_path / "runs", n_trials=6, study_name="s", cohort_size=3, sampler="random"),
    )
    assert len(again.trials) == 6


def test_cohorts_group_by_shape_and_invalid_configs_fail(tmp_path: Path) -> None:
    """Through the executor interface (no training): members of a cohort share every shape key."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = _space(
        tmp_path,
        "  model.hidden: {choice: [8, 16]}\n"
        "  train.lr_d: {log_uniform: [1.0e-5, 1.0e-2]}\n"
        "  train.loss: {choice: [ns, hinge]}\n",
    )
    jobs = []

    def executor(job):  # what a Ray remote task would receive: plain data
        jobs.append(job)
        study = optuna.load_study(study_name=job.study_name, storage=job.storage_url)
        out = []
        for number, cfg in zip(job.trial_numbers, job.configs):
            study.tell(number, float(cfg.model.hidden))
            out.append(MemberResult(number, "COMPLETE", "finished", float(cfg.model.hidden)))
        return out

    study = run_search(
        space,
        _settings(
            url,
            tmp_path / "runs",
            n_trials=8,
            study_name="g",
            cohort_size=4,
            extra_overrides=["train.device=cpu"],
            seed=3,
        ),
        executor=executor,
    )
    assert len(study.trials) == 8 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert sum(len(j.trial_ids) for j in jobs) == 8
    for j in jobs:
        assert len({c.model.hidden for c in j.configs}) == 1
        assert Path(j.run_dir).name == f"cohort-{j.index:03d}" and Path(j.run_dir).is_dir()
    assert sorted(j.index for j in jobs) == list(range(len(jobs)))
    assert len({c.model.hidden for j in jobs for c in j.configs}) == 2  # both shapes were sampled

    # an override that replaces a sampled value would make the trial's params lie
    with pytest.raises(SearchError, match=r"sets `train.lr_d`, which the search space"):
        run_search(
            space,
            _settings(url, tmp_path / "runs", n_trials=1, study_name="g", extra_overrides=["lr_d=1e-3"]),
        )

    # a combination the config rejects (hinge with label smoothing; every corner alone is valid):
    # FAIL with status invalid, not counted, and the search goes on
    bad = _space(
        tmp_path, "  train.loss: {choice: [ns, hinge]}\n  train.label_smoothing: {choice: [1.0, 0.9]}\n"
    )
    invalid = {"train.loss": "hinge", "train.label_smoothing": 0.9}
    pre = optuna.create_study(study_name="bad", storage=url, direction="maximize")
    pre.enqueue_trial(invalid)
    study = run_search(
        bad,
        _settings(
            url,
            tmp_path / "runs",
            n_trials=2,
            study_name="bad",
            cohort_size=1,
            sampler="random",
            extra_overrides=(),
        ),
        executor=executor,
    )
    first = study.trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["status"] == "invalid"
    assert "label_smoothing" in first.user_attrs["error"] and not counts_toward_budget(first)
    assert sum(counts_toward_budget(t) for t in study.trials) == 2
    for _ in range(11):  # a space that keeps giving invalid configs stops the search
        pre.enqueue_trial(invalid)
    with pytest.raises(SearchError, match="11 sampled configs of space 'space' were invalid"):
        run_search(
            bad,
            _settings(
                url, tmp_path / "runs", n_trials=3, study_name="bad", cohort_size=1, extra_overrides=()
            ),
            executor=executor,
        )

    # an executor must settle its trials: one it leaves running fails, and the driver says so
    with pytest.raises(SearchError, match=r"left trials \[\d+\] running \(now FAIL\)"):
        run_search(
            space,
            _settings(url, tmp_path / "runs", n_trials=20, study_name="g", cohort_size=1, extra_overrides=()),
            executor=lambda job: [],
        )


def _settle(job) -> list[MemberResult]:  # what a worker reports, without training
    study = optuna.load_study(study_name=job.study_name, storage=job.storage_url)
    out = []
    for number, cfg in zip(job.trial_numbers, job.configs):
        study.tell(number, cfg.train.lr_d)
        out.append(MemberResult(number, "COMPLETE", "finished", cfg.train.lr_d))
    return out


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_concurrent_cohorts_go_to_run_many_and_queued_trials_keep_beating(tmp_path: Path) -> None:
    """A round asks cohort_size x concurrent_cohorts trials and hands all its cohorts to
    `run_many`; while they wait there (here longer than the grace period), the driver beats for
    them, so no other driver takes them for a dead one's. An executor without run_many gets the
    cohorts one by one, each announced just before it runs."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = load_space(SPACES_DIR / "quick.yaml")  # every key is a member key: one shape
    calls = []

    class Batch:
        def __call__(self, job):
            return self.run_many([job])[0]

        def run_many(self, jobs):
            calls.append([(j.index, len(j.trial_ids)) for j in jobs])
            time.sleep(3.5)  # queued past the grace period of 2 s (the driver beats every 1 s)
            requeue = StaleTrialRequeuer()  # another driver's view: it fails stale trials
            storage = open_optuna_storage(url, heartbeat_interval=1, grace_period=2, on_stale=requeue)
            watcher = optuna.load_study(study_name="b", storage=storage)
            assert recover_stale_trials(watcher, requeue, grace_period=2) == []
            ids = {i for j in jobs for i in j.trial_ids}
            assert all(t.state == TrialState.RUNNING for t in watcher.trials if t._trial_id in ids)
            return [_settle(j) for j in jobs]

    events = []
    common = {"storage": url, "extra_overrides": ["train.device=cpu"], "runs_dir": tmp_path / "runs",
              "diagnose": False, "cohort_size": 2, "heartbeat_interval": 1, "grace_period": 2}  # fmt: skip
    study = run_search(
        space,
        SearchSettings(n_trials=5, study_name="b", concurrent_cohorts=2, **common),
        executor=Batch(),
        on_event=events.append,
    )
    assert calls == [[(0, 2), (1, 2)], [(2, 1)]]  # 4 trials in two cohorts at once, then the last one
    assert [e.kind for e in events] == ["cohort", "cohort", *["trial"] * 4, "cohort", "trial", "done"]
    assert [t.user_attrs["cohort"] for t in study.trials] == [0, 0, 1, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)

    one_by_one = []

    def executor(job):  # no run_many: the driver calls it per cohort, in order
        one_by_one.append(job.index)
        return _settle(job)

    events.clear()
    study = run_search(
        space,
        SearchSettings(n_trials=4, study_name="c", concurrent_cohorts=2, **common),
        executor=executor,
        on_event=events.append,
    )
    assert one_by_one == [0, 1] and len(study.trials) == 4
    assert [e.kind for e in events] == ["cohort", "trial", "trial", "cohort", "trial", "trial", "done"]


_DRIVER = """
import sys, torch
torch.set_num_threads(1)
from ganstab.search.driver import run_search
from ganstab.search.settings import SearchSettings
from ganstab.search.space import SPACES_DIR, load_space
url, runs = sys.argv[1], sys.argv[2]
run_search(load_space(SPACES_DIR / "quick.yaml"), SearchSettings(
    n_trials=6, storage=url, study_name="r", cohort_size=3, extra_overrides={tiny}, runs_dir=runs,
    diagnose=False, seed=1, scheduler=sys.argv[3]))
print("driver finished", flush=True)
"""


class _Poller:
    """Reads the subprocess's study without creating tables (that would race the driver's own
    CREATE TABLE), through one storage (not one connection pool per poll)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.storage: optuna.storages.RDBStorage | None = None

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        if self.storage is None:
            engine = create_engine(self.url)
            try:
                with engine.connect() as conn:
                    n = conn.execute(text("SELECT COUNT(*) FROM studies WHERE study_name = 'r'")).scalar()
            except Exception:  # no tables yet
                return []
            finally:
                engine.dispose()
            if not n:
                return []
            self.storage = optuna.storages.RDBStorage(self.url, skip_table_creation=True)
        return optuna.load_study(study_name="r", storage=self.storage).trials


def test_killed_driver_resumes(url: str, tmp_path: Path) -> None:
    _killed_driver_resumes(url, tmp_path, "median")


def test_killed_driver_resumes_with_refilled_slots(tmp_path: Path) -> None:
    """asha: one cohort of 6 trials in 3 slots, killed while some trials wait for a slot."""
    _killed_driver_resumes(f"sqlite:///{tmp_path / 'asha.db'}", tmp_path, "asha")


def _killed_driver_resumes(url: str, tmp_path: Path, scheduler: str) -> None:
    runs = tmp_path / "runs"
    log = (tmp_path / "driver.log").open("w")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    code = _DRIVER.format(tiny=json.dumps(TINY))
    proc = subprocess.Popen(
        [sys.executable, "-c", code, url, str(runs), scheduler], stdout=log, stderr=log, env=env
    )
    poller = _Poller(url)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "driver.log").read_text()
            trials = poller.trials()
            running = [t for t in trials if t.state == TrialState.RUNNING]
            if (
                any(t.state == TrialState.COMPLETE for t in trials)
                and running
                and all(ATTR_WORKER in t.user_attrs for t in running)
            ):
                break
            assert time.monotonic() < deadline, "the driver never had trials COMPLETE and RUNNING at once"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    before = {t.number: t for t in poller.trials()}
    poller.storage.engine.dispose()
    complete = {n: t for n, t in before.items() if t.state == TrialState.COMPLETE}
    stale = {n: t for n, t in before.items() if t.state == TrialState.RUNNING}
    assert complete and stale

    events = []
    study = run_search(
        load_space(SPACES_DIR / "quick.yaml"),
        _settings(url, runs, n_trials=6, study_name="r", cohort_size=3, seed=1, scheduler=scheduler),
        on_event=events.append,
    )
    after = {t.number: t for t in study.trials}
    (recovered,) = [e for e in events if e.kind == "recovered"]
    assert sorted(recovered.data["trials"]) == sorted(stale)
    for n, t in complete.items():  # nothing finished is lost or changed
        assert after[n].state == TrialState.COMPLETE and after[n].value == t.value
    for n in stale:  # the dead driver's trials failed; each sampled one re-ran once, same parameters
        assert after[n].state == TrialState.FAIL and after[n].user_attrs["status"] == "lost"
        retries = [t for t in after.values() if t.user_attrs.get(ATTR_RETRY_OF) == n]
        if not after[n].params:  # killed between its ask and its sampling: nothing to re-run
            assert retries == []
            continue
        (retry,) = retries
        assert retry.params == after[n].params and counts_toward_budget(retry)
    verdicts = [t for t in after.values() if counts_toward_budget(t)]
    assert len(verdicts) == 6 and all(t.state != TrialState.RUNNING for t in after.values())
    assert len({t.number for t in verdicts} & set(stale)) == 0

    store = Store(url)
    rows = store.runs(study_name="r")
    assert len(rows) == len({r.trial_number for r in rows})  # one ganstab run per trial
    by_number = {r.trial_number: r for r in rows}
    for n in stale:
        if n in by_number:
            assert by_number[n].status == "lost"
    for t in verdicts:
        assert store.has_trace(by_number[t.number].id)
    store.dispose()
    cohorts = sorted(p.name for p in (runs / "r").glob("cohort-*"))
    assert cohorts == [f"cohort-{i:03d}" for i in range(len(cohorts))] and len(cohorts) >= 2


def test_a_robust_objective_takes_the_late_spread_off_and_stays_with_its_study(tmp_path: Path) -> None:
    space = _space(tmp_path, "  train.lr_g: {log_uniform: [1.0e-4, 1.0e-3]}\n")
    common = {
        "storage": f"sqlite:///{tmp_path / 'r.db'}",
        "study_name": "r",
        "runs_dir": tmp_path / "runs",
        "sampler": "random",
        "cohort_size": 2,
        "extra_overrides": ["train.steps=200", "train.eval_every=25", "model.hidden=16", "train.device=cpu"],
        "diagnose": False,
        "prune": False,
    }
    pre = optuna.create_study(study_name="r", storage=common["storage"], direction="maximize")
    pre.enqueue_trial({"train.lr_g": 3e-4})  # only enqueued: not yet a study with an objective
    study = run_search(space, SearchSettings(n_trials=2, objective="late-robust", **common))
    assert study.trials[0].params == {"train.lr_g": 3e-4}
    spreads = []
    for t in study.trials:
        late = [t.intermediate_values[s] for s in (150, 175, 200)]  # 8 evaluations: the last 3
        assert t.value == pytest.approx(np.mean(late) - np.std(late), rel=1e-9, abs=1e-12)
        spreads.append(np.std(late))
        assert "mean minus spread" in get_note(optuna.Trial(study, t._trial_id))
    assert max(spreads) > 0  # so the test tells the robust value from the mean
    assert study.user_attrs["ganstab_objective"] == "late-robust"
    with pytest.raises(SearchError, match="values its trials by 'late-robust', not 'late-mean'"):
        run_search(space, SearchSettings(n_trials=3, objective="late-mean", **common))
    with pytest.raises(
        SearchError, match="objective must be one of late-mean, late-robust, but got 'median'"
    ):
        run_search(space, SearchSettings(n_trials=3, objective="median", **{**common, "study_name": "other"}))
    assert len(optuna.load_study(study_name="r", storage=common["storage"]).trials) == 2  # nothing lost
    assert (
        run_search(space, SearchSettings(n_trials=2, **common)).user_attrs["ganstab_objective"]
        == "late-robust"
    )  # kept
    # a study ganstab ran before the option existed (no attribute) was late-mean
    old = optuna.create_study(study_name="old", storage=common["storage"], direction="maximize")
    old.add_trial(
        optuna.trial.create_trial(
            params={"train.lr_g": 3e-4},
            distributions={"train.lr_g": optuna.distributions.FloatDistribution(1e-4, 1e-3, log=True)},
            value=0.5,
            user_attrs={"status": "finished"},
        )
    )
    with pytest.raises(SearchError, match="values its trials by 'late-mean', not 'late-robust'"):
        run_search(
            space,
            SearchSettings(n_trials=2, objective="late-robust", **{**common, "study_name": "old"}),
        )


