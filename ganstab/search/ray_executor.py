"""Run search cohorts with Ray Tune: on this machine (a local Ray instance) or on an existing Ray
cluster, with fractional GPUs where present.

`RayExecutor` is an executor for `ganstab.search.driver.run_search`: called with a `CohortJob` it
runs `run_cohort(job)` as one Ray Tune trial (a function trainable that reserves `cpus_per_cohort`
CPUs and `gpus_per_cohort` GPUs) and returns the members' `MemberResult`s. `run_many(jobs)` runs
several cohorts as the trials of one `tune.Tuner`, concurrently as far as the cluster's resources
allow. Optuna still samples on the driver; each worker opens its own connections to the job's
storage and settles its trials itself (see `ganstab.search.cohort_run`), so Ray only places and runs
the cohorts, and what it reports back is just the members' results.

Connecting to Ray (a cluster, or a local instance this executor starts and `close()` shuts
down) is `ganstab.search.ray_cluster.RayCluster`'s; `summary()` names the cluster joined.

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

Ray is optional: importing this module works without it; constructing a `RayExecutor` raises an
ImportError that says `pip install "ray[tune]"`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ganstab.search.cohort_job import CohortJob, MemberResult
from ganstab.search.errors import SearchError
from ganstab.search.ray_cluster import RayCluster, require_ray

__all__ = ["RayExecutor", "require_ray", "settle_lost_cohort"]

RESULTS_KEY = "ganstab_results"  # the metric a trial reports its members' results under
TUNE_DIR = "ray"  # Ray Tune's experiment folders go to runs_dir/<study>/ray
MAX_LOST_ROUNDS = 3  # rounds in a row in which every cohort's worker died before run_many gives up


# ------------------------------------------------------------------------------- the worker side


def _run_cohort_trial(config: dict[str, Any]) -> dict[str, str]:
    """Body of one Tune trial, in a Ray worker: run the cohort where Ray put it, return what the
    driver needs back (`remote_cohort.run_placed`) as text."""
    threads, gpus, job = config["threads"], config["gpus"], config["job"]
    if gpus == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch initializes CUDA in this process
    cwd = config.get("cwd")
    if cwd and os.path.isdir(cwd):  # Tune starts trials in their own folder; relative paths of
        os.chdir(cwd)  # the configs (data.path, ...) mean the driver's folder, where it exists

    import torch

    torch.set_num_threads(threads)
    from ganstab.search.remote_cohort import node_label, pack, run_placed

    if gpus > 0 and not torch.cuda.is_available():  # Ray counts GPUs that `ray start --num-gpus` claims
        import ray

        node = node_label(ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address())
        raise SearchError(
            f"cohort {job.index} was given {gpus:g} GPU by Ray on node {node}, but torch finds no CUDA device "
            f"there ({torch.__version__}); start that node without --num-gpus, or use --gpus-per-cohort 0."
        )
    return {RESULTS_KEY: pack(run_placed(job, config["places"][job.index]))}


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
    runs_dir = os.path.abspath(job.settings.runs_dir)  # and with it the artifact folder
    settings = dataclasses.replace(job.settings, storage=url, runs_dir=Path(runs_dir))
    return dataclasses.replace(job, settings=settings, run_dir=os.path.abspath(job.run_dir))


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
        storage: str | None = None,
        py_modules: Sequence[str] = (),
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
        self.slots = 1  # how many cohorts the cluster runs at once (its CPUs and GPUs over the request)
        self._lost_rounds = 0  # run_many calls in a row in which every cohort's worker died
        self._server: Any = None  # the driver's SQLite study served to other nodes (StorageServer)
        self._store: Any = None  # the driver's Store, for what cohorts of other nodes send back
        self._lander: Any = None  # (url, the Lander actor, its (name, namespace)): remote_cohort
        if storage is not None:  # refused before connecting: a Ray Client connection takes ~10-60 s
            _check_storage(storage, address or os.environ.get("RAY_ADDRESS", ""))
        # py_modules: folders and .py files of the user's code (engine/user_code.code_paths) that Ray
        # ships to every worker, for nodes where they are not installed
        self.cluster = RayCluster(address, num_cpus=num_cpus, py_modules=py_modules)
        self._ray = self.cluster.ray
        try:
            self._check_resources()
        except BaseException:
            self.close()  # a local instance started for nothing
            raise

    @property
    def address(self) -> str | None:
        """The GCS address of the Ray instance in use."""
        return self.cluster.address

    @property
    def started_local(self) -> bool:
        """Whether this executor started a local Ray instance (which `close()` shuts down)."""
        return self.cluster.started_local

    def _check_resources(self) -> None:
        """Fail now for a request the cluster can never meet (Tune would wait for it forever).
        The cohorts at once: per node, as many as both its CPUs and its GPUs allow (a cohort runs
        on one node: a head without GPUs holds no GPU cohort)."""
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
        slots = 0
        for node in self._ray.nodes():
            if not node.get("Alive"):
                continue
            have = node.get("Resources") or {}
            fit = math.floor(float(have.get("CPU", 0)) / self.cpus_per_cohort + 1e-9)
            if self.gpus_per_cohort > 0:
                fit = min(fit, math.floor(float(have.get("GPU", 0)) / self.gpus_per_cohort + 1e-9))
            slots += fit
        self.slots = max(1, slots)

    def summary(self) -> str:
        """One line: which Ray instance the search runs on, its nodes and resources."""
        return (
            f"{self.cluster.describe()}; "
            f"{self.slots} cohort{'s' if self.slots != 1 else ''} of {self.cpus_per_cohort:g} CPU at once"
        )

    def close(self) -> None:
        """Stop serving the study, and shut down the local Ray instance this executor started (a
        joined cluster stays up)."""
        self.close_storage()
        self.cluster.close()

    def check_storage(self, url: str) -> None:
        """Refuse a study this executor cannot run on its cluster, before any trial is asked (see
        `_check_storage`; `RayExecutor(storage=...)` does it before connecting)."""
        _check_storage(url, self.cluster.requested_address or os.environ.get("RAY_ADDRESS", "") or self.address or "")

    def _places(self, jobs: Sequence[CohortJob]) -> dict[int, Any]:
        """What each job's worker must know of this driver (`remote_cohort.Place`): its node, and
        for a SQLite study the address it serves the study at and the cohort's run ids."""
        from ganstab.search.remote_cohort import Place, create_runs, sqlite_study

        driver_node = self._ray.get_runtime_context().get_node_id()
        from ganstab.search.remote_cohort import start_lander

        url = jobs[0].storage_url
        self.check_storage(url)
        sqlite = sqlite_study(jobs[0])
        if self._lander is None or self._lander[0] != url:
            self.close_storage()
            if sqlite:
                from ganstab.search.storage_server import StorageServer, server_port
                from ganstab.storage import Store

                self._server = StorageServer(
                    url, self._ray.util.get_node_ip_address(), port=server_port(),
                    heartbeat_interval=jobs[0].heartbeat_interval, grace_period=jobs[0].grace_period,
                )  # fmt: skip
                self._store = Store(url)
            self._lander = (url, *start_lander(url, sqlite=sqlite))  # settled members, sent as they settle
        lander = self._lander[2]
        if not sqlite:
            return {job.index: Place(driver_node, lander=lander) for job in jobs}
        return {
            job.index: Place(driver_node, self._server.address, create_runs(job, self._store), lander=lander)
            for job in jobs
        }

    def close_storage(self) -> None:
        """Stop serving a study, end its Lander and close the driver's Store (the next run opens
        them again)."""
        if self._server is not None:
            self._server.stop()
        if self._store is not None:
            self._store.dispose()
        if self._lander is not None and self._ray.is_initialized():
            with contextlib.suppress(Exception):  # gone with its node or the cluster
                self._ray.kill(self._lander[1])
        self._server = self._store = self._lander = None

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
        places = self._places(jobs)

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
                "places": places,
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
        beating = self._server.beating(t for j in jobs for t in j.trial_ids) if self._server else contextlib.nullcontext()
        with _quiet_tune(), beating:
            grid = tuner.fit()
        outputs, lost = _collect(jobs, grid, self._store)
        self._lost_rounds = self._lost_rounds + 1 if len(lost) == len(jobs) else 0
        if self._lost_rounds >= MAX_LOST_ROUNDS:
            raise SearchError(
                f"every cohort's Ray worker died in {self._lost_rounds} rounds in a row (last: {lost[-1]}); "
                f"see the Ray logs (/tmp/ray/session_latest/logs) and the workers' memory. Their trials are "
                f"marked FAIL and re-queued: the same command continues the search."
            )
        return outputs


