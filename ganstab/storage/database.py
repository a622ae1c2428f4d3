"""One database's connections for ganstab's tables: the engine (SQLite's WAL, IMMEDIATE writes
and busy timeout; PostgreSQL's connect timeout), transactions and batches, upserts, and errors
that name the URL with its password masked. `Store` reads and writes its tables through one."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from ganstab.storage.urls import (
    StorageError,
    connect_args,
    is_memory_sqlite,
    mask_url,
    normalize_url,
    sqlite_write_lock,
)

__all__ = ["Database", "upsert_rows"]


class Database:
    """The engine of the database at `url` and its transactions. Safe to share by threads; after
    `fork` a child gets fresh connections automatically."""

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.masked_url = mask_url(self.url)
        self.dialect_name = self.url.get_backend_name()
        self.engine = self._make_engine(echo)
        self._pid = os.getpid()
        self._local = threading.local()  # the connection of a `batch`, per thread

    def _make_engine(self, echo: bool) -> Engine:
        url = self.url
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        args = connect_args(url)
        if self.dialect_name == "sqlite":
            if is_memory_sqlite(url):
                kwargs["poolclass"] = StaticPool  # one shared connection: the database lives in it
                kwargs.pop("pool_pre_ping")
                args["check_same_thread"] = False
            else:
                path = Path(str(url.database)).expanduser()
                if not path.parent.is_dir():
                    raise StorageError(
                        f"a SQLite storage file's directory must exist; {str(path.parent)!r} does "
                        f"not (URL {self.masked_url!r})"
                    )
        try:
            engine = create_engine(url, connect_args=args, **kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError) as e:
            hint = " (pip install 'ganstab[postgres]')" if self.dialect_name == "postgresql" else ""
            raise StorageError(
                f"storage URL {self.masked_url!r} needs a SQLAlchemy dialect and driver that are "
                f"installed{hint}: {e}"
            ) from e
        if self.dialect_name == "sqlite":
            # WAL (readers never block the writer) in a file, foreign keys, IMMEDIATE for writes
            pragmas = ("foreign_keys = ON",) if is_memory_sqlite(url) else ("foreign_keys = ON", "journal_mode = WAL")
            sqlite_write_lock(engine, writes_only=True, pragmas=pragmas)
        return engine

    def error(self, what: str, e: BaseException) -> StorageError:
        detail = str(getattr(e, "orig", None) or e).strip().splitlines()
        message = detail[0] if detail else type(e).__name__
        password = str(self.url.password or "")
        if len(password) >= 3:  # a driver message should never echo it, but never let it through
            message = message.replace(password, "***")
        return StorageError(f"storage {self.masked_url!r}: {what} failed: {message}")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every write of this thread inside the block joins one transaction (one commit; each
        write a savepoint of its own, so a refused one rolls back alone): a search settles a
        round of members at once instead of five commits per member."""
        if getattr(self._local, "conn", None) is not None:  # already batching: join it
            yield
            return
        with self.tx(write=True) as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextmanager
    def tx(self, *, write: bool, raw: bool = False) -> Iterator[Connection]:
        """One transaction; on any error it rolls back. Database errors become StorageError unless
        `raw` (for callers that tell a constraint violation from other failures). Inside `batch`,
        a savepoint of the batch's transaction."""
        try:
            batch = getattr(self._local, "conn", None)
            if batch is not None:
                with batch.begin_nested():
                    yield batch
                return
            if os.getpid() != self._pid:  # forked: never reuse the parent's sockets
                self.engine.dispose(close=False)
                self._pid = os.getpid()
            with self.engine.connect() as conn:
                if write:
                    conn = conn.execution_options(ganstab_write=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as e:
            if raw:
                raise
            raise self.error("writing" if write else "reading", e) from e

    def upsert(
        self,
        conn: Connection,
        table: Any,
        row: dict[str, Any],
        keys: list[str],
        update: dict[str, Any],
    ) -> None:
        """INSERT, or UPDATE the row with the same keys: one statement on SQLite and PostgreSQL
        (so two writers of the same key never collide), update-then-insert elsewhere."""
        if self.dialect_name in ("sqlite", "postgresql"):
            if self.dialect_name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(table).values(**row)
            conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update))
            return
        where = [table.c[k] == row[k] for k in keys]
        if conn.execute(table.update().where(*where).values(**update)).rowcount == 0:
            conn.execute(table.insert().values(**row))

    def upsert_many(self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """`upsert` of many rows, one statement (executemany) on SQLite and PostgreSQL."""
        if self.dialect_name in ("sqlite", "postgresql"):
            upsert_rows(conn, self.dialect_name, table, rows, keys)
            return
        for r in {tuple(r[k] for k in keys): r for r in rows}.values():
            self.upsert(conn, table, r, keys, {c: v for c, v in r.items() if c not in keys})

    def dispose(self) -> None:
        self.engine.dispose()


def upsert_rows(conn: Any, dialect: str, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """INSERT .. ON CONFLICT (keys) UPDATE the other columns, for many rows as one executemany, on
    SQLite or PostgreSQL (`dialect`); a key's last row wins. Also writes Optuna's tables in a batch
    (ganstab/search/rdb_bulk.py)."""
    latest = {tuple(r[k] for k in keys): r for r in rows}
    if not latest:
        return
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise ValueError(f"upsert_rows needs sqlite or postgresql, but got {dialect!r}")
    stmt = insert(table)
    rest = [c for c in next(iter(latest.values())) if c not in keys]
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in rest}), list(latest.values()))
