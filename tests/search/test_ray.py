"""Searches whose cohorts run on Ray Tune: on a local Ray instance (one per test session, 2 CPUs),
and on a real `ray start --head` cluster on loopback that a separate driver process joins with
`address=`. No mocks: real Ray, real SQLite files, real training (tiny: ring8, hidden 16, 200 steps).

A process can be connected to one Ray instance only, so the cluster test drives its search from a
subprocess while this process stays on the session's local instance. The cluster is stopped by
terminating the `ray start --block` process this test started (never `ray stop`, which kills every
Ray instance of the machine by process name).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import ray
from optuna.trial import TrialState

from ganstab.search.cohort import CohortJob
from ganstab.search.driver import SearchEvent, SearchSettings, counts_toward_budget, run_search
from ganstab.search.ray_executor import RayExecutor, _worker_died, settle_lost_cohort
from ganstab.search.space import SPACES_DIR, load_space
from ganstab.search.trials import ATTR_WORKER, worker_id
from ganstab.storage.studies import open_optuna_storage

TINY = ["train.steps=200", "train.eval_every=100", "model.hidden=16"]
REPO = Path(__file__).resolve().parents[2]
RAY_BIN = Path(sys.executable).with_name("ray")

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """One local Ray instance for the whole session (starting one takes ~8 s and ~0.5 GB)."""
    if not ray.is_initialized():
        # "local", not None: never join a cluster that some `ray start` left on this machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def _no_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_search(study: optuna.Study, n: int) -> None:
    """Every trial settled by a Ray worker (not this process), with its curve and attributes."""
    trials = study.trials
    assert len(trials) == n and all(counts_toward_budget(t) for t in trials)
    for t in trials:
        attrs = t.user_attrs
        assert attrs[ATTR_WORKER] != worker_id() and f":{os.getpid()}:" not in attrs[ATTR_WORKER]
        assert {"status", "run_dir", "ganstab_run_id", "steps_trained"} <= set(attrs)
        if t.state == TrialState.COMPLETE:
            assert (
                sorted(t.intermediate_values) == [100, 200]
                and t.value == attrs["late_score"] == attrs["eval_score"]
            )
        else:  # a random learning rate may diverge: FAIL with its status, still a verdict
            assert attrs["status"] == "diverged"


# ------------------------------------------------------------------------------------------ tests


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
                storage_url=url,
                study_name="m",
                index=index,
                run_dir=str(tmp_path / f"cohort-{index:03d}"),
                artifact_dir=str(tmp_path / "artifacts"),
                trial_ids=tuple(t._trial_id for t, _ in members),
                trial_numbers=tuple(t.number for t, _ in members),
                configs=tuple(c for _, c in members),
                diagnose=False,
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
    assert [e.kind for e in events] == ["cohort", "cohort", "trial", "trial", "trial", "trial", "done"]
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


def _session_processes(sid: int) -> list[str]:
    """Names of the live processes of session `sid` (/proc)."""
    names = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                names.append(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode() or pid)
    return names


@pytest.mark.slow
def test_a_killed_driver_leaves_no_ray_processes(tmp_path: Path) -> None:
    """`ganstab search` on the local Ray instance it starts, SIGKILLed while a cohort trains:
    nothing of its session is left after 20 s (Ray's DashboardAgent and RuntimeEnvAgent used to
    linger 35-70 s; the executor's watchdog ends them)."""
    ganstab = str(Path(sys.executable).with_name("ganstab"))
    driver = subprocess.Popen(
        [ganstab, "search", "--space", "quick", "--trials", "2", "--cohort-size", "2", "--no-recommend",
         "--no-diagnose", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--runs", str(tmp_path / "runs"),
         "--set", "train.steps=20000", "--set", "model.hidden=16"],
        env=_user_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its session id is its pid; Ray's processes stay in that session
    )  # fmt: skip
    sid = driver.pid
    try:
        deadline = time.monotonic() + 180
        while not any(n.startswith("ray::ImplicitFunc") for n in _session_processes(sid)):
            assert driver.poll() is None, "the search ended before its cohort trained"
            assert time.monotonic() < deadline, f"no Ray Tune worker after 180 s: {_session_processes(sid)}"
            time.sleep(0.5)
        assert any("raylet" in n for n in _session_processes(sid))
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 20
        while _session_processes(sid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _session_processes(sid), f"left 20 s after the driver was killed: {_session_processes(sid)}"
    finally:
        with contextlib.suppress(OSError):
            os.killpg(sid, signal.SIGKILL)  # whatever this test's driver left in its process group


def _user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of the Ray settings this test process has (the
    session's ray.init sets RAY_AUTH_MODE=token here, which a user's shell does not have)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


@pytest.mark.slow
def test_search_on_a_ray_cluster(local_ray: None, tmp_path: Path) -> None:
    """README, "On a Ray cluster": `ray start --head --port P --num-cpus 2 --disable-usage-stats`,
    then `ganstab search --address 127.0.0.1:P`, both from a user's environment (no RAY_AUTH_MODE).
    This machine has a Ray token (the session's local instance wrote ~/.ray/auth_token if nobody
    had), so `ray start` turns token authentication on, as it does for a user who ran ganstab
    before: the driver must find the token itself, print the cluster it joined and finish; a
    wrong token ends it at once with one line. `--block` is added only so that the test can stop
    this cluster by its process (never `ray stop`, which stops every Ray instance of the machine)."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = subprocess.Popen(
        [str(RAY_BIN), "start", "--head", f"--port={port}", "--num-cpus=2", "--disable-usage-stats", "--block"],
        env=_user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # the GCS port answers once the head node is up
            assert head.poll() is None, f"ray start failed:\n{head.stdout.read()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "ray start --head did not open its port in 60 s"
                time.sleep(0.5)

        url = f"sqlite:///{tmp_path / 'study.db'}"
        sets = [a for kv in TINY for a in ("--set", kv)]
        search = [
            str(Path(sys.executable).with_name("ganstab")), "search", "--address", address, "--space", "quick",
            "--trials", "2", "--cohort-size", "2", "--no-recommend", "--no-diagnose", "--storage", url,
            "--study", "c", "--runs", str(tmp_path / "runs"), *sets,
        ]  # fmt: skip
        driver = subprocess.run(search, env=_user_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert driver.returncode == 0, driver.stdout[-2000:] + driver.stderr[-4000:]
        # the GCS reports the node's own IP for 127.0.0.1 (Ray 2.60); the port is the cluster's
        assert re.search(rf"Ray: the Ray cluster at \S+:{port}, 1 node, 2 CPUs, 0 GPUs", driver.stdout), driver.stdout
        _check_search(optuna.load_study(study_name="c", storage=url), 2)

        refused = subprocess.run(
            [*search[:-len(sets)], "--study", "refused"],
            env=_user_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0123456789abcdef0123456789abcdef"),
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-4000:]
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith(f"ganstab: error: the Ray cluster at '{address}' (address) refused this driver")
        assert "InvalidAuthToken" in last and "RAY_AUTH_TOKEN" in last and "ray get-auth-token" in last
        assert refused.stderr.count("InvalidAuthToken") == 1, refused.stderr  # not Ray's line per retry

        # RAY_ADDRESS is honoured: here it names another instance than this process's local one
        os.environ["RAY_ADDRESS"] = address
        with pytest.raises(ValueError, match=f"cannot join '{address}' \\(RAY_ADDRESS\\)"):
            RayExecutor()
    finally:
        os.environ.pop("RAY_ADDRESS", None)
        head.send_signal(signal.SIGTERM)  # ray start --block then stops the processes it started
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        # `ray start` left its address in /tmp/ray/ray_current_cluster, where a bare ray.init()
        # would try to join the dead cluster: remove it if it still names this one
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        with contextlib.suppress(OSError):
            if current.read_text().strip().endswith(f":{port}"):
                current.unlink()
    assert "Token authentication is enabled" in head.stdout.read()  # the case of a user who ran ganstab before
    with pytest.raises(ValueError, match="cannot reach a Ray cluster at"):
        RayExecutor(address=address)  # and the cluster is gone


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
        storage_url=url, study_name="l", index=0, run_dir=str(tmp_path / "c"), artifact_dir=str(tmp_path / "a"),
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
        storage_url=f"sqlite:///{tmp_path / 'x.db'}", study_name="x", index=3, run_dir=str(tmp_path / "c"),
        artifact_dir=str(tmp_path / "a"), trial_ids=(1,), trial_numbers=(0,), configs=(cfg,),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"cohorts \[3\] set train.device=cuda, but gpus_per_cohort=0"):
        RayExecutor()(job)


def test_bad_address_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    nobody = f"127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ValueError, match=f"cannot reach a Ray cluster at '{nobody}' \\(address\\)"):
        RayExecutor(address=nobody)
    with pytest.raises(ValueError, match="'not-an-address' \\(address\\) must look like host:port"):
        RayExecutor(address="not-an-address")
    monkeypatch.setenv("RAY_ADDRESS", nobody)
    with pytest.raises(ValueError, match=f"cannot reach a Ray cluster at '{nobody}' \\(RAY_ADDRESS\\)"):
        RayExecutor()
    assert time.monotonic() - started < 30  # not Ray's own minute-long reconnect timeout
