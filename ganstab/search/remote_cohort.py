"""A cohort on another machine of a Ray cluster than its driver's, with nothing shared but the network.

Ray places a cohort on any node; "elsewhere" means another Ray node id than the driver's (two
nodes on one host share a hostname, never a node id). A cohort that runs on the driver's node
runs as before, on the driver's database and folders. One that runs elsewhere never opens a file
of the driver's:

- Optuna's tables: on PostgreSQL the worker connects to the server itself; a SQLite file stays on
  the driver's machine, which serves it over gRPC (`StorageServer`, Optuna's storage proxy), and
  the worker talks to it with `optuna.storages.GrpcStorageProxy`.
- ganstab's tables (runs, traces, evaluations, diagnoses): on PostgreSQL, the worker writes them;
  beside a SQLite file, a `RecordingStore` keeps the cohort's writes and they travel back with
  its results, for the driver to make (`land`). The driver creates the cohort's run rows before
  the cohort starts (`create_runs`), so run ids are the driver's.
- The run folder and the trials' artifacts (sample pictures, loss plots): whatever the database,
  the cohort writes them in a scratch folder of its own node (a temporary folder, never the
  driver's paths, which that machine may lack or not let it write), sends back every file and
  the artifacts its trials recorded, and the driver writes them where they belong on its own
  disk (the paths the study records are the driver's); the scratch folder is removed.
- As members settle, not only at the end: after each settling round (its trials' final states
  told) the worker sends what is new since the last send (ganstab's rows recorded so far, the
  files that changed, the settled trials' artifacts) to the driver's `Lander`, a Ray actor on the
  driver's node that lands them there; so a cohort killed mid-way (its node lost) keeps what it
  settled, and the driver fails and re-queues only the rest. The end sends what is left.

`run_placed(job, place)` is what a Ray worker runs; `land(job, payload, store)` what the driver
does with what came back. A worker of another node asked to open a SQLite file without the
driver's storage server raises a `SearchError` saying so, never opens an empty file of its own.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import os
import pickle
import queue
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganstab.search.cohort_job import CohortJob, MemberResult
from ganstab.search.errors import SearchError

__all__ = [
    "Lander", "Place", "RecordingStore", "create_runs", "land", "node_label", "run_placed", "sqlite_study",
    "start_lander",
]  # fmt: skip

log = logging.getLogger(__name__)

ARTIFACTS_PREFIX = "artifacts:"  # Optuna's trial system attribute of an uploaded artifact
SETTLED_WAIT_S = 60.0  # how long a send waits for settled runs' trials to be told their states


@dataclass(frozen=True)
class Place:
    """What a worker needs to know of its driver (plain data, in the Tune trial's config)."""

    driver_node: str  # the driver's Ray node id
    proxy: tuple[str, int] | None = None  # the driver's gRPC storage server (SQLite studies)
    run_ids: Mapping[int, int] = field(default_factory=dict)  # trial number -> ganstab run id
    lander: tuple[str, str] | None = None  # (name, namespace) of the driver's Lander actor


def sqlite_study(job: CohortJob) -> bool:
    """Whether the job's study lives in a SQLite file (which only the driver's machine has)."""
    from ganstab.storage import normalize_url

    return normalize_url(job.storage_url).get_backend_name() == "sqlite"


def node_label(node_id: str, ip: str) -> str:
    """A node as the events name it: its IP and the start of its Ray node id."""
    return f"{ip} (node {node_id[:8]})"


# ------------------------------------------------------------------------------- the worker side


class RecordingStore:
    """`Store`'s writes of one cohort, kept for the driver to make (see the module doc). Run ids
    are the driver's (`Place.run_ids`); a run the driver did not create is an error."""

    WRITES = (
        "set_status", "save_trace", "add_evaluation", "add_evaluations", "set_label", "add_diagnosis", "settle_runs",
    )

    def __init__(self, run_ids: Mapping[int, int]) -> None:
        self.run_ids = dict(run_ids)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.on_settle: Any = None  # called with the settled runs' ids once recorded (`_Shipper`)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def add_run(self, dataset: str, config: Any, *, trial_number: int | None = None, status: str = "running",
                **_: Any) -> int:  # fmt: skip
        run_id = self.run_ids.get(trial_number)  # type: ignore[arg-type]
        if run_id is None:
            raise SearchError(f"trial {trial_number}: the driver created no ganstab run for it.")
        self.calls.append(("set_status", (run_id, status), {}))
        return run_id

    def find_run(self, study_name: str, trial_number: int) -> Any:
        run_id = self.run_ids.get(trial_number)
        return None if run_id is None else _RunRef(run_id)

    def __getattr__(self, name: str) -> Any:
        if name not in RecordingStore.WRITES:
            raise AttributeError(f"a cohort on another node than the driver's cannot call Store.{name}")

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))
            if name == "settle_runs" and self.on_settle is not None:
                self.on_settle([run.run_id for run in args[0]])

        return record

    def dispose(self) -> None:
        pass


