"""Searches whose cohorts run on Ray Tune, on a local Ray instance (one per test session, 2 CPUs):
cohorts at once, a dead worker costing its cohort only, resources checked up front. No mocks: real
Ray, real SQLite files, real training (tiny: ring8, hidden 16, 200 steps). Joining a real cluster
is test_ray_cluster.py's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import warnings
from pathlib import Path

import optuna
import pytest
import ray
from optuna.trial import TrialState

from ganstab.search.cohort_job import CohortJob
from ganstab.search.driver import run_search
from ganstab.search.events import SearchEvent
from ganstab.search.outcomes import ATTR_WORKER, counts_toward_budget
from ganstab.search.ray_executor import RayExecutor, _worker_died, settle_lost_cohort
from ganstab.search.settings import SearchSettings
from ganstab.search.space import SPACES_DIR, load_space
from ganstab.storage.studies import open_optuna_storage
from tests.search.ray_support import TINY
from tests.search.ray_support import check_search as _check_search

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.usefixtures("no_ray_address")


def _settings(url: str, study_name: str, tmp_path: Path) -> SearchSettings:
    """A job's settings: the study in `url`, artifacts under tmp_path/artifacts, no diagnosis."""
    return SearchSettings(storage=url, study_name=study_name, n_trials=1, runs_dir=tmp_path, diagnose=False)


def test_search_on_local_ray(local_ray: None, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    executor = RayExecutor()  # reuses this process's Ray connection
    assert executor.address == ray.get_runtime_context().gcs_address and not executor.started_local
    events = []
    study = run_search(
        load_space(SPACES_DIR / "quick.yaml"),
        SearchSettings(
            n_trials=4, storage=url, study_name="s", cohort_size=2, extra_overrides=TINY,
            runs_dir=tmp_path / "runs", diagnose=False,
        ),
        executor=executor,
        on_event=events.append,
    )
    _check_search(optuna.load_study(study_name="s", storage=url), 4)
    assert [t.user_attrs["cohort"] for t in study.trials] == [0, 0, 1, 1]
    assert [e.kind for e in events].count("cohort") == 2 and events[-1].kind == "done"
    tune_dirs = sorted(p.name for p in (tmp_path / "runs" / "s" / "ray").iterdir())
    assert tune_dirs == ["cohort-000", "cohort-001"]  # Tune's records beside the run folders


def test_run_many_runs_cohorts_at_once(local_ray: None, tmp_path: Path) -> None:
    """Two cohorts of one CPU each on the 2-CPU instance: both run at the same time, each in its
    own worker, and come back in the order of the jobs."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = load_space(SPACES_DIR / "quick.yaml")
    storage = open_optuna_storage(url)
    study = optuna.create_study(storage=storage, study_name="m", direction="maximize")
    jobs = []
    for index in (0, 1):
        members = []
        for _ in range(2):
            with warnings.catch_warnings():  # Optuna: heartbeats are meant for study.optimize
                warnings.simplefilter("ignore", UserWarning)
                trial = study.ask()
            members.append((trial, space.config(TINY, values=space.sample(trial))))
        jobs.append(
            CohortJob(
                settings=_settings(url, "m", tmp_path),
                index=index,
                run_dir=str(tmp_path / f"cohort-{index:03d}"),
                trial_ids=tuple(t._trial_id for t, _ in members),
                trial_numbers=tuple(t.number for t, _ in members),
                configs=tuple(c for _, c in members),
            )  # fmt: skip
        )
    results = RayExecutor(cpus_per_cohort=1).run_many(jobs[::-1])
    assert [[r.trial_number for r in rs] for rs in results] == [[2, 3], [0, 1]]

    _check_search(optuna.load_study(study_name="m", storage=url), 4)
    trials = optuna.load_study(study_name="m", storage=url).trials
    assert len({trials[0].user_attrs[ATTR_WORKER], trials[2].user_attrs[ATTR_WORKER]}) == 2
    # Both cohorts went to Ray in one Tuner run and ran in different worker processes. Their time
    # intervals are not compared: tiny cohorts finish in under a second after 5-8 s of worker
    # start-up, so whether they overlap is a matter of scheduling (it failed once in CI).


def test_search_runs_concurrent_cohorts_at_once(local_ray: None, tmp_path: Path) -> None:
    """run_search with concurrent_cohorts = the executor's slots (2 on the 2-CPU instance): one
    round asks 4 trials, makes two cohorts of 2 and runs them together through run_many."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    executor = RayExecutor(cpus_per_cohort=1)
    assert executor.slots == 2
    events = []
    study = run_search(
        load_space(SPACES_DIR / "quick.yaml"),
        SearchSettings(
            n_trials=4, storage=url, study_name="cc", cohort_size=2, concurrent_cohorts=executor.slots,
            extra_overrides=TINY, runs_dir=tmp_path / "runs", diagnose=False,
        ),
        executor=executor,
        on_event=events.append,
    )
    _check_search(optuna.load_study(study_name="cc", storage=url), 4)
    trials = optuna.load_study(study_name="cc", storage=url).trials
    assert [t.user_attrs["cohort"] for t in trials] == [0, 0, 1, 1]
    kinds = ["cohort", "cohort", "placed", "trial", "trial", "placed", "trial", "trial", "done"]
    assert [e.kind for e in events] == kinds  # each cohort names the node that ran it
    node = ray.get_runtime_context().get_node_id()[:8]
    assert [e.message for e in events if e.kind == "placed"] == [f"cohort {i}: ran on {ray.util.get_node_ip_address()} "
                                                                 f"(node {node})" for i in (0, 1)]  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "runs" / "cc" / "ray").iterdir()) == ["cohorts-000-001"]
    assert all(t.state != TrialState.RUNNING for t in study.trials)
    assert len({trials[0].user_attrs[ATTR_WORKER], trials[2].user_attrs[ATTR_WORKER]}) == 2


