"""Run search cohorts with Ray Tune: on this machine (a local Ray instance) or on an existing Ray
cluster, with fractional GPUs where present.

`RayExecutor` is an executor for `ganstab.search.driver.run_search`: called with a `CohortJob` it
runs `run_cohort(job)` as one Ray Tune trial (a function trainable that reserves `cpus_per_cohort`
CPUs and `gpus_per_cohort` GPUs) and returns the members' `MemberResult`s. `run_many(jobs)` runs
several cohorts as the trials of one `tune.Tuner`, concurrently as far as the cluster's resources
allow. Optuna still samples on the driver; each worker opens its own connections to the job's
storage and settles its trials itself (see `ganstab.search.cohort`), so Ray only places and runs
the cohorts, and what it reports back is just the members' results.

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
  the executor asks the cluster first (one GCS call); if the cluster refuses a driver without
  RAY_AUTH_MODE, it retries with this machine's token, as `ray start` did; if the cluster still
  refuses, the error says in one line what to set (RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, the
  head node's `ray get-auth-token`). `summary()` names the cluster joined: address, nodes, resources.

Resources: a request that no node of the cluster can ever meet (a GPU share on a cluster without
GPUs, more CPUs than the cluster has) fails up front; Ray Tune would otherwise wait for it forever.
Ray's fractional GPUs are bookkeeping only: two cohorts with `gpus_per_cohort=0.5` share a GPU's
memory without any limit. A cohort with `gpus_per_cohort=0` is shown no GPU at all (Ray itself
leaves CUDA_VISIBLE_DEVICES alone for a task without GPUs), so Ray's accounting stays true.
Each worker runs torch with `floor(cpus_per_cohort)` threads (at least 1), so concurrent cohorts
do not oversubscribe the cores.

A dead worker costs its cohort, not the search: when a cohort's Ray worker dies (killed, out of
memory, its node lost) `run_many` marks that cohort's unfinished trials FAIL (status `lost`, the
reason in their `error` attribute), queues their parameters again (`retry_of` names the failed
trial) and returns FAIL results for them, so the driver carries on; the other cohorts of the round
keep their results. Only when every cohort of `MAX_LOST_ROUNDS` rounds in a row died does it give up
with one line (the trials are settled and re-queued all the same, so the same command continues).
A cohort whose run_cohort raised is an error of the search, re-raised as before.

Shutting down what ganstab started: a local Ray instance ends with `close()`. SIGTERM and SIGHUP
to the driver are turned into SIGINT (Ctrl-C), so a `kill` ends the search the way Ctrl-C does and
the CLI's `close()` runs. A SIGKILLed driver runs nothing, and Ray's DashboardAgent and
RuntimeEnvAgent, children of the raylet, would linger 35-70 s (they report the raylet's death to
a GCS that is gone, with a 60 s timeout); so a small watchdog process, started with the local
instance, waits for the driver's end (its stdin pipe closes) and then kills those agents.

Ray is optional: importing this module works without it; constructing a `RayExecutor` raises an
ImportError that says `pip install "ray[tune]"`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ganstab.search.cohort import CohortJob, MemberResult, SearchError

__all__ = ["RayExecutor", "require_ray"]

INSTALL_HINT = 'pip install "ray[tune]"'
PROBE_TIMEOUT_S = 5.0  # seconds to wait for a TCP connection to a cluster address
AUTH_PROBE_TIMEOUT_S = 10.0  # seconds to wait for the GCS's answer (a refused token answers at once)
AUTH_HINT = (
    "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=<the cluster's token> for the search (`ray get-auth-token` "
    "on the head node prints it; or copy its ~/.ray/auth_token to this machine)"
)
RESULTS_KEY = "ganstab_results"  # the metric a trial reports its members' results under
TUNE_DIR = "ray"  # Ray Tune's experiment folders go to runs_dir/<study>/ray
MAX_LOST_ROUNDS = 3  # rounds in a row in which every cohort's worker died before run_many gives up


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


# ------------------------------------------------------------------------------- the worker side


def _run_cohort_trial(config: dict[str, Any]) -> dict[str, str]:
    """Body of one Tune trial, in a Ray worker: run the cohort, return its results as JSON."""
    threads, gpus = config["threads"], config["gpus"]
    if gpus == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch initializes CUDA in this process
    cwd = config.get("cwd")
    if cwd and os.path.isdir(cwd):  # Tune starts trials in their own folder; relative paths of
        os.chdir(cwd)  # the configs (data.path, ...) mean the driver's folder, where it exists

    import torch

    torch.set_num_threads(threads)
    from ganstab.search.cohort import run_cohort

    results = run_cohort(config["job"])
    return {RESULTS_KEY: json.dumps([dataclasses.asdict(r) for r in results])}


# -------------------------------------------------------------------------------- the driver side


def _absolute_job(job: CohortJob) -> CohortJob:
    """The job with absolute folders and SQLite file, so a worker's working folder is irrelevant."""
    url = job.storage_url
    try:
        from ganstab.storage import normalize_url

        sa_url = normalize_url(url)
        if (
            sa_url.get_backend_name() == "sqlite"
            and sa_url.database
            and not sa_url.database.startswith("file:")
        ):
            db = os.path.abspath(sa_url.database)
            if db != sa_url.database:
                url = sa_url.set(database=db).render_as_string(hide_password=False)
    except Exception:  # an unparsable URL: run_cohort names it in its own error
        pass
    return dataclasses.replace(
        job,
        storage_url=url,
        run_dir=os.path.abspath(job.run_dir),
        artifact_dir=os.path.abspath(job.artifact_dir),
    )


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
    the executor), whichever SIGINT handler is in place right now."""
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


class RayExecutor:
    """Runs cohorts as Ray Tune trials: `executor(job)` for one, `executor.run_many(jobs)` for
    several at once. Connects to Ray (or starts a local instance) when constructed; see the module
    doc. `num_cpus` sizes a local instance only (default: all cores of this machine). `close()`
    shuts down a local instance this executor started."""

    def __init__(
        self,
        address: str | None = None,
        gpus_per_cohort: float = 0.0,
        cpus_per_cohort: float = 1.0,
        *,
        num_cpus: int | None = None,
    ) -> None:
        if isinstance(gpus_per_cohort, bool) or not isinstance(gpus_per_cohort, (int, float)):
            raise SearchError(f"gpus_per_cohort must be a number >= 0, but got {gpus_per_cohort!r}.")
        if not math.isfinite(gpus_per_cohort) or gpus_per_cohort < 0:
            raise SearchError(f"gpus_per_cohort must be a number >= 0, but got {gpus_per_cohort!r}.")
        if gpus_per_cohort > 1 and gpus_per_cohort != int(gpus_per_cohort):
            raise SearchError(
                f"gpus_per_cohort above 1 must be a whole number (Ray shares only a single GPU), but "
                f"got {gpus_per_cohort!r}."
            )
        if isinstance(cpus_per_cohort, bool) or not isinstance(cpus_per_cohort, (int, float)):
            raise SearchError(f"cpus_per_cohort must be a number > 0, but got {cpus_per_cohort!r}.")
        if not math.isfinite(cpus_per_cohort) or cpus_per_cohort <= 0:
            raise SearchError(f"cpus_per_cohort must be a number > 0, but got {cpus_per_cohort!r}.")
        if num_cpus is not None and (not isinstance(num_cpus, int) or num_cpus < 1):
            raise SearchError(f"num_cpus must be a whole number >= 1, but got {num_cpus!r}.")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise SearchError(f"address must be a Ray cluster address (host:port), but got {address!r}.")
        self.gpus_per_cohort = float(gpus_per_cohort)
        self.cpus_per_cohort = float(cpus_per_cohort)
        self.threads = max(1, math.floor(self.cpus_per_cohort))
        self.num_cpus = num_cpus
        self.requested_address = address.strip() if address else None
        self.address: str | None = None  # the GCS address of the Ray instance in use
        self.started_local = False
        self.slots = 1  # how many cohorts the cluster runs at once (its CPUs and GPUs over the request)
        self._lost_rounds = 0  # run_many calls in a row in which every cohort's worker died
        self._watchdog: subprocess.Popen[bytes] | None = None  # kills Ray's agents if this process dies
        self._signals: dict[int, Any] = {}  # handlers replaced while the local instance runs
        self._ray = require_ray()
        self._connect()
        try:
            self._check_resources()
        except BaseException:
            self.close()  # a local instance started for nothing
            raise

    # ---- connecting

    def _connect(self) -> None:
        ray = self._ray
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
            return
        kwargs: dict[str, Any] = {"ignore_reinit_error": True, "logging_level": logging.WARNING}
        if target is None or target == "local":
            # "local", not None: a bare ray.init() would join a cluster `ray start` left here.
            kwargs.update(address="local", num_cpus=self.num_cpus, include_dashboard=False)
        else:
            kwargs["address"] = target
            if target != "auto" and "://" not in target:  # ray.init handles auto's token itself
                _authenticate(target, source)
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

    def _check_resources(self) -> None:
        """Fail now for a request the cluster can never meet (Tune would wait for it forever)."""
        total = self._ray.cluster_resources()
        cpus, gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
        where = f"the Ray cluster at {self.address}"
        if self.gpus_per_cohort > gpus:
            have = "no GPU" if gpus == 0 else f"only {gpus:g} GPUs"
            raise SearchError(
                f"gpus_per_cohort={self.gpus_per_cohort:g}, but {where} has {have}; use "
                f"gpus_per_cohort=0 (CPU only) or a cluster with GPUs."
            )
        if self.cpus_per_cohort > cpus:
            raise SearchError(
                f"cpus_per_cohort={self.cpus_per_cohort:g}, but {where} has only {cpus:g} CPUs."
            )
        slots = math.floor(cpus / self.cpus_per_cohort + 1e-9)
        if self.gpus_per_cohort > 0:
            slots = min(slots, math.floor(gpus / self.gpus_per_cohort + 1e-9))
        self.slots = max(1, slots)

    def summary(self) -> str:
        """One line: which Ray instance the search runs on, its nodes and resources."""
        ray = self._ray
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        total = ray.cluster_resources()
        parts = [f"{total.get('CPU', 0):g} CPUs", f"{total.get('GPU', 0):g} GPUs"]
        if total.get("memory"):
            parts.append(f"{total['memory'] / 2**30:.1f} GiB memory")
        what = "a local Ray instance" if self.started_local else "the Ray cluster"
        return (
            f"Ray: {what} at {self.address}, {nodes} node{'s' if nodes != 1 else ''}, {', '.join(parts)}; "
            f"{self.slots} cohort{'s' if self.slots != 1 else ''} of {self.cpus_per_cohort:g} CPU at once"
        )

    def close(self) -> None:
        """Shut down the local Ray instance this executor started (a joined cluster stays up)."""
        if self.started_local and self._ray.is_initialized():
            self._ray.shutdown()
        self.started_local = False
        if self._watchdog is not None and self._watchdog.stdin is not None:
            self._watchdog.stdin.close()  # it kills what the shutdown left in 2 s, then exits
        self._watchdog = None
        if threading.current_thread() is threading.main_thread():
            for sig, previous in self._signals.items():
                signal.signal(sig, previous)
        self._signals.clear()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- running

    def __call__(self, job: CohortJob) -> list[MemberResult]:
        return self.run_many([job])[0]

    def run_many(self, jobs: Sequence[CohortJob]) -> list[list[MemberResult]]:
        """Run the cohorts concurrently (as the cluster's resources allow); their results in the
        order of `jobs`. A cohort that raised has told its trials FAIL; its error is re-raised here
        (the first in job order) once all cohorts have ended."""
        jobs = [_absolute_job(j) for j in jobs]
        if not jobs:
            return []
        indices = [j.index for j in jobs]
        if len(set(indices)) != len(indices):
            raise SearchError(f"run_many needs distinct cohort indices, but got {indices}.")
        if len({j.study_name for j in jobs}) != 1 or len({j.artifact_dir for j in jobs}) != 1:
            raise SearchError("run_many runs cohorts of one study at a time.")
        if self.gpus_per_cohort == 0:
            on_cuda = [j.index for j in jobs if any(c.train.device == "cuda" for c in j.configs)]
            if on_cuda:
                raise SearchError(
                    f"cohorts {on_cuda} set train.device=cuda, but gpus_per_cohort=0 gives a cohort no "
                    f"GPU; give each cohort a GPU share (e.g. gpus_per_cohort=0.5) or use train.device=auto."
                )
        from ray import tune

        ray = self._ray
        if not ray.is_initialized():
            raise SearchError("the Ray connection of this executor was shut down (close() was called).")

        def cohort(config: dict[str, Any]) -> dict[str, str]:  # a fresh function per call: Tune
            return _run_cohort_trial(config)  # keeps the resources on the function object

        trainable = tune.with_resources(cohort, {"cpu": self.cpus_per_cohort, "gpu": self.gpus_per_cohort})
        study_dir = Path(jobs[0].run_dir).parent
        name = (
            f"cohort-{indices[0]:03d}" if len(jobs) == 1 else f"cohorts-{min(indices):03d}-{max(indices):03d}"
        )
        tuner = tune.Tuner(
            trainable,
            param_space={
                "job": tune.grid_search(jobs),
                "threads": self.threads,
                "gpus": self.gpus_per_cohort,
                "cwd": os.getcwd(),
            },
            tune_config=tune.TuneConfig(
                num_samples=1,
                max_concurrent_trials=len(jobs),
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(study_dir / TUNE_DIR),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),  # run_cohort is not retryable
            ),
        )
        with _quiet_tune():
            grid = tuner.fit()
        by_index: dict[int, Any] = {}
        for result in grid:
            job = (result.config or {}).get("job")
            if isinstance(job, CohortJob):
                by_index[job.index] = result
        outputs: list[list[MemberResult]] = []
        first_error: BaseException | None = None
        lost: list[str] = []
        for job in jobs:
            result = by_index.get(job.index)
            error = None if result is None else result.error
            payload = None if result is None else (result.metrics or {}).get(RESULTS_KEY)
            if error is None and payload is not None:
                outputs.append([MemberResult(**r) for r in json.loads(payload)])
                continue
            if error is not None and _worker_died(error):
                reason = f"its Ray worker died ({_first_line(error)})"
                outputs.append(settle_lost_cohort(job, reason))
                lost.append(f"cohort {job.index}: {reason}")
                continue
            outputs.append([])
            if first_error is None:
                first_error = _cohort_error(job, error)
        if first_error is not None:
            raise first_error
        self._lost_rounds = self._lost_rounds + 1 if len(lost) == len(jobs) else 0
        if self._lost_rounds >= MAX_LOST_ROUNDS:
            raise SearchError(
                f"every cohort's Ray worker died in {self._lost_rounds} rounds in a row (last: {lost[-1]}); "
                f"see the Ray logs (/tmp/ray/session_latest/logs) and the workers' memory. Their trials are "
                f"marked FAIL and re-queued: the same command continues the search."
            )
        return outputs


def _worker_died(error: BaseException) -> bool:
    """Whether a trial's error means its worker process (or node) is gone, not that run_cohort
    raised: Ray wraps an exception raised by the trainable in a RayTaskError."""
    from ray.exceptions import RayTaskError

    return not isinstance(error, RayTaskError)


def _first_line(error: BaseException) -> str:
    """The exception's type and the first line of its message (Ray's run over many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def settle_lost_cohort(job: CohortJob, reason: str) -> list[MemberResult]:
    """Settle the trials a dead worker left unfinished: FAIL with status `lost` and `reason`, their
    parameters queued again, their ganstab run rows `lost`; their results (trials the cohort had
    settled before it died are left as they are). Another driver that settles one first wins."""
    import optuna
    from optuna.trial import TrialState

    from ganstab.search.trials import ATTR_STATUS, StaleTrialRequeuer
    from ganstab.storage import Store
    from ganstab.storage.studies import open_optuna_storage

    storage = open_optuna_storage(job.storage_url)
    store = Store(job.storage_url)  # its tables exist already when a driver ran the job
    try:
        study = optuna.load_study(study_name=job.study_name, storage=storage)
        requeue = StaleTrialRequeuer()
        results = []
        for trial_id, number in zip(job.trial_ids, job.trial_numbers):
            frozen = storage.get_trial(trial_id)
            if frozen.state != TrialState.RUNNING:
                continue
            try:
                storage.set_trial_user_attr(trial_id, ATTR_STATUS, "lost")
                storage.set_trial_user_attr(trial_id, "error", f"lost: {reason}"[:1000])
                if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another driver settled it first
            requeue(study, frozen, reason)
            run = store.find_run(job.study_name, number)
            if run is not None:
                store.set_status(run.id, "lost")
            results.append(MemberResult(number, "FAIL", "lost", None, run_dir=job.run_dir, error=reason))
        return results
    finally:
        store.dispose()
        storage.engine.dispose()


def _cohort_error(job: CohortJob, error: BaseException | None) -> BaseException:
    """What to raise for a cohort that ended without results and whose worker did not die (that
    case is settle_lost_cohort's). run_cohort raised: its own error (run_cohort told the trials
    FAIL first), as the in-process executor would, with Ray's error and the worker's traceback as
    its cause; a RayTaskError without a cause: a SearchError. No error at all: Tune stopped the
    trial because the driver got Ctrl-C (its SIGINT handler ends the run quietly)."""
    if error is None:
        return KeyboardInterrupt(f"cohort {job.index}: interrupted; its trials are recovered by the next run")
    cause = getattr(error, "cause", None)  # a RayTaskError carries the worker's exception
    if isinstance(cause, BaseException):
        cause.__cause__ = error
        return cause
    return SearchError(
        f"cohort {job.index}: its Ray worker failed ({_first_line(error)}); the trials it left running are "
        f"marked FAIL and re-enqueued by the next run of the search."
    )


@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    """Ray 2.60's default ("new") output engine prints an experiment header even at verbose=0;
    the legacy engine at verbose=0 prints nothing. RAY_AIR_NEW_OUTPUT is read inside fit()."""
    before = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = before


def _trial_name(trial: Any) -> str:
    job = trial.config.get("job")
    return f"cohort-{job.index:03d}" if isinstance(job, CohortJob) else str(trial.trial_id)
