"""The history query without a history to find: a missing SQLite file (not created), an in-memory
database, a database that no ganstab search wrote to (no tables made in it), an unknown data set."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ganstab.recommend import find_history


def test_a_missing_sqlite_file_is_no_history_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    history = find_history("ring8", f"sqlite:///{missing}")
    assert not history.available and history.runs == [] and history.studies == []
    assert history.notes == [f"there is no database file {missing}"]
    assert not missing.exists()


def test_an_in_memory_database_holds_no_history() -> None:
    history = find_history("ring8", "sqlite://")
    assert not history.available and history.notes == ["an in-memory database holds no history"]


def _tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]


def test_a_database_without_ganstab_tables_gets_none_of_them(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    history = find_history("ring8", f"sqlite:///{db}")
    assert not history.available and history.notes == ["the database has no ganstab_runs or studies table"]
    assert _tables(db) == ["notes"]


def test_an_unknown_data_set_is_named_before_the_storage_is_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown data set 'rign8' \(did you mean 'ring8'\?\)"):
        find_history("rign8", f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()
