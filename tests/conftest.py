from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep the digits classifier cache of the test session out of the user's ~/.cache."""
    os.environ.setdefault("GANSTAB_CACHE_DIR", str(tmp_path_factory.mktemp("ganstab-cache")))
