"""The committed corpus's labelled examples, read once for the diagnosis tests."""

from __future__ import annotations

import pytest

from ganstab.diagnose.examples import labelled_examples
from tests.diagnose.corpus_examples import CORPUS


@pytest.fixture(scope="session")
def examples():
    ex, _ = labelled_examples(CORPUS)
    return ex
