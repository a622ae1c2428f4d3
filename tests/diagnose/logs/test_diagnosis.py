"""diagnose_log: a log the reader saw diverge is `diverged` by rule, however short; one it could not
read raises its error; the advice reads the run's context, overridden by the user's."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ganstab.diagnose.logs import LoadedLog, LogError, diagnose_log


def _log(n: int, **kw) -> LoadedLog:
    trace = {"step": np.arange(1.0, n + 1), "d_loss": np.ones(n), "g_loss": np.ones(n)}
    return LoadedLog("run", Path("run.csv"), trace, **kw)


def test_a_log_that_diverged_is_diverged_however_short() -> None:
    d = diagnose_log(_log(3, diverged_at=2.0, diverged_why="g_loss is nan at step 2"))
    assert d.label == "diverged" and d.diverged_at == 2.0 and d.model == "losses"
    assert d.advice and d.rows == 3


def test_a_divergence_at_an_unknown_step_has_no_step() -> None:
    d = diagnose_log(_log(0, diverged_at=math.nan, diverged_why="summary.json says it diverged at step nan"))
    assert d.label == "diverged" and d.diverged_at is None


def test_the_users_context_overrides_the_runs_key_by_key() -> None:
    log = _log(3, diverged_at=1.0, context={"data": "2-D mixtures", "loss": "ns"})
    d = diagnose_log(log, context={"loss": "hinge", "g": None})
    assert d.context == {"data": "2-D mixtures", "loss": "hinge"}


def test_a_log_that_could_not_be_read_raises_its_error_and_a_bad_model_is_named() -> None:
    with pytest.raises(LogError, match="too short"):
        diagnose_log(LoadedLog("run", Path("run.csv"), {}, error="`run.csv` is too short"))
    with pytest.raises(ValueError, match="Unknown diagnosis model 'big'"):
        diagnose_log(_log(3, diverged_at=1.0), model="big")
