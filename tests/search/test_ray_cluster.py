"""Ray cluster plumbing (ganstab.search.ray_cluster): joining a real `ray start --head` cluster on
loopback with its token, failing at once on a wrong address, and leaving no Ray process behind a
killed driver. Real Ray, real processes, no mocks.

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
import time
from pathlib import Path

import optuna
import pytest

from ganstab.search.errors import SearchError
from ganstab.search.ray_cluster import _children, _probe, _same_endpoint
from ganstab.search.ray_executor import RayExecutor
from tests.search.ray_support import RAY_BIN, TINY
from tests.search.ray_support import check_search as _check_search
from tests.search.ray_support import free_port as _free_port
from tests.search.ray_support import user_env as _user_env

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.usefixtures("no_ray_address")


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


def test_an_address_is_probed_before_ray_is_asked() -> None:
    """Without Ray: a malformed address and one where nothing listens fail at once, naming it."""
    nobody = f"127.0.0.1:{_free_port()}"
    with pytest.raises(SearchError, match=f"cannot reach a Ray cluster at '{nobody}' \\(RAY_ADDRESS\\)"):
        _probe(nobody, "RAY_ADDRESS")
    with pytest.raises(SearchError, match="'nohost' \\(address\\) must look like host:port"):
        _probe("nohost", "address")
    _probe("auto", "address")  # resolved by Ray itself
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        _probe(f"127.0.0.1:{listening.getsockname()[1]}", "address")  # something answers: no error


def test_same_endpoint_compares_resolved_hosts() -> None:
    assert _same_endpoint("127.0.0.1:6379", "localhost:6379")
    assert not _same_endpoint("127.0.0.1:6379", "127.0.0.1:6380")
    assert not _same_endpoint("10.255.255.1:6379", "127.0.0.1:6379")


def test_children_lists_the_processes_the_watchdog_would_end() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        found = [c.split(":")[0] for c in _children(os.getpid())]
        assert str(child.pid) in found
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_a_kill_ends_the_search_as_ctrl_c_does_even_where_sigint_is_ignored(sigint):
    """SIGTERM/SIGHUP become Ctrl-C (KeyboardInterrupt) in the search's main thread, also in a search
    started in the background by a script, whose SIGINT the shell set to be ignored: there a
    re-raised SIGINT did nothing and a `kill` left the search running."""
    from ganstab.search.ray_cluster import _as_sigint

    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler if sigint == "default" else signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt):
            signal.signal(signal.SIGUSR1, _as_sigint)
            signal.raise_signal(signal.SIGUSR1)  # a real signal, delivered to this (main) thread
            time.sleep(0.1)
    finally:
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
