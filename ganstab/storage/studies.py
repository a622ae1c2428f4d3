"""Optuna's studies in ganstab's database: Optuna's RDB storage on the URL `Store` uses, opened one
way for everything that reads or writes them (the search's driver and workers, `ganstab
recommend`, the CLI's progress line, the dashboard after its own checks).

Kept out of `ganstab.storage` itself, which stays light (no optuna) for the CLI's error handling.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import optuna

from ganstab.storage.fast_reads import CoreReadRDBStorage
from ganstab.storage.urls import (
    StorageError,
    connect_args,
    mask_url,
    normalize_url,
    require_lasting,
    sqlite_write_lock,
)

__all__ = ["StaleCallback", "open_optuna_storage"]

# Optuna's heartbeat-stale callback: called with the study and the trial it failed
StaleCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def open_optuna_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    on_stale: StaleCallback | None = None,
    immediate: bool = True,
) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on `url` (`postgresql://` means psycopg 3), with ganstab's connection
    time-outs and, on SQLite, transactions that begin IMMEDIATE so that writers queue on the lock
    instead of failing (`immediate=False` for a mostly-reading client such as the dashboard, whose
    reads must not take the lock from a running search). With
    `heartbeat_interval` (seconds) trials record heartbeats, and one silent for `grace_period`
    seconds is failed by `optuna.storages.fail_stale_trials`, which then calls `on_stale`.

    A database that must outlive the process is required: an in-memory SQLite URL is refused.
    The storage is Optuna's RDBStorage with its reads of a study's trials made without the ORM
    (`CoreReadRDBStorage`: the same trials, less CPU per trial).

    Errors name the URL, password masked."""
    sa_url = normalize_url(url)
    require_lasting(sa_url, "Optuna's study storage")
    if heartbeat_interval is not None and (
        heartbeat_interval < 1 or (grace_period is not None and grace_period <= heartbeat_interval)
    ):
        raise ValueError(
            f"heartbeat_interval must be >= 1 s and grace_period above it; got {heartbeat_interval} "
            f"and {grace_period}."
        )
    backend = sa_url.get_backend_name()
    engine_kwargs: dict[str, Any] = {"connect_args": connect_args(sa_url)}
    if backend == "postgresql":
        engine_kwargs["pool_pre_ping"] = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = CoreReadRDBStorage(
                sa_url.render_as_string(hide_password=False),
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period if heartbeat_interval is not None else None,
                heartbeat_stale_trial_callback=on_stale,
            )
    except Exception as e:  # driver missing, server unreachable, schema too new: name the URL
        reason = f"{type(e).__name__}: {e}".splitlines()[0]
        if sa_url.password:
            reason = reason.replace(str(sa_url.password), "***")
        raise StorageError(f"storage {mask_url(sa_url)!r}: cannot open Optuna's storage: {reason}") from e
    if backend == "sqlite" and immediate:
        # the heartbeat thread, the training thread and other processes queue on the write lock
        sqlite_write_lock(storage.engine)
    return storage
