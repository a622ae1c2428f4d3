"""Several search drivers on one study at once, as `ganstab search` run on several machines (or in
several terminals) with the same --storage and --study: no trial is lost, duplicated, or run
beyond the budget.

Three driver processes start together (a barrier file releases them at the same moment, so they
open the fresh database and create the study concurrently), each with the same target
`n_trials` = 5, the same seed, the in-process executor and cohorts of 2. The first round is the
race: every driver counts the study and asks up to 2 trials, 6 in all for a budget of 5. To make
it certain rather than likely, each driver's first ask waits (at most RENDEZVOUS_S) until all
drivers are about to ask; a driver that counted without the drivers' lock would then ask a
trial the budget has no room for. The driver's guarantee (ganstab.search.driver, "Several
drivers"): the count and the asks of a round are one critical section across the drivers, so the
study ends with exactly `n_trials` verdicts, and each trial is run by one driver only. Checked
against a SQLite file and a fresh database on the PostgreSQL server (created through the
maintenance database and dropped afterwards, as tests/storage/test_store.py does; an unreachable
server fails the test, it never skips it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ganstab.search.outcomes import ATTR_WORKER, counts_toward_budget
from ganstab.storage import Store

TINY = ["train.steps=200", "train.eval_every=50", "model.hidden=16", "train.device=cpu"]
WORKERS = 3
COHORT = 2
N_TRIALS = 5  # every driver's target, below WORKERS * COHORT: the first round is oversubscribed
TIMEOUT_S = 420
RENDEZVOUS_S = 2.0  # how long a driver's first ask waits for the others to reach theirs
REPO = Path(__file__).resolve().parents[2]

optuna.logging.set_verbosity(optuna.logging.WARNING)

_DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import optuna, torch
    torch.set_num_threads(1)
    from ganstab.search.driver import run_search
    from ganstab.search.settings import SearchSettings
    from ganstab.search.space import SPACES_DIR, load_space
    url, tmp, w = sys.argv[1:4]
    tmp = Path(tmp)
    space = load_space(SPACES_DIR / "quick.yaml")
    ask, first = optuna.Study.ask, [True]

    def ask_together(self, *args, **kwargs):
        # The first ask of every driver waits (up to {wait} s) until all drivers are about to ask:
        # without a lock around count-and-ask, each counts an empty study and asks a full round.
        if first[0]:
            first[0] = False
            (tmp / f"asking-{{w}}").touch()
            deadline = time.monotonic() + {wait}
            while len(list(tmp.glob("asking-*"))) < {workers} and time.monotonic() < deadline:
                time.sleep(0.01)
        return ask(self, *args, **kwargs)

    optuna.Study.ask = ask_together
    (tmp / f"ready-{{w}}").touch()
    while not (tmp / "go").exists():  # all drivers are imported: start them at the same moment
        time.sleep(0.01)
    run_search(space, SearchSettings(n_trials={n}, storage=url, study_name="w", cohort_size={k}, seed=0,
                                     extra_overrides={tiny}, runs_dir=str(tmp / "runs"), diagnose=False))
    print("driver finished", flush=True)
    """
)


def _run_drivers(url: str, tmp_path: Path) -> None:
    """Start WORKERS drivers, release them together, wait for all; fail with their logs."""
    go = tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    code = _DRIVER.format(n=N_TRIALS, k=COHORT, tiny=json.dumps(TINY), workers=WORKERS, wait=RENDEZVOUS_S)
    procs, logs = [], []
    try:
        for w in range(WORKERS):
            log = tmp_path / f"driver-{w}.log"
            logs.append(log)
            with log.open("w") as out:
                args = [sys.executable, "-c", code, url, str(tmp_path), str(w)]
                procs.append(subprocess.Popen(args, stdout=out, stderr=out, env=env, cwd=REPO))
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready-{w}").exists() for w in range(WORKERS)):
            dead = [p.args for p in procs if p.poll() is not None]
            assert not dead, "a driver died before the start:\n" + "\n".join(x.read_text() for x in logs)
            assert time.monotonic() < deadline, "the drivers did not get ready in 120 s"
            time.sleep(0.05)
        go.touch()
        deadline = time.monotonic() + TIMEOUT_S
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    failed = [(w, p.returncode) for w, p in enumerate(procs) if p.returncode != 0]
    assert not failed, f"drivers {failed} failed:\n" + "\n\n".join(
        f"--- driver {w}\n{logs[w].read_text()[-3000:]}" for w, _ in failed
    )


@pytest.mark.slow
def test_parallel_drivers_share_one_study(url: str, tmp_path: Path) -> None:
    _run_drivers(url, tmp_path)

    study = optuna.load_study(study_name="w", storage=url)
    trials = study.trials
    states = Counter(t.state.name for t in trials)
    verdicts = [t for t in trials if counts_toward_budget(t)]
    assert len(verdicts) == N_TRIALS, f"{len(verdicts)} verdicts for a target of {N_TRIALS}: {states}"
    assert not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials), states
    assert len(trials) == N_TRIALS, f"trials asked beyond the budget: {states}"  # none failed here
    assert sorted(t.number for t in trials) == list(range(len(trials)))

    # the drivers really ran side by side, and each cohort (one run folder) belongs to one driver
    workers = {t.user_attrs[ATTR_WORKER] for t in trials}
    assert len(workers) >= 2, f"only {workers} ran trials"
    by_cohort: dict[int, set[str]] = {}
    for t in trials:
        by_cohort.setdefault(t.user_attrs["cohort"], set()).add(t.user_attrs[ATTR_WORKER])
    assert all(len(w) == 1 for w in by_cohort.values()), by_cohort
    assert len({t.user_attrs["run_dir"] for t in trials}) == len(trials)
    cohort_dirs = sorted(p.name for p in (tmp_path / "runs" / "w").glob("cohort-*"))
    assert cohort_dirs == [f"cohort-{i:03d}" for i in sorted(by_cohort)]
    # the same seed on every driver must not give every driver the same points
    points = [json.dumps(t.params, sort_keys=True) for t in trials]
    assert len(set(points)) == len(points), "drivers sampled the same configurations"

    store = Store(url)
    try:
        rows = store.runs(study_name="w")
        numbers = Counter(r.trial_number for r in rows)
        assert not [n for n, c in numbers.items() if c > 1], f"trial numbers in several runs: {numbers}"
        by_number = {r.trial_number: r for r in rows}
        for t in verdicts:  # exactly one ganstab run, with its trace, per finished trial
            run = by_number[t.number]
            assert run.id == t.user_attrs["ganstab_run_id"] and run.status == t.user_attrs["status"]
            assert store.has_trace(run.id)
    finally:
        store.dispose()
