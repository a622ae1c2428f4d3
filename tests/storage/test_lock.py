"""The drivers' lock on real databases: a process holding it keeps another one waiting (a SQLite
file's flock, a PostgreSQL advisory lock), and what cannot be locked is said, never silently
shared."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganstab.storage.lock import LOCK_SUFFIX, DatabaseLock, LockError

REPO = Path(__file__).resolve().parents[2]
HOLD_S = 2.0

_HOLDER = """
import sys, time
from pathlib import Path
from ganstab.storage.lock import DatabaseLock
lock = DatabaseLock(sys.argv[1])
with lock.held(sys.argv[2]):
    Path(sys.argv[3]).write_text("held")
    time.sleep(float(sys.argv[4]))
lock.dispose()
"""


def _hold(url: str, name: str, marker: Path) -> subprocess.Popen:
    """Another process that takes the lock `name` and holds it HOLD_S seconds."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, url, name, str(marker), str(HOLD_S)], env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.02)
    return proc


def test_a_held_lock_keeps_another_process_waiting(url: str, tmp_path: Path) -> None:
    lock = DatabaseLock(url)
    assert lock.exclusive
    holder = _hold(url, "ask:s", tmp_path / "held")
    try:
        started = time.monotonic()
        with lock.held("ask:s"):
            waited = time.monotonic() - started
        assert waited > HOLD_S / 2, f"took the lock after {waited:.2f} s while another process held it"
    finally:
        holder.wait(timeout=60)
        lock.dispose()
    if url.startswith("sqlite"):
        assert Path(url.removeprefix("sqlite:///") + LOCK_SUFFIX).is_file()  # beside the database


def test_postgres_locks_are_one_per_name(pg_url: str, tmp_path: Path) -> None:
    lock = DatabaseLock(pg_url)
    holder = _hold(pg_url, "ask:a", tmp_path / "held")
    try:
        started = time.monotonic()
        with lock.held("ask:b"):  # another study's lock: no wait
            assert time.monotonic() - started < HOLD_S / 2
    finally:
        holder.wait(timeout=60)
        lock.dispose()


def test_what_cannot_be_locked_locks_nothing(tmp_path: Path) -> None:
    for url in ("sqlite://", "sqlite:///file:x.db?uri=true", "not a url"):
        lock = DatabaseLock(url)
        assert not lock.exclusive
        with lock.held("ask:s"):
            pass
    missing = tmp_path / "no" / "such.db"
    lock = DatabaseLock(f"sqlite:///{missing}")
    assert lock.exclusive
    with lock.held("open"):  # no folder, so no database: opening the storage says so, not the lock
        pass
    assert not missing.parent.exists()


def test_a_lock_that_cannot_be_taken_names_the_storage() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lock = DatabaseLock(f"postgresql://ganstab:pw-s3cret@127.0.0.1:{port}/db")
    with pytest.raises(LockError, match="cannot take the drivers' lock 'open'") as err:
        with lock.held("open"):
            pass
    assert "pw-s3cret" not in str(err.value) and "ganstab:***@" in str(err.value)
