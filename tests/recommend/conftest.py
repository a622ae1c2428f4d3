"""The recommend tests' shared history and made recommendation (tests/recommend/_fixtures.py)."""

from __future__ import annotations

from tests.recommend._fixtures import history_url  # noqa: F401 - the fixture, for every module here