@dataclass(frozen=True)
class _RunRef:
    id: int


class _WatchedStore:
    """The worker's own `Store` (PostgreSQL: it writes its rows itself), telling `on_settle` which
    runs a settling round wrote, and which trial each run of this cohort is."""

    def __init__(self, store: Any, on_settle: Any) -> None:
        self.store = store
        self.on_settle = on_settle
        self.run_trial: dict[int, int] = {}  # run id -> trial number

    def add_run(self, *args: Any, trial_number: int | None = None, **kwargs: Any) -> int:
        run_id = self.store.add_run(*args, trial_number=trial_number, **kwargs)
        if trial_number is not None:
            self.run_trial[run_id] = trial_number
        return run_id

    def settle_runs(self, runs: Any) -> None:
        self.store.settle_runs(runs)
        self.on_settle([run.run_id for run in runs])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class _Shipper:
    """Sends a cohort's settled members to the driver's Lander as they settle (see the module doc),
    from a thread: after a settling round it waits until the round's trials are told their final
    states (the cohort tells them right after writing their rows), then sends the rows recorded so
    far, the files that changed and those trials' artifacts. `finish()` sends nothing: it waits
    for the sends under way and returns what is left for the cohort's result."""

    def __init__(
        self, job: CohortJob, place: Place, storage: Any, recording: RecordingStore | None, scratch: Path
    ) -> None:
        import ray

        self.job, self.storage, self.recording, self.scratch = job, storage, recording, scratch
        name, namespace = place.lander  # type: ignore[misc]
        self.lander = ray.get_actor(name, namespace=namespace)
        self.trial_of_run = {run: number for number, run in place.run_ids.items()}
        self.sent_calls = 0
        self.sent_files: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) when sent
        self.sent_artifacts: set[str] = set()
        self._lock = threading.Lock()
        self._todo: queue.Queue[list[int] | None] = queue.Queue()
        self._unsent: list[dict[str, Any]] = []  # sends the driver did not take
        self._thread = threading.Thread(target=self._loop, name="ganstab-shipper", daemon=True)
        self._thread.start()

    def settled(self, run_ids: list[int]) -> None:
        self._todo.put(run_ids)

    def _loop(self) -> None:
        while (run_ids := self._todo.get()) is not None:
            payload = self._new(self._trials_told(run_ids))
            if not (payload["store"] or payload["files"]):
                continue
            try:
                import ray

                ray.get(self.lander.land.remote(self.job, payload))
            except Exception as e:  # kept: the end's result carries it
                log.info("cohort %s: the driver did not take a send (%s); it goes with the result", self.job.index, e)
                self._unsent.append(payload)

    def _trials_told(self, run_ids: list[int]) -> list[int]:
        """The Optuna trial ids of these runs, once told their final states (or after SETTLED_WAIT_S)."""
        by_number = dict(zip(self.job.trial_numbers, self.job.trial_ids))
        ids = [by_number[self.trial_of_run[r]] for r in run_ids if self.trial_of_run.get(r) in by_number]
        end = time.monotonic() + SETTLED_WAIT_S
        while time.monotonic() < end and not all(self.storage.get_trial(t).state.is_finished() for t in ids):
            time.sleep(0.2)
        return ids

    def _new(self, trial_ids: list[int]) -> dict[str, Any]:
        """What changed since the last send: rows recorded, files of the cohort's folder, artifacts
        of these trials (marked sent)."""
        with self._lock:
            calls = []
            if self.recording is not None:
                calls = self.recording.calls[self.sent_calls :]
                self.sent_calls += len(calls)
            files: dict[str, bytes] = {}
            for path in _run_files(self.scratch):
                st = path.stat()
                if self.sent_files.get(str(path)) != (st.st_size, st.st_mtime_ns):
                    files[_driver_path(self.job, self.scratch, path)] = path.read_bytes()
                    self.sent_files[str(path)] = (st.st_size, st.st_mtime_ns)
            for path in _artifacts(self.storage, trial_ids, self.scratch / "artifacts"):
                if str(path) not in self.sent_artifacts:
                    files[_driver_path(self.job, self.scratch, path)] = path.read_bytes()
                    self.sent_artifacts.add(str(path))
            return {"store": calls, "files": files, "results": []}

    def finish(self) -> dict[str, Any]:
        """Wait for the sends under way; what is left to send (every trial's artifacts included,
        and any send the driver did not take, in order)."""
        self._todo.put(None)
        self._thread.join()
        left = {"store": [], "files": {}, "results": []}
        for payload in [*self._unsent, self._new(list(self.job.trial_ids))]:
            left["store"] += payload["store"]
            left["files"].update(payload["files"])
        return left


