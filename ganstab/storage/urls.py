"""Database URLs and connections: one place for what every part of ganstab that opens the
database must agree on (ganstab's Store, Optuna's RDBStorage for the search and the dashboard,
the drivers' lock).

- `normalize_url`: `postgresql://` means psycopg 3, the driver ganstab installs.
- `mask_url`: a URL fit for messages (no password).
- `is_memory_sqlite`: an in-memory SQLite database lives and dies with its connection, so nothing
  that must outlive a process (a search, a dashboard of it) may use one.
- `connect_args`: time-outs, so that a locked SQLite file waits and an unreachable server fails
  within seconds instead of minutes.
- `sqlite_write_lock`: SQLite transactions that write begin IMMEDIATE, so two writers queue on the
  lock instead of failing with "database is locked" when a reader tries to upgrade.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

SQLITE_BUSY_TIMEOUT_S = 60.0  # how long a SQLite writer waits for another process's write lock
PG_CONNECT_TIMEOUT_S = 10  # an unreachable server fails within this, not after minutes

_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")


class StorageError(RuntimeError):
    """A storage operation failed; the message names the URL (password masked)."""



def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD_IN_URL.sub(r"\1***\3", str(url))


def normalize_url(url: str | URL) -> URL:
    """The SQLAlchemy URL to use: `postgresql://` and `postgres://` become `postgresql+psycopg://`
    (psycopg 3, the driver ganstab installs); anything else is taken as given."""
    if isinstance(url, URL):
        parsed = url
    else:
        if not isinstance(url, str) or not url.strip():
            raise StorageError(f"storage URL must be a non-empty SQLAlchemy URL string; got {url!r}")
        text_url = url.strip()
        if text_url.startswith("postgres://"):  # Heroku-style alias SQLAlchemy does not know
            text_url = "postgresql://" + text_url[len("postgres://") :]
        try:
            parsed = make_url(text_url)
        except ArgumentError as e:
            raise StorageError(
                f"storage URL must look like dialect[+driver]://user:password@host/db or "
                f"sqlite:///path.db; got {mask_url(text_url)!r}"
            ) from e
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_memory_sqlite(url: str | URL) -> bool:
    """Whether `url` names an in-memory SQLite database."""
    url = normalize_url(url)
    if url.get_backend_name() != "sqlite":
        return False
    return url.database in (None, "", ":memory:") or str(url.database).startswith("file::memory:")


def why_empty(url: str | URL) -> str | None:
    """Why `url` certainly holds nothing, without connecting (the one place that knows SQLite's
    cases): "an in-memory database" or "there is no SQLite file at ..." (opening it would create
    it), else None (a SQLite file that exists, a SQLite URI, or a server database)."""
    url = normalize_url(url)
    if url.get_backend_name() != "sqlite":
        return None
    if is_memory_sqlite(url):
        return "it is an in-memory database"
    if url.query.get("uri") in ("true", "1"):
        return None
    if not Path(str(url.database)).expanduser().is_file():
        return f"there is no SQLite file at {str(url.database)!r}"
    return None


def require_lasting(url: str | URL, what: str) -> None:
    """Raise StorageError (URL masked) if `url` is an in-memory SQLite database: `what` (a search,
    Optuna's studies) needs one that outlives the process."""
    if is_memory_sqlite(url):
        raise StorageError(
            f"storage {mask_url(normalize_url(url))!r}: {what} needs a database that outlives the process "
            f"(e.g. sqlite:///study.db), not an in-memory one."
        )


def connect_args(url: str | URL) -> dict[str, Any]:
    """The driver's connection arguments ganstab adds: a SQLite busy timeout, a PostgreSQL connect
    timeout (where the URL does not set its own)."""
    url = normalize_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite" and "timeout" not in url.query:
        return {"timeout": SQLITE_BUSY_TIMEOUT_S}
    if backend == "postgresql" and "connect_timeout" not in url.query:
        return {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return {}


def sqlite_write_lock(engine: Engine, *, writes_only: bool = False, pragmas: tuple[str, ...] = ()) -> None:
    """Make the engine's SQLite transactions BEGIN IMMEDIATE (all of them, or with `writes_only`
    those whose connection has the execution option `ganstab_write`), with a busy timeout and
    the given extra PRAGMAs on every new connection."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver must not BEGIN on its own
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            for pragma in pragmas:
                cur.execute(f"PRAGMA {pragma}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = not writes_only or conn.get_execution_options().get("ganstab_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    engine.dispose()  # connections made before the listeners existed would skip them
