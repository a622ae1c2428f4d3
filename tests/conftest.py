from __future__ import annotations

import os

# Before torch loads (see ganstab/cli.py): keep OpenMP from spinning when the machine is shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep the digits classifier cache of the test session out of the user's ~/.cache."""
    os.environ.setdefault("GANSTAB_CACHE_DIR", str(tmp_path_factory.mktemp("ganstab-cache")))