def _this_node() -> tuple[str, str]:
    import ray

    return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()


def run_placed(job: CohortJob, place: Place) -> dict[str, Any]:
    """Run the cohort where Ray put it (see the module doc); what goes back to the driver."""
    from ganstab.search.cohort_run import run_cohort

    node, ip = _this_node()
    where = {"node_id": node, "node": node_label(node, ip)}
    if node == place.driver_node:
        results = run_cohort(job)
        for r in results:
            r.node = where["node"]
        return {**where, "results": results}
    sqlite = sqlite_study(job)
    if sqlite and place.proxy is None:
        raise SearchError(
            f"cohort {job.index} runs on node {where['node']}, not on the driver's, and its study is a SQLite "
            f"file of the driver's machine, which the driver does not serve; use a PostgreSQL --storage."
        )
    storage = store = recording = shipper = None
    if sqlite:
        import optuna
        from optuna.storages import GrpcStorageProxy

        with warnings.catch_warnings():  # "experimental": nothing a user can act on
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = GrpcStorageProxy(host=place.proxy[0], port=place.proxy[1])
        storage.wait_server_ready(timeout=30)
        store = recording = RecordingStore(place.run_ids)
    elif place.lander is not None:  # this worker writes the rows; the shipper needs its run ids
        from ganstab.storage import Store
        from ganstab.storage.studies import open_optuna_storage

        storage = open_optuna_storage(
            job.storage_url, heartbeat_interval=job.heartbeat_interval, grace_period=job.grace_period
        )
        store = _WatchedStore(Store(job.storage_url), None)
    # the cohort's files go to a folder of this node, never under the driver's paths (which this
    # machine may not have, or not let this user write); they are sent back and removed
    scratch = Path(tempfile.mkdtemp(prefix=f"ganstab-cohort-{job.index:03d}-"))
    try:
        if place.lander is not None:
            shipper = _Shipper(job, place, storage, recording, scratch)
            if isinstance(store, _WatchedStore):
                shipper.trial_of_run = store.run_trial  # filled as the cohort makes its runs
                store.on_settle = shipper.settled
            else:
                store.on_settle = shipper.settled  # type: ignore[union-attr]
        try:
            results = run_cohort(job, storage=storage, store=store, scratch=str(scratch))  # type: ignore[arg-type]
        finally:
            left = shipper.finish() if shipper is not None else None
        files = _cohort_files(job, storage, scratch, left)
        calls = left["store"] if left is not None else (recording.calls if recording is not None else [])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if isinstance(store, _WatchedStore):
            store.store.dispose()
        if storage is not None:
            if hasattr(storage, "close"):
                storage.close()
            else:
                storage.engine.dispose()
    for r in results:
        r.node = where["node"]
    return {**where, "results": results, "files": files, "store": calls}


def _run_files(scratch: Path) -> list[Path]:
    """The files of the cohort's run folder in its scratch folder."""
    return sorted(p for p in (scratch / "cohort").rglob("*") if p.is_file())


def _driver_path(job: CohortJob, scratch: Path, path: Path) -> str:
    """Where a scratch file belongs on the driver: the job's run folder or its artifact store."""
    for part, root in (("cohort", job.run_dir), ("artifacts", job.artifact_dir)):
        if path.is_relative_to(scratch / part):
            return str(Path(root) / path.relative_to(scratch / part))
    raise SearchError(f"cohort {job.index}: {path} is outside its scratch folder {scratch}.")


