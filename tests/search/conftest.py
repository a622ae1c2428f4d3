"""Fixtures of the Ray tests (test_ray_executor.py, test_ray_cluster.py)."""

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
