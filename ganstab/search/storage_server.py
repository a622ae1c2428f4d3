"""The driver's SQLite study, served to the other machines of a Ray cluster over gRPC.

A SQLite file lives on one machine; Optuna ships a gRPC proxy (`optuna.storages.make_server`,
`GrpcStorageProxy`) through which one process owns a storage and others use it over the network.
`StorageServer` runs that server in the driver's process, on the driver's Ray node IP and a free
port (or the port GANSTAB_STORAGE_SERVER_PORT names, for a firewall or a Kubernetes pod that
opens one port), for the cohorts Ray places on other nodes (`ganstab.search.remote_cohort`). Those cohorts
cannot beat for their trials through the proxy (it has no heartbeat), so the server beats for the
trials it was given (`beating`) while they run.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from ganstab.search.errors import SearchError
from ganstab.search.heartbeat import Heartbeat, heartbeat_enabled

__all__ = ["PORT_ENV", "StorageServer", "server_port"]

PORT_ENV = "GANSTAB_STORAGE_SERVER_PORT"  # the proxy's port; unset or 0: a free port


def server_port() -> int:
    """The port GANSTAB_STORAGE_SERVER_PORT asks for (0: any free port)."""
    text = os.environ.get(PORT_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) > 65535:
        raise SearchError(f"{PORT_ENV} must be a TCP port (0-65535), but got {text!r}.")
    return int(text)

log = logging.getLogger(__name__)


class StorageServer:
    """Optuna's storage on `url`, served over gRPC at `address` (host, port) until `stop()`."""

    def __init__(
        self, url: str, host: str, *, port: int = 0, heartbeat_interval: int | None, grace_period: int | None
    ) -> None:
        import grpc
        from optuna.storages._grpc.auto_generated.api_pb2_grpc import add_StorageServiceServicer_to_server
        from optuna.storages._grpc.servicer import OptunaStorageProxyService

        from ganstab.storage.studies import open_optuna_storage

        self.url = url
        self.interval = heartbeat_interval
        self.storage = open_optuna_storage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
        # what optuna.storages.run_grpc_proxy_server builds, on a free port (port 0: gRPC picks one)
        # no SO_REUSEPORT (gRPC's default): a second driver on the same fixed port would share it,
        # and a worker could reach the other driver's study
        self._server = grpc.server(ThreadPoolExecutor(max_workers=16), options=[("grpc.so_reuseport", 0)])
        add_StorageServiceServicer_to_server(OptunaStorageProxyService(self.storage), self._server)
        try:
            bound = int(self._server.add_insecure_port(f"{host}:{port}"))
        except RuntimeError:  # grpc raises where it cannot bind (older versions return 0)
            bound = 0
        if bound == 0:
            self.storage.engine.dispose()
            raise SearchError(
                f"cannot serve the study to the cluster on {host}:{port}: the port is in use or not this "
                f"machine's; free it, or set {PORT_ENV} to another port (0: any free port)."
            )
        self.address = (host, bound)
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

