"""The driver's SQLite study, served to the other machines of a Ray cluster over gRPC.

A SQLite file lives on one machine; Optuna ships a gRPC proxy (`optuna.storages.make_server`,
`GrpcStorageProxy`) through which one process owns a storage and others use it over the network.
`StorageServer` runs that server in the driver's process, on the driver's Ray node IP and a free
port, for the cohorts Ray places on other nodes (`ganstab.search.remote_cohort`). Those cohorts
cannot beat for their trials through the proxy (it has no heartbeat), so the server beats for the
trials it was given (`beating`) while they run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from ganstab.search.heartbeat import Heartbeat, heartbeat_enabled

__all__ = ["StorageServer"]

log = logging.getLogger(__name__)


class StorageServer:
    """Optuna's storage on `url`, served over gRPC at `address` (host, port) until `stop()`."""

    def __init__(self, url: str, host: str, *, heartbeat_interval: int | None, grace_period: int | None) -> None:
        import grpc
        from optuna.storages._grpc.auto_generated.api_pb2_grpc import add_StorageServiceServicer_to_server
        from optuna.storages._grpc.servicer import OptunaStorageProxyService

        from ganstab.storage.studies import open_optuna_storage

        self.url = url
        self.interval = heartbeat_interval
        self.storage = open_optuna_storage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
        # what optuna.storages.run_grpc_proxy_server builds, on a free port (port 0: gRPC picks one)
        self._server = grpc.server(ThreadPoolExecutor(max_workers=16))
        add_StorageServiceServicer_to_server(OptunaStorageProxyService(self.storage), self._server)
        self.address = (host, int(self._server.add_insecure_port(f"{host}:0")))
        self._server.start()

    @contextlib.contextmanager
    def beating(self, trial_ids: Iterable[int]) -> Iterator[None]:
        """Heartbeats for these trials while the block runs (their workers cannot record any)."""
        if self.interval is None or not heartbeat_enabled(self.storage):
            yield
            return
        with Heartbeat(self.storage, self.interval, trial_ids):
            yield

    def stop(self) -> None:
        self._server.stop(grace=2).wait()
        self.storage.engine.dispose()