def _kill_when_claimed(url: str, study_name: str, numbers: list[int], killed: dict[str, object]) -> None:
    """SIGKILL the Ray worker that claims the first of `numbers` (its `worker` attribute names the
    process: host:pid:start), while its cohort trains."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the study may not be readable yet
            study = optuna.load_study(study_name=study_name, storage=url)
            worker = next(t for t in study.trials if t.number == numbers[0]).user_attrs.get(ATTR_WORKER)
            pid = int(worker.split(":")[1]) if worker else os.getpid()  # the driver names itself first
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            if pid != os.getpid() and cmdline.startswith("ray::"):  # never anything but a Ray worker
                killed["cmdline"] = cmdline
                os.kill(pid, signal.SIGKILL)
                killed["pid"] = pid
                return
        time.sleep(0.1)


@pytest.mark.slow
def test_a_dead_worker_costs_its_cohort_not_the_search(local_ray: None, tmp_path: Path) -> None:
    """Two cohorts at once; the worker of cohort 0 is SIGKILLed mid-training. Its trials become
    FAIL (status lost, the reason), their parameters run again in a later cohort, cohort 1 keeps
    its results, and the search reaches its 4 trials with nothing left RUNNING."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    executor = RayExecutor(cpus_per_cohort=1)
    killed: dict[str, object] = {}
    events = []

    def on_event(event: SearchEvent) -> None:
        events.append(event)
        if event.kind == "cohort" and event.data["cohort"] == 0:
            threading.Thread(
                target=_kill_when_claimed, args=(url, "k", event.data["trials"], killed), daemon=True
            ).start()

    longer = ["train.steps=800", "train.eval_every=400", "model.hidden=16"]  # a few seconds to kill it in
    study = run_search(
        load_space(SPACES_DIR / "quick.yaml"),
        SearchSettings(
            n_trials=4, storage=url, study_name="k", cohort_size=2, concurrent_cohorts=2,
            extra_overrides=longer, runs_dir=tmp_path / "runs", diagnose=False,
        ),
        executor=executor,
        on_event=on_event,
    )
    assert killed.get("cmdline", "").startswith("ray::ImplicitFunc"), killed  # a Ray Tune worker
    trials = optuna.load_study(study_name="k", storage=url).trials
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    assert sum(counts_toward_budget(t) for t in trials) == 4
    lost = [t for t in trials if t.user_attrs.get("status") == "lost"]
    assert [t.number for t in lost] == [0, 1] and all(t.state == TrialState.FAIL for t in lost)
    assert all("its Ray worker died (ActorDiedError" in t.user_attrs["error"] for t in lost), lost[0].user_attrs
    retries = {t.user_attrs["retry_of"]: t for t in trials if "retry_of" in t.user_attrs}
    assert sorted(retries) == [0, 1]
    for t in lost:  # the same parameters, run to a verdict
        assert retries[t.number].params == t.params and counts_toward_budget(retries[t.number])
    assert all(counts_toward_budget(t) for t in trials if t.user_attrs.get("cohort") == 1)
    first = [e.message for e in events if e.kind == "trial"][:2]
    assert [m.startswith(f"trial {n}: FAIL (lost)") for n, m in enumerate(first)] == [True, True], first
    assert study.study_name == "k"


