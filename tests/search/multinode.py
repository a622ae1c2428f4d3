"""A Ray cluster of machines that share no disk, simulated on this one, for tests (`ray_nodes`
fixture in conftest.py).

A head node (`ray start --head`, as the README says) and worker nodes, each worker started inside
its own mount namespace with a private tmpfs over `folder` (the folder the searches run in) and
over /tmp/ray (Ray's session folder, which two machines never share): a
worker sees an empty folder where the driver has its database and run folders, as another machine
would. Workers join as the README tells a user (`RAY_AUTH_MODE=token`, `RAY_AUTH_TOKEN` from the
head's `ray get-auth-token`), each with its own node IP (127.0.0.2, 127.0.0.3, ...: several raylets
on one IP would let a driver attach to a worker's raylet, which two machines never do). Every node
runs `ray start --block` in its own process group, so stopping a node kills exactly its processes
by pid (never `ray stop`, which would end every Ray instance on the machine, other tests' too);
a worker's tmpfs disappears with the last process of its namespace.

Needs root (mount namespaces) and `unshare`; `available()` says why not otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.search.ray_support import RAY_BIN, free_port, user_env

START_TIMEOUT_S = 90.0


def available() -> str | None:
    """Why this machine cannot simulate the cluster, or None."""
    if os.geteuid() != 0:
        return "a simulated multi-node cluster needs root (mount namespaces)"
    if shutil.which("unshare") is None:
        return "a simulated multi-node cluster needs unshare (util-linux)"
    return None


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the node's processes (the raylet, its workers and agents), by pid."""
    for _ in range(2):  # a second pass for anything started while the first one ran
        for pid in reversed(_descendants(proc.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class RayNodes:
    """The simulated cluster: `start()`, `address` (host:port for `--address`), `kill_worker(i)`,
    `start_worker(i)`, `stop()`. `worker_gpus`: what `ray start --num-gpus` claims per worker."""

    def __init__(self, folder: Path, *, workers: int = 2, worker_gpus: int = 0) -> None:
        self.folder = Path(folder)
        self.n_workers = workers
        self.worker_gpus = worker_gpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.token = ""
        self.head: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers
        self.logs = self.folder.parent / f"ray-nodes-{self.port}"
        self.logs.mkdir(parents=True, exist_ok=True)

    def worker_ip(self, i: int) -> str:
        return f"127.0.0.{i + 2}"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the node's whole life
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> RayNodes:
        self.folder.mkdir(parents=True, exist_ok=True)
        # a machine that never ran Ray has no token, and `ray start` then starts without
        # authentication: make one first, as the README tells a user (kept if there is one)
        subprocess.run([str(RAY_BIN), "get-auth-token", "--generate"], env=user_env(), capture_output=True,
                       text=True, check=True, timeout=60)  # fmt: skip
        # the README's head command (without its web dashboard, which nothing here reads)
        self.head = self._spawn("head", [str(RAY_BIN), "start", "--head", "--port", str(self.port), "--num-cpus", "1",
                                         "--disable-usage-stats", "--include-dashboard=false", "--block"], user_env())  # fmt: skip
        self._wait(lambda: _listening(self.port), "the head node's GCS")
        self.token = subprocess.run([str(RAY_BIN), "get-auth-token"], env=user_env(), capture_output=True,
                                    text=True, check=True, timeout=60).stdout.strip()  # fmt: skip
        for i in range(self.n_workers):
            self.start_worker(i, wait=False)
        self._wait(lambda: self.alive_nodes() == 1 + self.n_workers, f"{1 + self.n_workers} nodes")
        return self

    def start_worker(self, i: int, *, wait: bool = True) -> None:
        """Worker i in its own mount namespace, a private tmpfs over the search folder."""
        # --dashboard-agent-listen-port: each node's agent binds that port (default 52365) on every
        # address, which nodes on one machine would share; two machines never conflict there
        # and a private /tmp/ray: the nodes of one machine would share Ray's session folder
        script = 'mount -t tmpfs tmpfs "$0" && mkdir -p /tmp/ray && mount -t tmpfs tmpfs /tmp/ray && exec "$1" start --address "$2" --node-ip-address "$3" ' \
                 '--num-cpus 1 --num-gpus "$4" --dashboard-agent-listen-port "$5" --disable-usage-stats --block'  # fmt: skip
        env = user_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token)
        argv = ["unshare", "--mount", "--fork", "sh", "-c", script, str(self.folder), str(RAY_BIN), self.address,
                self.worker_ip(i), str(self.worker_gpus), str(free_port())]  # fmt: skip
        self.workers[i] = self._spawn(f"worker-{i}", argv, env)
        if wait:
            self._wait(lambda: self.alive_nodes() == 1 + self.n_workers, f"worker {i} to join")

    def kill_worker(self, i: int) -> None:
        """Worker i's raylet, its workers and agents, killed by pid (a machine that dies)."""
        proc = self.workers[i]
        if proc is not None:
            _kill_tree(proc)
        self.workers[i] = None

    def worker_pids(self, i: int) -> list[int]:
        proc = self.workers[i]
        return [] if proc is None else _descendants(proc.pid)

    def alive_nodes(self) -> int:
        """How many nodes the head counts alive (`ray status`, as a user would ask)."""
        env = user_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token)
        out = subprocess.run([str(RAY_BIN), "status", "--address", self.address], env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        if out.returncode != 0:
            return -1
        active = out.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0]
        return sum(1 for line in active.splitlines() if " node_" in line)

    def _wait(self, ready, what: str) -> None:
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if ready():
                return
            time.sleep(1)
        raise RuntimeError(f"the simulated cluster: no {what} after {START_TIMEOUT_S:g} s (logs: {self.logs})")

    def stop(self) -> None:
        for i in range(self.n_workers):
            self.kill_worker(i)
        if self.head is not None:
            _kill_tree(self.head)
            self.head = None
        current = Path("/tmp/ray/ray_current_cluster")  # ray start --head names it; never leave ours
        try:
            if current.read_text().strip().endswith(f":{self.port}"):
                current.unlink()
        except OSError:
            pass


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
