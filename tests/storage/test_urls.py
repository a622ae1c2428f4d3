"""Database URLs: what every part of ganstab that opens the database agrees on, without connecting."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganstab.storage.urls import (
    PG_CONNECT_TIMEOUT_S,
    SQLITE_BUSY_TIMEOUT_S,
    StorageError,
    connect_args,
    is_memory_sqlite,
    mask_url,
    normalize_url,
    require_lasting,
    why_empty,
)


def test_postgres_urls_mean_psycopg_and_others_stay_as_given() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    assert normalize_url(" sqlite:///x.db ").database == "x.db"
    with pytest.raises(StorageError, match=r"must look like .* got 'not a url'"):
        normalize_url("not a url")
    with pytest.raises(StorageError, match="non-empty SQLAlchemy URL string; got ''"):
        normalize_url("")


def test_a_password_never_reaches_a_message() -> None:
    assert mask_url("postgresql://ganstab:s3cret@db/test") == "postgresql://ganstab:***@db/test"
    assert "s3cret" not in mask_url(normalize_url("postgresql://ganstab:s3cret@db/test"))
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("url", "memory"),
    [("sqlite://", True), ("sqlite:///:memory:", True), ("sqlite:///file::memory:?uri=true", True),
     ("sqlite:///x.db", False), ("postgresql://u@h/db", False)],
)  # fmt: skip
def test_in_memory_sqlite_is_recognized(url: str, memory: bool) -> None:
    assert is_memory_sqlite(url) is memory
    if memory:
        with pytest.raises(StorageError, match="a search needs a database that outlives the process"):
            require_lasting(url, "a search")
    else:
        require_lasting(url, "a search")


def test_why_empty_knows_sqlites_cases(tmp_path: Path) -> None:
    """The one place that knows when a URL certainly holds nothing, without creating the file."""
    missing = tmp_path / "none.db"
    assert why_empty("sqlite://") == "it is an in-memory database"
    assert why_empty(f"sqlite:///{missing}") == f"there is no SQLite file at {str(missing)!r}"
    assert not missing.exists()  # asking created nothing
    existing = tmp_path / "there.db"
    existing.write_bytes(b"")
    assert why_empty(f"sqlite:///{existing}") is None
    assert why_empty(f"sqlite:///file:{missing}?uri=true") is None  # a URI: SQLite decides
    assert why_empty("postgresql://u@127.0.0.1/db") is None  # a server: only connecting tells


def test_connect_args_add_timeouts_unless_the_url_sets_its_own() -> None:
    assert connect_args("sqlite:///x.db") == {"timeout": SQLITE_BUSY_TIMEOUT_S}
    assert connect_args("sqlite:///x.db?timeout=5") == {}
    assert connect_args("postgresql://u@h/db") == {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    assert connect_args("postgresql://u@h/db?connect_timeout=3") == {}
    assert connect_args("mysql://u@h/db") == {}
