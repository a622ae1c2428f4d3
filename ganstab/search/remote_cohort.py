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
  the worker sends back every file of the cohort's folder and the artifacts its trials recorded,
  and the driver writes them where they belong on its own disk; the worker's copies are removed.

`run_placed(job, place)` is what a Ray worker runs; `land(job, payload, store)` what the driver
does with what came back. A worker of another node asked to open a SQLite file without the
driver's storage server raises a `SearchError` saying so, never opens an empty file of its own.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import pickle
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganstab.search.cohort_job import CohortJob, MemberResult
from ganstab.search.errors import SearchError

__all__ = ["Place", "RecordingStore", "create_runs", "land", "node_label", "run_placed", "sqlite_study"]

ARTIFACTS_PREFIX = "artifacts:"  # Optuna's trial system attribute of an uploaded artifact


@dataclass(frozen=True)
class Place:
    """What a worker needs to know of its driver (plain data, in the Tune trial's config)."""

    driver_node: str  # the driver's Ray node id
    proxy: tuple[str, int] | None = None  # the driver's gRPC storage server (SQLite studies)
    run_ids: Mapping[int, int] = field(default_factory=dict)  # trial number -> ganstab run id


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

        return record

    def dispose(self) -> None:
        pass


@dataclass(frozen=True)
class _RunRef:
    id: int


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
    storage = store = None
    if sqlite:
        import optuna
        from optuna.storages import GrpcStorageProxy

        with warnings.catch_warnings():  # "experimental": nothing a user can act on
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = GrpcStorageProxy(host=place.proxy[0], port=place.proxy[1])
        storage.wait_server_ready(timeout=30)
        store = RecordingStore(place.run_ids)
    try:
        results = run_cohort(job, storage=storage, store=store)  # type: ignore[arg-type]
        files = _cohort_files(job, storage)
    finally:
        if storage is not None:
            storage.close()
    for r in results:
        r.node = where["node"]
    return {**where, "results": results, "files": files, "store": store.calls if store is not None else []}


def _cohort_files(job: CohortJob, storage: Any) -> dict[str, bytes]:
    """Every file of the cohort's folder and of its trials' artifacts, by absolute path; the
    worker's copies are removed (this node is not the driver's)."""
    if storage is None:
        from ganstab.storage.studies import open_optuna_storage

        storage = open_optuna_storage(job.storage_url)
    files: dict[str, bytes] = {}
    run_dir = Path(job.run_dir)
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        files[str(path)] = path.read_bytes()
    artifact_dir = Path(job.artifact_dir)
    for trial_id in job.trial_ids:
        for key in storage.get_trial(trial_id).system_attrs:
            path = artifact_dir / key[len(ARTIFACTS_PREFIX):]
            if key.startswith(ARTIFACTS_PREFIX) and path.is_file():
                files[str(path)] = path.read_bytes()
                path.unlink()
    shutil.rmtree(run_dir, ignore_errors=True)
    return files


def pack(payload: dict[str, Any]) -> str:
    """The payload as text for Tune's result (pickled: it holds numpy traces and diagnoses)."""
    return base64.b64encode(pickle.dumps(payload)).decode("ascii")


def unpack(text: str) -> dict[str, Any]:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - written by this search's own workers


# -------------------------------------------------------------------------------- the driver side


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

