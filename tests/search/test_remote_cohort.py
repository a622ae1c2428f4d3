"""What crosses the network for a cohort of another node (ganstab.search.remote_cohort) and the
driver's gRPC storage server (ganstab.search.storage_server), on real SQLite files; the whole path
on a real multi-node cluster is tests/search/test_multinode.py's."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest

from ganstab.search.cohort_job import CohortJob, MemberResult
from ganstab.search.errors import SearchError
from ganstab.search.remote_cohort import Place, RecordingStore, create_runs, land, pack, run_placed, unpack
from ganstab.search.settings import SearchSettings
from ganstab.search.space import SPACES_DIR, load_space
from ganstab.search.storage_server import StorageServer
from ganstab.storage import Store

TINY = ["train.steps=60", "train.eval_every=20", "model.hidden=16"]


def _job(tmp_path: Path, n: int = 2) -> CohortJob:
    space = load_space(SPACES_DIR / "quick.yaml")
    settings = SearchSettings(storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="r", n_trials=n,
                              runs_dir=tmp_path / "runs")  # fmt: skip
    return CohortJob(settings, index=3, run_dir=str(tmp_path / "runs" / "r" / "cohort-003"),
                     trial_ids=tuple(range(1, n + 1)), trial_numbers=tuple(range(n)),
                     configs=tuple(space.config(TINY) for _ in range(n)))  # fmt: skip


def test_a_cohorts_rows_and_files_land_on_the_driver(tmp_path: Path) -> None:
    job = _job(tmp_path)
    with Store(job.storage_url) as store:
        run_ids = create_runs(job, store)
        assert sorted(run_ids) == [0, 1] and store.run(run_ids[0]).status == "waiting"
        assert create_runs(job, store) == run_ids  # a re-run trial keeps its row
        worker = RecordingStore(run_ids)  # what a worker of another node writes instead
        run_id = worker.add_run("ring8", {}, study_name="r", trial_number=1, status="running")
        worker.save_trace(run_id, {"step": np.arange(3.0), "d_loss": np.ones(3), "g_loss": np.ones(3)})
        worker.add_evaluations(run_id, [{"step": 2, "eval_score": 0.5}])
        worker.set_status(run_id, "finished")
        assert worker.find_run("r", 1).id == run_ids[1] and worker.find_run("r", 7) is None
        with pytest.raises(SearchError, match="trial 9: the driver created no ganstab run"):
            worker.add_run("ring8", {}, trial_number=9)
        with pytest.raises(AttributeError, match="cannot call Store.labelled_runs"):
            worker.labelled_runs()
        sample = Path(job.run_dir) / "members" / "001" / "samples" / "step_000060.png"
        payload = {"node": "127.0.0.2 (node abc)", "store": worker.calls,
                   "files": {str(sample): b"png", f"{job.artifact_dir}/a1": b"art"},
                   "results": [MemberResult(1, "COMPLETE", "finished", 0.5)]}  # fmt: skip
        (result,) = land(job, unpack(pack(payload)), store)
        assert result.node == "127.0.0.2 (node abc)"
        assert store.run(run_ids[1]).status == "finished" and store.has_trace(run_ids[1])
        assert [e.step for e in store.evaluations(run_ids[1])] == [2]
    assert sample.read_bytes() == b"png" and (Path(job.artifact_dir) / "a1").read_bytes() == b"art"
    with pytest.raises(SearchError, match="a worker sent a file outside its folders: '/etc/passwd'"):
        land(job, {"files": {"/etc/passwd": b"x"}, "results": []}, None)


def test_a_worker_of_another_node_never_opens_the_drivers_sqlite_file(local_ray: None, tmp_path: Path) -> None:
    job = _job(tmp_path)
    elsewhere = Place(driver_node="f" * 56)  # not this process's node: a cohort placed elsewhere
    with pytest.raises(SearchError, match="cohort 3 runs on node .*, not on the driver's, and its study is a SQLite"):
        run_placed(job, elsewhere)
    assert not (tmp_path / "study.db").exists()


def test_the_storage_server_serves_a_sqlite_study_over_grpc(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    optuna.create_study(study_name="s", storage=url).enqueue_trial({"x": 1.0})
    server = StorageServer(url, "127.0.0.1", heartbeat_interval=None, grace_period=None)
    try:
        assert server.address[1] > 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            proxy = optuna.storages.GrpcStorageProxy(host=server.address[0], port=server.address[1])
        proxy.wait_server_ready(timeout=30)
        study = optuna.load_study(study_name="s", storage=proxy)
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0, 2))
        proxy.close()
    finally:
        server.stop()
    (done,) = optuna.load_study(study_name="s", storage=url).trials
    assert done.value == 1.0 and done.state == optuna.trial.TrialState.COMPLETE


@pytest.mark.parametrize("where", ["--address", "RAY_ADDRESS"])
def test_a_ray_client_search_refuses_a_sqlite_study_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A driver behind ray:// is no node of the cluster, so nothing could serve its SQLite file:
    refused before Ray is joined (a Ray Client connection takes 10-60 s) and before any trial is
    asked, with the fix in one line; no database and no run folder are made."""
    import ray

    from ganstab.cli import main

    address = "ray://127.0.0.1:1"  # nothing listens there: the refusal must come before any connection
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    args = ["search", "--space", "quick", "--dataset", "ring8", "--trials", "2", "--cohort-size", "2",
            "--storage", f"sqlite:///{tmp_path / 'study.db'}", "--runs", str(tmp_path / "runs"), "--no-recommend"]  # fmt: skip
    if where == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", address)
    else:
        args += ["--address", address]
    was_connected = ray.is_initialized()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "through a Ray Client address (ray://) cannot serve its SQLite study" in err
    assert "--address HOST:PORT" in err and "PostgreSQL" in err
    assert not (tmp_path / "study.db").exists() and not (tmp_path / "runs").exists()
    assert ray.is_initialized() == was_connected  # Ray was not joined


