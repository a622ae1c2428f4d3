"""CPU per trial of reading a study's finished trials: Optuna's ORM read against ganstab's Core read.

Optuna's `_CachedStorage` reads each trial that finished since its last look through
`RDBStorage._get_trials` (issue 27, item 3: the search's bookkeeping per trial). This builds one
study of `--trials` COMPLETE trials, each with 5 params (float, log float, int, log int,
categorical), 4 user attrs, 2 system attrs and 2 intermediate values, then times
`_get_trials(study_id, None, set(), -1)` (every trial, as the first read of a process does) with
`time.thread_time` (the reading thread's CPU: on SQLite that includes SQLite's own work, on
PostgreSQL the server's CPU is not counted) and wall time, for plain `optuna.storages.RDBStorage`
(ORM) and `ganstab.storage.fast_reads.CoreReadRDBStorage` (Core), alternating, `--repeats` times
each, in one process. Both reads are checked to return equal trials.

    python bench/trial_reads.py --trials 1024 --repeats 5
    python bench/trial_reads.py --trials 1024 --pg-admin postgresql://postgres@127.0.0.1:5432/postgres

`--pg-admin` names a maintenance database: the bench creates a database of its own there and drops
it afterwards.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import psycopg
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import RDBStorage
from sqlalchemy.engine import make_url

from ganstab.storage.fast_reads import CoreReadRDBStorage

DISTRIBUTIONS = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "beta": FloatDistribution(0.0, 0.99),
    "width": IntDistribution(16, 256, log=True),
    "depth": IntDistribution(1, 8),
    "loss": CategoricalDistribution(["wgan", "hinge", "ns"]),
}


def _build(url: str, n_trials: int) -> int:
    """A study of `n_trials` COMPLETE trials shaped like a search's; its id."""
    storage = RDBStorage(url)
    study = optuna.create_study(storage=storage, study_name="reads")
    trials = []
    for i in range(n_trials):
        trials.append(
            optuna.trial.create_trial(
                params={
                    "lr": 10 ** (-5 + 4 * (i % 97) / 97),
                    "beta": (i % 11) / 11,
                    "width": 16 + i % 240,
                    "depth": 1 + i % 8,
                    "loss": ["wgan", "hinge", "ns"][i % 3],
                },
                distributions=DISTRIBUTIONS,
                value=float(i % 13),
                user_attrs={
                    "cohort": i // 256,
                    "member": i % 256,
                    "diagnosis": {"label": "ok", "p": [0.9, 0.05, 0.05]},
                    "run_dir": f"runs/c{i // 256}/m{i % 256}",
                },
                system_attrs={"fixed_params": {"seed": i}, "ganstab:round": 2},
                intermediate_values={150: 0.5 * i, 300: 0.25 * i},
            )
        )
    study.add_trials(trials)
    storage.engine.dispose()
    return study._study_id


def _time(storage: RDBStorage, study_id: int) -> tuple[float, float, list[optuna.trial.FrozenTrial]]:
    wall, cpu = time.perf_counter(), time.thread_time()
    trials = storage._get_trials(study_id, None, set(), -1)
    return time.thread_time() - cpu, time.perf_counter() - wall, trials


def measure(url: str, n_trials: int, repeats: int) -> dict[str, dict[str, float]]:
    study_id = _build(url, n_trials)
    storages = {"orm": RDBStorage(url), "core": CoreReadRDBStorage(url)}
    cpu: dict[str, list[float]] = {k: [] for k in storages}
    wall: dict[str, list[float]] = {k: [] for k in storages}
    for _ in range(repeats):
        read = {}
        for name, storage in storages.items():
            c, w, read[name] = _time(storage, study_id)
            cpu[name].append(c)
            wall[name].append(w)
        assert len(read["orm"]) == n_trials and read["orm"] == read["core"]
    for storage in storages.values():
        storage.engine.dispose()
    ms = 1000 / n_trials
    return {
        name: {
            "cpu_first_ms": cpu[name][0] * ms,
            "cpu_median_ms": statistics.median(cpu[name]) * ms,
            "wall_median_ms": statistics.median(wall[name]) * ms,
        }
        for name in storages
    }


def _report(backend: str, figures: dict[str, dict[str, float]]) -> None:
    for name, f in figures.items():
        print(
            f"{backend:10s} {name:4s}  CPU per trial: first read {f['cpu_first_ms']:.3f} ms, "
            f"median {f['cpu_median_ms']:.3f} ms; wall median {f['wall_median_ms']:.3f} ms"
        )
    print(
        f"{backend:10s} ORM / Core CPU (median): {figures['orm']['cpu_median_ms'] / figures['core']['cpu_median_ms']:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1024, help="finished trials in the study")
    parser.add_argument("--repeats", type=int, default=5, help="reads per storage, alternating")
    parser.add_argument("--pg-admin", help="a PostgreSQL maintenance database URL; SQLite only without it")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}, "
        f"optuna {optuna.__version__}, {args.trials} trials x {args.repeats} reads"
    )

    with tempfile.TemporaryDirectory() as tmp:
        _report("sqlite", measure(f"sqlite:///{Path(tmp) / 'reads.db'}", args.trials, args.repeats))

    if args.pg_admin:
        admin = make_url(args.pg_admin).set(drivername="postgresql+psycopg")
        name = f"ganstab_bench_reads_{uuid.uuid4().hex[:8]}"
        conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            try:
                url = admin.set(database=name).render_as_string(hide_password=False)
                _report("postgresql", measure(url, args.trials, args.repeats))
            finally:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