def _artifacts(storage: Any, trial_ids: Any, artifact_dir: Path) -> list[Path]:
    """The artifact files these trials recorded (Optuna's `artifacts:` system attributes) in
    `artifact_dir`."""
    found = []
    for trial_id in trial_ids:
        for key in storage.get_trial(trial_id).system_attrs:
            path = artifact_dir / key[len(ARTIFACTS_PREFIX) :]
            if key.startswith(ARTIFACTS_PREFIX) and path.is_file():
                found.append(path)
    return found


def _cohort_files(job: CohortJob, storage: Any, scratch: Path, left: dict[str, Any] | None = None) -> dict[str, bytes]:
    """Every file of the cohort's folder and of its trials' artifacts, by the absolute path each
    has on the driver (with a shipper: only those not sent yet, `left`)."""
    if left is not None:
        return dict(left["files"])
    opened = None
    if storage is None:
        from ganstab.storage.studies import open_optuna_storage

        storage = opened = open_optuna_storage(job.storage_url)
    try:
        paths = [*_run_files(scratch), *_artifacts(storage, job.trial_ids, scratch / "artifacts")]
        return {_driver_path(job, scratch, p): p.read_bytes() for p in paths}
    finally:
        if opened is not None:
            opened.engine.dispose()


def pack(payload: dict[str, Any]) -> str:
    """The payload as text for Tune's result (pickled: it holds numpy traces and diagnoses)."""
    return base64.b64encode(pickle.dumps(payload)).decode("ascii")


def unpack(text: str) -> dict[str, Any]:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - written by this search's own workers


# -------------------------------------------------------------------------------- the driver side


class Lander:
    """The driver's side of the sends of settled members (a Ray actor on the driver's node, see
    `start_lander`): lands each send with `land`, beside a SQLite study with its own `Store`."""

    def __init__(self, url: str | None) -> None:
        from ganstab.storage import Store

        self.store = Store(url) if url is not None else None

    def land(self, job: CohortJob, payload: dict[str, Any]) -> int:
        land(job, payload, self.store)
        return len(payload.get("files") or {})


def start_lander(url: str, *, sqlite: bool) -> tuple[Any, tuple[str, str]]:
    """The Lander actor for a search's cohorts, pinned to this (the driver's) node, and its
    (name, namespace) for `Place.lander`; `ray.kill` it when the search's cohorts are done."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    name = f"ganstab-lander-{uuid.uuid4().hex[:12]}"
    namespace = ray.get_runtime_context().namespace
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    actor = (
        ray.remote(Lander)
        .options(name=name, namespace=namespace, num_cpus=0, max_concurrency=1, scheduling_strategy=here)
        .remote(url if sqlite else None)
    )
    ray.get(actor.__ray_ready__.remote())  # started and named before any cohort looks it up
    return actor, (name, namespace)


def create_runs(job: CohortJob, store: Any) -> dict[int, int]:
    """The cohort's ganstab run rows, made by the driver before the cohort starts (status
    waiting; a re-run trial keeps its row): trial number -> run id."""
    from ganstab.engine.config import to_dict

    with store.batch():
        return {
            number: store.add_run(cfg.data.name, to_dict(cfg), study_name=job.study_name, trial_number=number,
                                  status="waiting", exist_ok=True)  # fmt: skip
            for cfg, number in zip(job.configs, job.trial_numbers)
        }


def land(job: CohortJob, payload: dict[str, Any], store: Any) -> list[MemberResult]:
    """Make what a cohort of another node sent back: ganstab's rows (in one transaction) and its
    files, each only inside the cohort's folder or the artifact store. Its results."""
    calls = payload.get("store") or []
    if calls:
        with store.batch():
            for name, args, kwargs in calls:
                if name not in RecordingStore.WRITES:
                    raise SearchError(f"cohort {job.index}: a worker sent an unknown Store call {name!r}.")
                getattr(store, name)(*args, **kwargs)
    roots = [Path(job.run_dir).resolve(), Path(job.artifact_dir).resolve()]
    for name, data in (payload.get("files") or {}).items():
        path = Path(name).resolve()
        if not any(path.is_relative_to(root) for root in roots):
            raise SearchError(f"cohort {job.index}: a worker sent a file outside its folders: {name!r}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return [dataclasses.replace(r, node=r.node or payload.get("node", "")) for r in payload["results"]]

