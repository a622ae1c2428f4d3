"""SearchError: a ValueError that names the SearchSettings field it is about, also after it crossed
a process boundary (a Ray worker's error is pickled back to the driver)."""

from __future__ import annotations

import pickle
import subprocess
import sys

from ganstab.search.errors import SearchError


def test_the_key_travels_with_the_error() -> None:
    err = SearchError("n_trials must be a whole number >= 1, but got 0.", key="n_trials")
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, ValueError) and str(again) == str(err) and again.key == "n_trials"
    assert SearchError("about no single option").key is None


def test_the_error_module_is_light() -> None:
    """The CLI catches it before it imports the search: no optuna, no torch."""
    code = "import sys, ganstab.search.errors; print(sorted(m for m in ('optuna', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
