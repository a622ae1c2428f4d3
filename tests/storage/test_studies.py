"""Optuna's studies in ganstab's database, opened one way for everything (real SQLite and
PostgreSQL)."""

from __future__ import annotations

import socket
from pathlib import Path

import optuna
import pytest

from ganstab.storage.studies import open_optuna_storage
from ganstab.storage.urls import StorageError

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_study_opened_here_is_optunas_own(url: str) -> None:
    storage = open_optuna_storage(url, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(storage=storage, study_name="o", direction="maximize")
    study.tell(study.ask(), 0.5)
    again = optuna.load_study(study_name="o", storage=url)  # plain Optuna reads it back
    assert [t.value for t in again.trials] == [0.5] and storage.get_heartbeat_interval() == 1
    storage.engine.dispose()


def test_refusals_name_the_url_with_the_password_masked(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="Optuna's study storage needs a database that outlives the process"):
        open_optuna_storage("sqlite://")
    with pytest.raises(ValueError, match="heartbeat_interval must be >= 1 s and grace_period above it; got 5 and 5"):
        open_optuna_storage(f"sqlite:///{tmp_path / 'h.db'}", heartbeat_interval=5, grace_period=5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket closes
    with pytest.raises(StorageError, match="cannot open Optuna's storage") as err:
        open_optuna_storage(f"postgresql://ganstab:pw-s3cret@127.0.0.1:{port}/db")
    assert "pw-s3cret" not in str(err.value) and f"ganstab:***@127.0.0.1:{port}/db" in str(err.value)


def test_a_reading_client_takes_no_write_lock(tmp_path: Path) -> None:
    """The dashboard's storage (immediate=False) reads while a search's transaction writes."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    writer = open_optuna_storage(url)
    optuna.create_study(storage=writer, study_name="r")
    reader = open_optuna_storage(url, immediate=False)
    with writer.engine.connect() as conn, conn.begin():  # BEGIN IMMEDIATE: holds the write lock
        assert [s.study_name for s in optuna.get_all_study_summaries(reader)] == ["r"]
    reader.engine.dispose()
    writer.engine.dispose()