def test_the_storage_server_takes_the_port_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GANSTAB_STORAGE_SERVER_PORT fixes the proxy's port (a firewall or a pod opens one); a port
    in use, or a value that is no port, is one line naming the variable."""
    from ganstab.search.storage_server import PORT_ENV, server_port
    from tests.search.ray_support import free_port

    url = f"sqlite:///{tmp_path / 'served.db'}"
    optuna.create_study(study_name="s", storage=url)
    port = free_port()
    monkeypatch.setenv(PORT_ENV, str(port))
    server = StorageServer(url, "127.0.0.1", port=server_port(), heartbeat_interval=None, grace_period=None)
    try:
        assert server.address == ("127.0.0.1", port)
        with pytest.raises(SearchError, match=f"cannot serve the study to the cluster on 127.0.0.1:{port}: .*{PORT_ENV}"):
            StorageServer(url, "127.0.0.1", port=port, heartbeat_interval=None, grace_period=None)
    finally:
        server.stop()
    monkeypatch.setenv(PORT_ENV, "http")
    with pytest.raises(SearchError, match=f"{PORT_ENV} must be a TCP port \\(0-65535\\), but got 'http'"):
        server_port()


def test_a_cohort_killed_mid_way_keeps_the_members_it_settled(local_ray: None, tmp_path: Path) -> None:
    """A cohort of another node sends each member to the driver's Lander as it settles: killed
    while its second member trains, the first member's ganstab rows (which a SQLite study's
    worker only records, never writes), run folder and artifacts (which it writes in a scratch
    folder of its own) are on the driver, and only the trials it had not settled are FAIL
    (`settle_lost_cohort`, as the executor does for a dead worker)."""
    import os
    import signal
    import time

    import ray
    from optuna.trial import TrialState

    from ganstab.search.ray_executor import settle_lost_cohort
    from ganstab.search.remote_cohort import start_lander

    space = load_space(SPACES_DIR / "quick.yaml")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    settings = SearchSettings(storage=url, study_name="k", n_trials=3, runs_dir=tmp_path / "runs", cohort_size=1,
                              scheduler="asha", diagnose=False)  # fmt: skip  (asha, 1 slot: one member at a time)
    study = optuna.create_study(study_name="k", storage=url)
    trials = [study.ask() for _ in range(3)]
    slow = ["train.steps=3000", "train.eval_every=1000", "model.hidden=16"]
    job = CohortJob(settings, index=0, run_dir=str(tmp_path / "runs" / "k" / "cohort-000"),
                    trial_ids=tuple(t._trial_id for t in trials), trial_numbers=tuple(t.number for t in trials),
                    configs=tuple(space.config(slow) for _ in trials))  # fmt: skip
    assert job.live == 1
    server = StorageServer(url, "127.0.0.1", heartbeat_interval=None, grace_period=None)
    lander, key = start_lander(url, sqlite=True)
    try:
        with Store(url) as store:
            run_ids = create_runs(job, store)
        place = Place("f" * 56, server.address, run_ids, lander=key)  # another node than this one's
        cohort = ray.remote(run_placed).options(num_cpus=1, max_retries=0).remote(job, place)
        first = trials[0]._trial_id
        end = time.monotonic() + 240
        with Store(url) as store:
            while time.monotonic() < end and not store.has_trace(run_ids[0]):
                time.sleep(0.2)
            assert store.has_trace(run_ids[0]), "the first member's rows never reached the driver"
        worker = study._storage.get_trial(first).user_attrs["worker"]
        os.kill(int(worker.split(":")[1]), signal.SIGKILL)  # the cohort's Ray worker dies mid-way
        with pytest.raises(ray.exceptions.RayError):
            ray.get(cohort, timeout=120)
    finally:
        server.stop()
        ray.kill(lander)
    lost = settle_lost_cohort(job, "its Ray worker died (killed by the test)")
    done = optuna.load_study(study_name="k", storage=url).trials
    assert done[0].state in (TrialState.COMPLETE, TrialState.PRUNED)  # settled before the kill: kept
    assert {r.trial_number for r in lost} == {1, 2} and all(t.state == TrialState.FAIL for t in done[1:3])
    assert all(t.user_attrs["status"] == "lost" for t in done[1:3])
    with Store(url) as store:
        run = store.run(run_ids[0])
        assert run.status == done[0].user_attrs["status"] and store.evaluations(run_ids[0])
        assert {store.run(run_ids[n]).status for n in (1, 2)} == {"lost"}
    # the worker wrote in a scratch folder of its own: what the driver has was sent
    artifacts = [k for k in done[0].system_attrs if k.startswith("artifacts:")]
    assert artifacts and all((Path(job.artifact_dir) / k.split(":", 1)[1]).is_file() for k in artifacts)
    member = Path(done[0].user_attrs["run_dir"])
    assert member.is_relative_to(job.run_dir) and list((member / "samples").glob("step_*.png"))
    assert (member / "trace.csv").is_file() or (member / "evals.jsonl").is_file()
