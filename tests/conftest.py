from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

# Before torch loads (see ganstab/cli/__init__.py): keep OpenMP from spinning when the machine is shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import psycopg  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from ganstab.storage import normalize_url  # noqa: E402

# Property tests search anew on every local run (and remember what failed in .hypothesis/); CI
# (CI=true) draws the same inputs every time, so a submission's result does not depend on luck.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# PostgreSQL: every test that needs it gets a database of its own (`ganstab_test_<time>_<hex>`,
# created through the maintenance database and dropped afterwards), so nothing touches other data
# on the server. GANSTAB_TEST_PG_URL points at another server's maintenance database; an
# unreachable server fails those tests, it never skips them.
PG_ADMIN_URL = os.environ.get("GANSTAB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_PREFIX = "ganstab_test_"
STALE_AFTER_S = 3600  # databases of killed test runs older than this are dropped at the next run


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep the digits classifier cache of the test session out of the user's ~/.cache."""
    os.environ.setdefault("GANSTAB_CACHE_DIR", str(tmp_path_factory.mktemp("ganstab-cache")))


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection]:
    """An autocommit connection to the maintenance database (CREATE/DROP DATABASE)."""
    conninfo = normalize_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.Error as e:
        pytest.fail(
            f"the PostgreSQL tests need a reachable server: could not connect to "
            f"{make_url(PG_ADMIN_URL).render_as_string(hide_password=True)!r} (set "
            f"GANSTAB_TEST_PG_URL to a maintenance database URL): {e}",
            pytrace=False,
        )
    now = int(time.time())
    for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [DB_PREFIX + "%"]):
        try:
            created = int(name[len(DB_PREFIX) :].split("_")[0])
        except ValueError:
            continue
        if now - created > STALE_AFTER_S:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    yield conn
    conn.close()


@pytest.fixture
def pg_url(pg_admin: psycopg.Connection) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"{DB_PREFIX}{int(time.time())}_{secrets.token_hex(4)}"
    pg_admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield normalize_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module's tiny trainings: search tests run several at once on 2 cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
