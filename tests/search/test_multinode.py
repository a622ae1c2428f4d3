"""A search on a Ray cluster whose machines share no disk (the `ray_nodes` fixture: a head node and
two worker nodes, each worker with a private tmpfs over the search folder), run with the CLI as a
user runs it on the head's machine. What the driver holds afterwards is checked on the driver's
disk and database only, and each worker's own view of the folder (through /proc/PID/root, which
shows a process's mount namespace) is checked to hold no database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.outcomes import counts_toward_budget
from ganstab.storage import Store
from tests.search.ray_support import user_env

pytestmark = pytest.mark.slow

TINY = ["--space", "quick", "--dataset", "ring8", "--cohort-size", "2", "--no-recommend",
        "--set", "train.steps=60", "--set", "train.eval_every=20"]  # fmt: skip
PG_URL = os.environ.get("GANSTAB_TEST_PG_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test")


def _cli(nodes: Any, folder: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "ganstab.cli", *args], cwd=folder, env=user_env(PYTHONPATH=os.getcwd()),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _search(nodes: Any, folder: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return _cli(nodes, folder, "search", "--address", nodes.address, *TINY, *args, timeout=timeout)


def _no_database_on_workers(nodes: Any) -> None:
    """No worker node holds a database file: each sees its own empty tmpfs over the folder."""
    for i in range(nodes.n_workers):
        pids = nodes.worker_pids(i)
        assert pids, f"worker {i} is not running"
        seen = Path(f"/proc/{pids[-1]}/root{nodes.folder}")
        assert not list(seen.rglob("*.db")) and not list(seen.rglob("*.db-wal")), list(seen.rglob("*"))


def _check_trials(study: optuna.Study, n: int) -> list[optuna.trial.FrozenTrial]:
    """Every trial settled with a verdict, none left RUNNING; the ones that count."""
    trials = study.get_trials()
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    counted = [t for t in trials if counts_toward_budget(t)]
    assert len(counted) == n
    for t in counted:  # COMPLETE or PRUNED; a random learning rate may diverge (FAIL, a verdict too)
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED) or t.user_attrs["status"] == "diverged"
    return counted


def _check_driver_holds(url: str, study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> None:
    """ganstab's rows and each trial's run folder are on the driver, whichever node trained it."""
    with Store(url) as store:
        for t in trials:
            run = store.find_run(study.study_name, t.number)
            assert run is not None and run.status == t.user_attrs["status"], (t.number, run)
            assert store.has_trace(run.id) and store.evaluations(run.id)
            folder = Path(t.user_attrs["run_dir"])
            assert (folder / "trace.csv").is_file() or list(folder.glob("*")), folder


def _dashboard_serves_samples(url: str, artifact_dir: Path, study_name: str, n: int) -> None:
    from ganstab.dashboard.server import start

    with start(url, port=0, artifact_dir=artifact_dir) as server:
        base = server.url.rsplit("/dashboard", 1)[0]
        studies = json.load(urllib.request.urlopen(f"{base}/api/studies", timeout=30))["study_summaries"]
        study_id = next(s["study_id"] for s in studies if s["study_name"] == study_name)
        detail = json.load(urllib.request.urlopen(f"{base}/api/studies/{study_id}", timeout=60))
        shown = 0
        for trial in detail["trials"]:
            if trial["state"] not in ("Complete", "Pruned"):
                continue
            pictures = [a for a in trial["artifacts"] if a["filename"].startswith("step_")]
            assert pictures, trial["number"]
            with urllib.request.urlopen(
                f"{base}/artifacts/{study_id}/{trial['trial_id']}/{pictures[0]['artifact_id']}", timeout=30
            ) as reply:
                assert reply.status == 200 and reply.headers["Content-Type"] == "image/png"
                assert reply.read(8) == b"\x89PNG\r\n\x1a\n"
            shown += 1
        assert shown >= n - 1  # all but, at most, a diverged one


def _quiet_and_placed(out: str, nodes: Any) -> None:
    assert "WARNING" not in out and "Traceback" not in out, out
    for i in range(nodes.n_workers):  # three cohorts of 1 CPU on three 1-CPU nodes: one each
        assert f"ran on {nodes.worker_ip(i)} (node " in out, out


@pytest.fixture(scope="module")
def sqlite_search(ray_nodes: Any) -> dict[str, Any]:
    folder = ray_nodes.folder / "sqlite"
    done = _search(ray_nodes, folder, "--trials", "6")
    assert done.returncode == 0, done.stdout + done.stderr
    return {"folder": folder, "out": done.stdout + done.stderr, "url": f"sqlite:///{folder / 'ganstab.db'}"}


def test_default_sqlite_search_on_machines_sharing_no_disk(ray_nodes: Any, sqlite_search: dict[str, Any]) -> None:
    _quiet_and_placed(sqlite_search["out"], ray_nodes)
    url, folder = sqlite_search["url"], sqlite_search["folder"]
    study = optuna.load_study(study_name="quick-ring8", storage=url)
    trials = _check_trials(study, 6)
    _check_driver_holds(url, study, trials)
    _dashboard_serves_samples(url, folder / "runs" / "artifacts", "quick-ring8", 6)
    _no_database_on_workers(ray_nodes)


def test_recommend_after_a_cluster_search_retrains_from_the_driver(sqlite_search: dict[str, Any]) -> None:
    folder = sqlite_search["folder"]
    done = subprocess.run(
        [sys.executable, "-m", "ganstab.cli", "recommend", "--dataset", "ring8", "--storage", sqlite_search["url"],
         "--reseed", "1", "--top", "1", "--steps", "60", "--workers", "1"],
        cwd=folder, env=user_env(PYTHONPATH=os.getcwd()), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    written = folder / "recommended-ring8.yaml"
    assert written.is_file() and "train" in written.read_text()


def test_postgresql_search_brings_files_and_artifacts_to_the_driver(ray_nodes: Any) -> None:
    folder = ray_nodes.folder / "postgres"
    study_name = f"cluster-{uuid.uuid4().hex[:8]}"
    done = _search(ray_nodes, folder, "--trials", "6", "--storage", PG_URL, "--study", study_name)
    assert done.returncode == 0, done.stdout + done.stderr
    _quiet_and_placed(done.stdout + done.stderr, ray_nodes)
    study = optuna.load_study(study_name=study_name, storage=PG_URL)
    trials = _check_trials(study, 6)
    _check_driver_holds(PG_URL, study, trials)
    _dashboard_serves_samples(PG_URL, folder / "runs" / "artifacts", study_name, 6)


def test_a_gpu_slot_on_a_node_without_cuda_says_so_in_one_line(ray_nodes: Any) -> None:
    folder = ray_nodes.folder / "gpu"
    done = _search(ray_nodes, folder, "--trials", "8", "--gpus-per-cohort", "0.5", "--cpus-per-cohort", "0.5")
    out = done.stdout + done.stderr
    # the workers claim 2 GPUs each, the head none: 2 nodes x 2 cohorts of 0.5 CPU, 0.5 GPU
    assert "4 cohorts of 0.5 CPU at once" in out, out
    assert out.count("cohort ") >= 4 and "cohort 3: trials" in out, out
    assert done.returncode != 0 and "Traceback" not in out, out
    error = [line for line in out.splitlines() if "finds no CUDA device" in line]
    assert len(error) == 1 and "--gpus-per-cohort 0" in error[0], out
    study = optuna.load_study(study_name="quick-ring8", storage=f"sqlite:///{folder / 'ganstab.db'}")
    assert not [t.number for t in study.get_trials() if t.state == TrialState.RUNNING]


def test_a_worker_node_killed_mid_cohort_costs_only_its_cohort(ray_nodes: Any) -> None:
    folder = ray_nodes.folder / "killed"
    folder.mkdir(parents=True)
    args = [sys.executable, "-m", "ganstab.cli", "search", "--address", ray_nodes.address, *TINY, "--trials", "6",
            "--set", "train.steps=1500", "--set", "train.eval_every=500"]  # fmt: skip
    with open(folder / "search.log", "w") as log:
        search = subprocess.Popen(args, cwd=folder, env=user_env(PYTHONPATH=os.getcwd()), stdout=log,
                                  stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        end = time.monotonic() + 180
        while time.monotonic() < end and not _training_on(ray_nodes, 0):
            time.sleep(1)
        assert _training_on(ray_nodes, 0), (folder / "search.log").read_text()
        time.sleep(3)
        ray_nodes.kill_worker(0)
        assert search.wait(timeout=600) == 0, (folder / "search.log").read_text()
    finally:
        if search.poll() is None:
            search.kill()
        ray_nodes.start_worker(0)
    out = (folder / "search.log").read_text()
    assert "Traceback" not in out and "FAIL (lost): its Ray worker died" in out, out
    study = optuna.load_study(study_name="quick-ring8", storage=f"sqlite:///{folder / 'ganstab.db'}")
    _check_trials(study, 6)
    lost = [t for t in study.get_trials() if t.user_attrs.get("status") == "lost"]
    assert lost and all(t.state == TrialState.FAIL for t in lost), out
    retried = {t.user_attrs.get("retry_of") for t in study.get_trials()}
    assert {t.number for t in lost} <= retried, out  # each lost trial's parameters ran again


def _training_on(nodes: Any, i: int) -> bool:
    """Whether a Tune trial (a cohort) runs on worker node i."""
    for pid in nodes.worker_pids(i):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ImplicitFunc" in cmdline or b"ray::_Inner" in cmdline or b"ray::cohort" in cmdline:
            return True
    return False