def _check_storage(url: str, address: str) -> None:
    """A SQLite study behind a Ray Client address (ray://) is refused: that driver is no node of the
    cluster, so nothing could serve its file to the workers. A GANSTAB_STORAGE_SERVER_PORT that is no
    port is refused too."""
    from ganstab.search.storage_server import server_port
    from ganstab.storage import normalize_url

    if normalize_url(url).get_backend_name() != "sqlite":
        return
    server_port()
    if address.strip().startswith("ray://"):
        raise SearchError(
            "a search through a Ray Client address (ray://) cannot serve its SQLite study to the cluster; "
            "run it on a node of the cluster (--address HOST:PORT) or give --storage a PostgreSQL URL.",
            key="storage",
        )


def _collect(jobs: Sequence[CohortJob], grid: Any, store: Any) -> tuple[list[list[MemberResult]], list[str]]:
    """The cohorts' results in job order from Tune's result grid (what cohorts of other nodes sent
    back made on this machine, `remote_cohort.land`, with `store` beside a SQLite study), and why
    each lost cohort was lost: a dead worker's cohort is settled here (`settle_lost_cohort`); a
    cohort that raised re-raises its error (the first in job order) once every cohort is accounted
    for, its trials that were still running FAIL and re-queued."""
    from ganstab.search.remote_cohort import land, unpack

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
            outputs.append(land(job, unpack(payload), store))
            continue
        if error is not None and _worker_died(error):
            reason = f"its Ray worker died ({_first_line(error)})"
            outputs.append(settle_lost_cohort(job, reason))
            lost.append(f"cohort {job.index}: {reason}")
            continue
        outputs.append([])
        if error is not None:  # it raised before run_cohort could settle its trials (no CUDA, ...)
            settle_lost_cohort(job, f"its Ray worker raised ({_first_line(getattr(error, 'cause', None) or error)})")
        if first_error is None:
            first_error = _cohort_error(job, error)
    if first_error is not None:
        raise first_error
    return outputs, lost


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

    from ganstab.search.outcomes import StaleTrialRequeuer, fail_trial
    from ganstab.storage import Store
    from ganstab.storage.studies import open_optuna_storage

    storage = open_optuna_storage(job.storage_url)
    store = Store(job.storage_url)  # its tables exist already when a driver ran the job
    try:
        study = optuna.load_study(study_name=job.study_name, storage=storage)
        requeue = StaleTrialRequeuer()
        results = []
        for trial_id, number in zip(job.trial_ids, job.trial_numbers):
            if storage.get_trial(trial_id).state != TrialState.RUNNING:
                continue
            error = f"lost: {reason}"[:1000]
            if fail_trial(study, trial_id, "lost", error, requeue=requeue, reason=reason, store=store):
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
    the legacy engine at verbose=0 prints nothing. RAY_AIR_NEW_OUTPUT is read inside fit(). Tune
    also logs every failed trial with Ray's traceback ("Trial task failed", "Trials did not
    complete"): run_many reports each cohort's end itself (a lost cohort's trials, a cohort's own
    error in one line), so Tune's loggers are quiet below CRITICAL meanwhile."""
    before = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    tune_log = logging.getLogger("ray.tune")
    level = tune_log.level
    tune_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        tune_log.setLevel(level)
        if before is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = before


def _trial_name(trial: Any) -> str:
    job = trial.config.get("job")
    return f"cohort-{job.index:03d}" if isinstance(job, CohortJob) else str(trial.trial_id)
