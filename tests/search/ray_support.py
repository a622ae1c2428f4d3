"""What the Ray tests share: the tiny trials, a free port, a user's environment, and the check that
a search's trials were settled by Ray workers."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ganstab.search.heartbeat import worker_id
from ganstab.search.outcomes import ATTR_WORKER, counts_toward_budget

TINY = ["train.steps=200", "train.eval_every=100", "model.hidden=16"]
RAY_BIN = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_search(study: optuna.Study, n: int) -> None:
    """Every trial settled by a Ray worker (not this process), with its curve and attributes."""
    trials = study.trials
    assert len(trials) == n and all(counts_toward_budget(t) for t in trials)
    for t in trials:
        attrs = t.user_attrs
        assert attrs[ATTR_WORKER] != worker_id() and f":{os.getpid()}:" not in attrs[ATTR_WORKER]
        assert {"status", "run_dir", "ganstab_run_id", "steps_trained"} <= set(attrs)
        if t.state == TrialState.COMPLETE:
            assert (
                sorted(t.intermediate_values) == [100, 200]
                and t.value == attrs["late_score"] == attrs["eval_score"]
            )
        else:  # a random learning rate may diverge: FAIL with its status, still a verdict
            assert attrs["status"] == "diverged"


# ------------------------------------------------------------------------------------------ tests


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of the Ray settings this test process has (the
    session's ray.init sets RAY_AUTH_MODE=token here, which a user's shell does not have)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}