def test_settle_lost_cohort_fails_and_requeues_only_unfinished_trials(tmp_path: Path) -> None:
    """The bookkeeping for a dead worker, on a real SQLite study without Ray: of a cohort of three,
    the trial it had finished stays COMPLETE; the two it left RUNNING become FAIL (status lost,
    the reason), their parameters are enqueued again with retry_of, and a second call (another
    driver) changes nothing. And which errors mean a dead worker: not a RayTaskError."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=open_optuna_storage(url), study_name="l", direction="maximize")
    space = load_space(SPACES_DIR / "quick.yaml")
    asked = []
    for _ in range(3):
        with warnings.catch_warnings():  # Optuna: heartbeats are meant for study.optimize
            warnings.simplefilter("ignore", UserWarning)
            trial = study.ask()
        space.sample(trial)
        asked.append(trial)
    study.tell(asked[0], 0.5)
    job = CohortJob(
        settings=_settings(url, "l", tmp_path), index=0, run_dir=str(tmp_path / "c"),
        trial_ids=tuple(t._trial_id for t in asked), trial_numbers=(0, 1, 2),
        configs=tuple(space.config(TINY) for _ in asked),
    )  # fmt: skip
    results = settle_lost_cohort(job, "its Ray worker died (ActorDiedError: killed)")
    assert [(r.trial_number, r.state, r.status) for r in results] == [(1, "FAIL", "lost"), (2, "FAIL", "lost")]
    trials = optuna.load_study(study_name="l", storage=url).trials
    assert [t.state for t in trials[:3]] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]
    assert trials[1].user_attrs["error"] == "lost: its Ray worker died (ActorDiedError: killed)"
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert [(t.user_attrs["retry_of"], t.system_attrs["fixed_params"]) for t in waiting] == [
        (1, asked[1].params), (2, asked[2].params)
    ]  # fmt: skip
    assert settle_lost_cohort(job, "again") == [] and len(optuna.load_study(study_name="l", storage=url).trials) == 5

    assert _worker_died(ray.exceptions.ActorDiedError()) and _worker_died(ray.exceptions.WorkerCrashedError())
    assert not _worker_died(ray.exceptions.RayTaskError("f", "traceback", ValueError("bad config")))


def test_gpus_on_a_cluster_without_gpus_fail_up_front(local_ray: None, tmp_path: Path) -> None:
    assert ray.cluster_resources().get("GPU", 0) == 0  # this CI machine has no GPU
    with pytest.raises(ValueError, match=r"gpus_per_cohort=0\.5, but the Ray cluster at .* has no GPU"):
        RayExecutor(gpus_per_cohort=0.5)
    with pytest.raises(ValueError, match=r"cpus_per_cohort=3, but .* has only 2 CPUs"):
        RayExecutor(cpus_per_cohort=3)
    for bad in ({"gpus_per_cohort": -1}, {"gpus_per_cohort": 1.5}, {"cpus_per_cohort": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RayExecutor(**bad)
    cfg = load_space(SPACES_DIR / "quick.yaml").config([*TINY, "train.device=cuda"])
    job = CohortJob(
        settings=_settings(f"sqlite:///{tmp_path / 'x.db'}", "x", tmp_path), index=3, run_dir=str(tmp_path / "c"),
        trial_ids=(1,), trial_numbers=(0,), configs=(cfg,),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"cohorts \[3\] set train.device=cuda, but gpus_per_cohort=0"):
        RayExecutor()(job)


