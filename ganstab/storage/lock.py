"""The lock every ganstab driver of one database takes around a round's count and asks (and
around opening the database), so that several drivers of one study never ask a trial the budget
has no room for (see ganstab.search.driver, "Several drivers").

PostgreSQL: a transaction-level advisory lock, one key per name, on a connection of its own. A
SQLite file: an exclusive flock on `<file>.ganstab-lock` beside it (SQLite databases are local
files, and every driver of one opens the same path). Other backends, in-memory and `file:`
SQLite URLs get no lock (`held` then locks nothing). A driver that dies releases the lock with
its connection or file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ganstab.storage.urls import StorageError, connect_args, is_memory_sqlite, mask_url, normalize_url

__all__ = ["LOCK_SUFFIX", "DatabaseLock", "LockError"]

LOCK_SUFFIX = ".ganstab-lock"  # beside a SQLite file: the drivers' lock


class LockError(StorageError):
    """The lock could not be taken; the message names the storage (password masked) or the file."""


class DatabaseLock:
    """An exclusive, named lock shared by every process that opens the database at `url`."""

    def __init__(self, url: str) -> None:
        self.backend = ""
        self.path: Path | None = None
        self._engine: Any = None
        try:
            sa_url = normalize_url(url)
        except Exception:
            return  # a bad URL: whoever opens the storage names it
        self.sa_url = sa_url
        self.backend = sa_url.get_backend_name()
        db = sa_url.database or ""
        if self.backend == "sqlite" and not is_memory_sqlite(sa_url) and not db.startswith("file:"):
            self.path = Path(os.path.abspath(db + LOCK_SUFFIX))

    @property
    def exclusive(self) -> bool:
        """Whether `held` really excludes the other processes (PostgreSQL, SQLite files)."""
        return self.backend == "postgresql" or self.path is not None

    @contextlib.contextmanager
    def held(self, name: str) -> Iterator[None]:
        if self.backend == "postgresql":
            with self._pg_lock(name):
                yield
        elif self.path is not None:
            with self._file_lock():  # two threads of one process exclude each other too
                yield
        else:
            yield

    @contextlib.contextmanager
    def _pg_lock(self, name: str) -> Iterator[None]:
        from sqlalchemy import create_engine, text

        key = int.from_bytes(hashlib.sha256(f"ganstab:{name}".encode()).digest()[:8], "big", signed=True)
        conn = None
        try:
            if self._engine is None:
                self._engine = create_engine(
                    self.sa_url, pool_size=1, pool_pre_ping=True, connect_args=connect_args(self.sa_url)
                )
            conn = self._engine.connect()
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        except Exception as e:
            if conn is not None:
                conn.close()
            raise LockError(
                f"storage {mask_url(self.sa_url)!r}: cannot take the drivers' lock {name!r}: {e}"
            ) from e
        try:
            yield
        finally:
            conn.rollback()  # ends the transaction: releases the lock
            conn.close()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        assert self.path is not None
        if not self.path.parent.is_dir():  # no database either: opening the storage says so
            yield
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise LockError(
                f"cannot open the drivers' lock file {str(self.path)!r} beside the SQLite database: {e}"
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
