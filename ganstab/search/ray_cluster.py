"""Ray cluster plumbing for a search: joining a cluster (or starting a local Ray instance), and
cleaning up what ganstab started. `RayCluster` is the connection `RayExecutor` runs its cohorts on.

Connecting (once, in the constructor):
- `address=None` and no RAY_ADDRESS: start a local Ray instance for this process (never joins a
  cluster that `ray start` left on this machine, which a bare `ray.init()` would do).
- `address="host:port"` (the GCS address `ray start --head` prints), `"ray://host:10001"`, or
  `"auto"`; with `address=None`, RAY_ADDRESS is used the same way. The address is probed first,
  so a wrong one fails at once with its name instead of after Ray's long reconnect timeout.
- A process that is connected to Ray already (a test session, a notebook) reuses that connection.
- Token authentication (on by default since Ray 2.59/2.60): `ray start` turns it on whenever its
  machine has a token (~/.ray/auth_token, which any earlier local Ray instance writes), but a
  driver that joins with an explicit address sends the token only with RAY_AUTH_MODE=token. So
  the cluster is asked first (one GCS call); if it refuses a driver without RAY_AUTH_MODE, the
  driver retries with this machine's token, as `ray start` did; if the cluster still refuses,
  the error says in one line what to set (RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, the head
  node's `ray get-auth-token`). `describe()` names the cluster joined: address, nodes, resources.

Shutting down what ganstab started: a local Ray instance ends with `close()`. SIGTERM and SIGHUP
to the driver are turned into SIGINT (Ctrl-C), so a `kill` ends the search the way Ctrl-C does and
the CLI's `close()` runs. A SIGKILLed driver runs nothing, and Ray's DashboardAgent and
RuntimeEnvAgent, children of the raylet, would linger 35-70 s (they report the raylet's death to
a GCS that is gone, with a 60 s timeout); so a small watchdog process, started with the local
instance, waits for the driver's end (its stdin pipe closes) and then kills those agents.

Ray is optional: importing this module works without it; `RayCluster` (and `require_ray`) raise
an ImportError that says `pip install "ray[tune]"`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from ganstab.search.errors import SearchError

__all__ = ["RayCluster", "require_ray"]

INSTALL_HINT = 'pip install "ray[tune]"'
PROBE_TIMEOUT_S = 5.0  # seconds to wait for a TCP connection to a cluster address
AUTH_PROBE_TIMEOUT_S = 10.0  # seconds to wait for the GCS's answer (a refused token answers at once)
AUTH_HINT = (
    "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=<the cluster's token> for the search (`ray get-auth-token` "
    "on the head node prints it; or copy its ~/.ray/auth_token to this machine)"
)


def require_ray() -> Any:
    """Import and return `ray` (with `ray.tune`), or raise an ImportError saying what to install."""
    try:
        import ray
        import ray.tune  # noqa: F401  (ray without the tune extra lacks pandas/pyarrow)
    except ImportError as e:
        raise ImportError(
            f"running a search on Ray needs Ray Tune, which is not installed: {INSTALL_HINT} ({e})"
        ) from e
    return ray


class RayCluster:
    """A connection to Ray: the cluster at `address` (or RAY_ADDRESS), or a local instance that
    this object starts (sized by `num_cpus`, default all cores) and `close()` shuts down."""

    def __init__(
        self, address: str | None = None, *, num_cpus: int | None = None, py_modules: Sequence[str] = ()
    ) -> None:
        self.requested_address = address.strip() if address else None
        self.num_cpus = num_cpus
        self.py_modules = list(py_modules)  # local code shipped to every worker (Ray's runtime_env)
        self.address: str | None = None  # the GCS address of the Ray instance in use
        self.started_local = False
        self._watchdog: subprocess.Popen[bytes] | None = None  # kills Ray's agents if this process dies
        self._signals: dict[int, Any] = {}  # handlers replaced while the local instance runs
        self.ray = require_ray()
        self._connect()

    def _connect(self) -> None:
        ray = self.ray
        env = os.environ.get("RAY_ADDRESS", "").strip()
        target, source = (
            (self.requested_address, "address") if self.requested_address else (env or None, "RAY_ADDRESS")
        )
        if target is not None and target != "local":
            _probe(target, source)
        if ray.is_initialized():
            current = ray.get_runtime_context().gcs_address
            if (
                target not in (None, "auto", "local")
                and "://" not in target
                and not _same_endpoint(target, current)
            ):
                raise SearchError(
                    f"this process is connected to the Ray instance at {current!r} already and cannot "
                    f"join {target!r} ({source}) as well; run the search in a fresh process."
                )
            self.address = current
            if self.py_modules:  # a job's runtime_env is fixed when it connects
                logging.getLogger(__name__).warning(
                    "this process joined Ray before ganstab could ship %s to its workers; workers that lack "
                    "them cannot import your code (call ray.init(runtime_env={'py_modules': [...]}) yourself)",
                    ", ".join(self.py_modules),
                )
            return
        kwargs: dict[str, Any] = {"ignore_reinit_error": True, "logging_level": logging.WARNING}
        if self.py_modules:  # the user's networks and data factory reach workers that lack them
            kwargs["runtime_env"] = {"py_modules": self.py_modules}
        if target is None or target == "local":
            # "local", not None: a bare ray.init() would join a cluster `ray start` left here.
            kwargs.update(address="local", num_cpus=self.num_cpus, include_dashboard=False)
            _token_auth_by_default()
        else:
            kwargs["address"] = target
            if target != "auto" and "://" not in target:  # ray.init handles auto's token itself
                _authenticate(target, source)
            _use_token_auth()  # what ray.init decides when the machine has a token, without its warning
        main = threading.current_thread() is threading.main_thread()
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)} if main else {}
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {target!r} ({source})" if target else "a local Ray instance"
            raise SearchError(f"cannot connect to {where}: {e}") from e
        self.started_local = target is None or target == "local"
        if self.started_local:
            self._watchdog = _start_watchdog(ray)
            for sig, handler in before.items():  # ray.init put its own SIGTERM handler (sys.exit)
                if handler in (signal.SIG_DFL, None):  # never replace a handler of the caller's
                    signal.signal(sig, _as_sigint)
                    self._signals[sig] = handler or signal.SIG_DFL
        self.address = ray.get_runtime_context().gcs_address

    def describe(self) -> str:
        """Which Ray instance this is, its nodes and resources (one line, no end)."""
        ray = self.ray
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        total = ray.cluster_resources()
        parts = [f"{total.get('CPU', 0):g} CPUs", f"{total.get('GPU', 0):g} GPUs"]
        if total.get("memory"):
            parts.append(f"{total['memory'] / 2**30:.1f} GiB memory")
        what = "a local Ray instance" if self.started_local else "the Ray cluster"
        return f"Ray: {what} at {self.address}, {nodes} node{'s' if nodes != 1 else ''}, {', '.join(parts)}"

    def close(self) -> None:
        """Shut down the local Ray instance this object started (a joined cluster stays up)."""
        if self.started_local and self.ray.is_initialized():
            self.ray.shutdown()
        self.started_local = False
        if self._watchdog is not None and self._watchdog.stdin is not None:
            self._watchdog.stdin.close()  # it kills what the shutdown left in 2 s, then exits
        self._watchdog = None
        if threading.current_thread() is threading.main_thread():
            for sig, previous in self._signals.items():
                signal.signal(sig, previous)
        self._signals.clear()


def _probe(address: str, source: str) -> None:
    """Fail fast, naming the address, when nothing listens at a host:port cluster address."""
    if address in ("auto", "local"):
        return
    text = address if "://" in address else f"tcp://{address}"
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise SearchError(f"Ray address {address!r} ({source}) is not host:port: {e}") from None
    if not host or port is None:
        raise SearchError(
            f"Ray address {address!r} ({source}) must look like host:port (the address `ray start "
            f"--head` prints), ray://host:port, or auto."
        )
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        raise SearchError(
            f"cannot reach a Ray cluster at {address!r} ({source}): {e}. Start one there with "
            f"`ray start --head --port={port}`, fix the address, or leave it out to run on a local "
            f"Ray instance."
        ) from None


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Ray's C++ client logs every refused call to file descriptor 2; the error raised says it all."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _auth_refusal(address: str) -> str | None:
    """Why the GCS at `address` refuses this process's authentication, or None (accepted, or no
    answer in AUTH_PROBE_TIMEOUT_S: then ray.init reports whatever else is wrong)."""
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError

    outcome: list[str | None] = []

    def ask() -> None:
        try:
            GcsClient(address=address)
            outcome.append(None)
        except AuthenticationError as e:
            outcome.append(str(e).split(". ")[0].strip())  # "RPC error: InvalidAuthToken: ..."
        except Exception:  # anything else is ray.init's to report, with its own message
            outcome.append(None)

    with _stderr_silenced():
        thread = threading.Thread(target=ask, daemon=True)
        thread.start()
        thread.join(AUTH_PROBE_TIMEOUT_S)
    return outcome[0] if outcome else None


def _use_token_auth() -> bool:
    """RAY_AUTH_MODE=token for this process (and Ray's cached config) if this machine has a token
    and RAY_AUTH_MODE is unset, as `ray start` itself decides; whether it did."""
    if "RAY_AUTH_MODE" in os.environ:
        return False  # the user's choice stands
    from ray._raylet import AuthenticationTokenLoader, Config

    loader = AuthenticationTokenLoader.instance()
    if not loader.has_token(ignore_auth_mode=True):
        return False
    os.environ["RAY_AUTH_MODE"] = "token"
    Config.initialize("")  # Ray caches RAY_AUTH_MODE in its config: re-read it
    loader.reset_cache()
    return True


def _token_auth_by_default() -> None:
    """RAY_AUTH_MODE=token for a local instance when the user left it unset: what ray.init picks
    then anyway, but chosen explicitly, so Ray does not warn on every run ("Token authentication
    is enabled for this Ray cluster") about a choice the user never made. RAY_AUTH_MODE=disabled
    still turns it off."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    from ray._raylet import AuthenticationTokenLoader, Config

    os.environ["RAY_AUTH_MODE"] = "token"
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def _authenticate(address: str, source: str) -> None:
    """Make this process pass the cluster's token check before ray.init (which would retry a
    refused token for 20-30 s, logging a line per try), or fail with one line saying what to set."""
    refusal = _auth_refusal(address)
    if refusal is None:
        return
    if _use_token_auth():
        refusal = _auth_refusal(address)
        if refusal is None:
            logging.getLogger(__name__).info("joined %s with this machine's Ray token", address)
            return
    mode = os.environ.get("RAY_AUTH_MODE") or "unset"
    raise SearchError(
        f"the Ray cluster at {address!r} ({source}) refused this driver's authentication ({refusal}; "
        f"RAY_AUTH_MODE {mode}): {AUTH_HINT}."
    )


# Run by the watchdog process: waits for EOF on stdin (the driver closed it, or died), gives a
# shutdown under way 2 s, then SIGKILLs the given pid:start pairs that still name the same process.
_WATCHDOG = """
import os, signal, sys, time
def started(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
procs = [p.split(":") for p in sys.argv[1:]]
sys.stdin.buffer.read()
time.sleep(2)
for pid, start in procs:
    if started(int(pid)) == start:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
"""


def _children(pid: int) -> list[str]:
    """`pid:start` of the processes whose parent is `pid` (Linux /proc; elsewhere none)."""
    found = []
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 19 and fields[1] == str(pid):
                found.append(f"{name}:{fields[19]}")
    return found


def _start_watchdog(ray: Any) -> subprocess.Popen[bytes] | None:
    """The watchdog for the raylet's agents of the local instance this process just started."""
    try:
        raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    except (AttributeError, KeyError, IndexError, TypeError):  # Ray's internals moved: no watchdog
        return None
    agents = _children(raylet)  # the agents, started before ray.init returns; workers end by themselves
    if not agents:
        return None
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, *agents],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the terminal's process group must not end it first
    )  # fmt: skip


def _as_sigint(signum: int, frame: Any) -> None:
    """SIGTERM/SIGHUP handler: end the search as Ctrl-C does (Tune stops its trials, the CLI closes
    the executor), whichever SIGINT handler is in place right now. A search started in the
    background (`ganstab search ... &` in a script) ignores SIGINT, as the shell set it: a kill
    must still end it, so the handler raises what Ctrl-C would have."""
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)


def _same_endpoint(a: str, b: str) -> bool:
    """Whether two host:port addresses name the same endpoint (hosts compared as resolved IPs)."""

    def split(addr: str) -> tuple[str, int | None]:
        parts = urlsplit(addr if "://" in addr else f"tcp://{addr}")
        host = parts.hostname or ""
        try:
            host = socket.gethostbyname(host)
        except OSError:
            pass
        return host, parts.port

    try:
        (ha, pa), (hb, pb) = split(a), split(b)
    except ValueError:
        return False
    loopback = ("127.0.0.1", socket.gethostbyname(socket.gethostname()))
    return pa == pb and (ha == hb or (ha in loopback and hb in loopback))
