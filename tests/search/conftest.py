"""Fixtures of the Ray tests (test_ray_executor.py, test_ray_cluster.py, test_multinode.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """One local Ray instance for the whole session (starting one takes ~8 s and ~0.5 GB)."""
    import ray

    if not ray.is_initialized():
        # "local", not None: never join a cluster that some `ray start` left on this machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture
def no_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.fixture(scope="session")
def ray_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A head and two worker nodes that share no disk with the driver (tests/search/multinode.py):
    started once per session, worker nodes claiming 2 GPUs each (Ray only counts them)."""
    from tests.search.multinode import RayNodes, available

    why = available()
    if why is not None:
        pytest.skip(why)
    nodes = RayNodes(tmp_path_factory.mktemp("cluster") / "search", workers=2, worker_gpus=2)
    try:
        yield nodes.start()
    finally:
        nodes.stop()
