"""`ganstab dashboard`: a storage that holds no studies is refused before anything listens, in the
dashboard's own words, and a missing SQLite file is not created."""

from __future__ import annotations

from pathlib import Path

from ganstab.cli import main


def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "typo.db"
    assert main(["dashboard", "--storage", f"sqlite:///{missing}", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"there is no SQLite database at {str(missing)!r}; run a search first" in err
    assert not missing.exists()


def test_an_in_memory_database_is_refused() -> None:
    import pytest

    from ganstab.dashboard import DashboardError, open_dashboard_storage

    with pytest.raises(DashboardError, match=r"is an in-memory database, which holds no studies"):
        open_dashboard_storage("sqlite://")
