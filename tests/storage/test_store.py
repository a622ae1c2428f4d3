"""ganstab.storage against real databases: a SQLite file and the PostgreSQL server.

Each PostgreSQL test gets a database of its own (`ganstab_test_<time>_<hex>`, created through the
maintenance database and dropped afterwards), so nothing touches other data on the server. Point
GANSTAB_TEST_PG_URL at another server's maintenance database if needed; an unreachable server
fails the PostgreSQL tests, it never skips them.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import multiprocessing as mp
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect

from ganstab.diagnose.result import Diagnosis
from ganstab.storage import (
    DuplicateRunError,
    NotFoundError,
    StorageError,
    Store,
    normalize_url,
)
from ganstab.storage.tables import TABLE_PREFIX

N_PROCS = 4
RUNS_PER_PROC = 20
PROC_TIMEOUT_S = 60


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    yield s
    s.dispose()


def _trace(seed: int, n: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d_loss = rng.normal(size=n)
    d_loss[-1] = math.nan  # divergence at the last row
    eval_modes = np.full(n, math.nan)
    eval_modes[::10] = rng.integers(0, 8, size=len(eval_modes[::10]))
    return {
        "step": np.arange(1, n + 1) * 10,  # ints: stored as float64
        "d_loss": d_loss,
        "g_loss": rng.normal(size=n).astype(np.float32),
        "eval_modes": eval_modes,
        "eval_fid": np.full(n, math.nan),  # an optional column never filled
    }


def _assert_same_bits(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == np.float64
        assert got[k].tobytes() == np.asarray(want[k], dtype="<f8").tobytes(), k


# ----------------------------------------------------------------------------------------- tests


def test_trace_round_trip_keeps_nan_inf_bits(store: Store) -> None:
    rid = store.add_run("ring8", {"model": {"latent_dim": 2}})
    payload_nan = np.frombuffer(np.uint64(0x7FF8_0000_DEAD_BEEF).tobytes(), dtype="<f8")[0]
    trace = _trace(0)
    trace["d_real"] = np.array([math.inf, -math.inf, -0.0, payload_nan] + [0.5] * 46)
    store.save_trace(rid, trace)
    _assert_same_bits(store.load_trace(rid), trace)

    longer = _trace(1, n=80)  # the trace grew: saved again, replacing the old one
    store.save_trace(rid, longer)
    _assert_same_bits(store.load_trace(rid), longer)

    empty = {"step": np.array([]), "d_loss": np.array([]), "eval_fid": np.array([])}  # no rows yet
    rid2 = store.add_run("ring8", {})
    store.save_trace(rid2, empty)
    got = store.load_trace(rid2)
    assert list(got) == list(empty) and all(v.shape == (0,) for v in got.values())


def test_bad_trace_is_refused_and_loses_nothing(store: Store) -> None:
    rid = store.add_run("ring8", {})
    trace = _trace(2)
    store.save_trace(rid, trace)
    with pytest.raises(ValueError, match=r"same length.*step=3, d_loss=2"):
        store.save_trace(rid, {"step": np.arange(3), "d_loss": np.zeros(2)})
    with pytest.raises(ValueError, match="must be numeric"):
        store.save_trace(rid, {"step": np.array(["a", "b"])})
    with pytest.raises(NotFoundError, match="no run with id 9999"):
        store.save_trace(9999, trace)
    with pytest.raises(NotFoundError, match="no trace for run id"):
        store.load_trace(store.add_run("ring8", {}))
    with pytest.raises(TypeError, match="cannot store a object"):  # checked before anything is written
        store.add_evaluations(rid, [{"step": 1, "modes": 1.0}, {"step": 2, "bad": object()}])
    _assert_same_bits(store.load_trace(rid), trace)
    assert store.evaluations(rid) == []


def test_evaluations_keep_histograms(store: Store) -> None:
    rid = store.add_run("ring8", {})
    e1 = {"modes": 3.0, "hq": 0.5, "kl": math.nan, "score": 0.2, "hist": [5, 0, 7, 0, 0, 0, 0, 1]}
    e1["near"] = list(np.array([9, 1, 8, 1, 1, 1, 1, 2], dtype=np.int64))  # numpy ints are fine
    store.add_evaluation(rid, 200, e1)
    store.add_evaluations(rid, [{"step": 100, "modes": 1.0, "hist": None, "near": None}])
    store.add_evaluation(rid, 300, {"modes": 8.0, "kl": math.inf, "hist": [1] * 8, "near": [2] * 8})
    store.add_evaluation(rid, 300, {"modes": 7.0, "hist": [1] * 7 + [0], "near": [2] * 8})  # replaces

    evals = store.evaluations(rid)
    assert [e.step for e in evals] == [100, 200, 300]
    assert evals[0].metrics == {"modes": 1.0, "hist": None, "near": None}
    got = evals[1].metrics
    assert got["hist"] == [5, 0, 7, 0, 0, 0, 0, 1] and got["near"] == [9, 1, 8, 1, 1, 1, 1, 2]
    assert math.isnan(got["kl"]) and got["hq"] == 0.5
    assert evals[2].metrics == {"modes": 7.0, "hist": [1] * 7 + [0], "near": [2] * 8}


def test_diagnoses_round_trip(store: Store) -> None:
    rid = store.add_run("grid25", {})
    d1 = Diagnosis(
        label="collapsing",
        probabilities={"converging": 0.1, "collapsing": 0.7, "oscillating": 0.2},
        evidence={"g_spread_drop": 0.8},
        advice=["Try a lower learning rate for G."],
        model="rich",
        rows=40,
    )
    d2 = Diagnosis(label="diverged", probabilities={}, model="losses", rows=55, diverged_at=550.0)
    id2 = store.add_diagnosis(rid, 550, d2)
    id1 = store.add_diagnosis(rid, 400, d1)
    records = store.diagnoses(rid)
    assert [(r.id, r.step) for r in records] == [(id1, 400), (id2, 550)]
    # stored as plain values (the storage knows nothing of diagnose); a Diagnosis comes back whole
    back = [Diagnosis(**dataclasses.asdict(r.diagnosis)) for r in records]
    assert back == [d1, d2] and back[1].confidence == 1.0
    assert records[0].created_at.tzinfo is not None


def test_settle_runs_writes_what_the_one_by_one_calls_write(store: Store) -> None:
    """A round's settling in one statement per table: the same trace bits, evaluations, label,
    diagnosis and status as save_trace/add_evaluations/set_label/add_diagnosis/set_status."""
    from ganstab.storage.records import SettledRun

    d = Diagnosis(label="collapsing", probabilities={"collapsing": 0.9}, evidence={"x": 1.0}, model="rich", rows=50)
    one, batched = store.add_run("ring8", {}), [store.add_run("ring8", {}) for _ in range(3)]
    evals = [{"step": 100, "score": 0.5, "hist": [1, 2]}, {"step": 200, "score": 0.7}]
    store.save_trace(one, _trace(1))
    store.add_evaluations(one, evals)
    store.set_label(one, "collapsing", source="rules")
    store.add_diagnosis(one, 500, d)
    store.set_status(one, "finished")
    store.save_trace(batched[0], _trace(9))  # replaced, as save_trace replaces
    store.settle_runs(
        [SettledRun(rid, "finished", _trace(1), evals, label="collapsing", diagnosis=d, diagnosis_step=500) for rid in batched[:2]]
        + [SettledRun(batched[2], "diverged", _trace(2))]
    )
    for rid in batched[:2]:
        _assert_same_bits(store.load_trace(rid), _trace(1))
        assert [(e.step, e.metrics) for e in store.evaluations(rid)] == [(e.step, e.metrics) for e in store.evaluations(one)]
        assert store.labels(rid) == store.labels(one) == {"rules": "collapsing"}
        assert [(r.step, r.diagnosis) for r in store.diagnoses(rid)] == [(r.step, r.diagnosis) for r in store.diagnoses(one)]
        assert store.run(rid).status == "finished"
    assert store.run(batched[2]).status == "diverged" and not store.labels(batched[2]) and not store.diagnoses(batched[2])
    # a run id that does not exist: nothing of the round is written
    with pytest.raises(NotFoundError, match="no run with id 9999"):
        store.settle_runs([SettledRun(batched[2], "lost", _trace(3)), SettledRun(9999, "lost", _trace(3))])
    assert store.run(batched[2]).status == "diverged"
    _assert_same_bits(store.load_trace(batched[2]), _trace(2))


def test_storage_imports_alone() -> None:
    """ganstab.storage depends on no other ganstab package (diagnose uses it, not the reverse) and
    stays light: the CLI imports it for its error type before it knows the command."""
    code = (
        "import sys, ganstab.storage; "
        "print(sorted(m for m in sys.modules if m.startswith(('ganstab.', 'optuna', 'torch', 'sklearn'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert ast.literal_eval(out) == [
        "ganstab.storage",
        "ganstab.storage.database",
        "ganstab.storage.records",
        "ganstab.storage.store",
        "ganstab.storage.tables",
        "ganstab.storage.urls",
    ]


def test_runs_labels_and_retraining_set(store: Store) -> None:
    a = store.add_run("ring8", {"lr": 1e-4}, study_name="s1", trial_number=0)
    b = store.add_run("ring8", {"lr": 2e-4}, study_name="s1", trial_number=1)
    c = store.add_run("mnist", {"lr": 3e-4}, study_name="s2", trial_number=0)
    d = store.add_run("ring8", {})  # outside any study: NULLs never clash
    e = store.add_run("ring8", {})
    with pytest.raises(DuplicateRunError, match=r"must be unique; run \d+ already has \('s1', 1\)"):
        store.add_run("ring8", {}, study_name="s1", trial_number=1)
    assert store.add_run("ring8", {}, study_name="s1", trial_number=1, exist_ok=True) == b

    assert [r.id for r in store.runs()] == [a, b, c, d, e]
    assert [r.id for r in store.runs(study_name="s1")] == [a, b]
    assert [r.id for r in store.runs(dataset="mnist")] == [c]
    assert store.run(a).config == {"lr": 1e-4} and store.find_run("s2", 0).id == c
    store.set_status(b, "diverged")
    assert [r.id for r in store.runs(status="diverged")] == [b]
    with pytest.raises(NotFoundError):
        store.set_status(12345, "complete")
    with pytest.raises(ValueError, match="status must be a non-empty string of at most 32"):
        store.set_status(a, "")

    for rid in (a, b, c):
        store.save_trace(rid, _trace(rid))
    store.set_label(a, "converging")
    store.set_label(a, "collapsing", source="rules")  # later, but the user's verdict outranks it
    store.set_label(b, "diverged", source="rules")
    store.set_label(d, "oscillating")  # no trace: not usable for retraining
    assert store.labels(a) == {"user": "converging", "rules": "collapsing"}

    got = {r.run.id: (r.label, r.source) for r in store.labelled_runs()}
    assert got == {a: ("converging", "user"), b: ("diverged", "rules")}
    got = {r.run.id: (r.label, r.source) for r in store.labelled_runs(sources=["rules", "user"])}
    assert got == {a: ("collapsing", "rules"), b: ("diverged", "rules")}
    (only,) = store.labelled_runs(sources=["user"], dataset="ring8")
    assert only.run.id == a and only.run.study_name == "s1"
    _assert_same_bits(only.trace, _trace(a))


def test_tables_coexist_with_optuna(url: str) -> None:
    import optuna  # here, not at the top: the spawned writer processes import this module

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = Store(url)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name="coexist", storage=storage, direction="maximize")
    for _ in range(3):
        trial = study.ask()
        x = trial.suggest_float("lr", 1e-5, 1e-3, log=True)
        rid = store.add_run("ring8", {"lr": x}, study_name=study.study_name, trial_number=trial.number)
        store.save_trace(rid, _trace(trial.number))
        trial.set_user_attr("ganstab_run_id", rid)
        study.tell(trial, x)
    del storage

    again = optuna.load_study(study_name="coexist", storage=optuna.storages.RDBStorage(url))
    assert len(again.trials) == 3
    reopened = Store(url)  # create_all again, beside Optuna's tables: a no-op
    for t in again.trials:
        run = reopened.find_run("coexist", t.number)
        assert run is not None and run.id == t.user_attrs["ganstab_run_id"]
        assert run.config == {"lr": t.params["lr"]}
        _assert_same_bits(reopened.load_trace(run.id), _trace(t.number))

    engine = create_engine(normalize_url(url))
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    ours = {n for n in names if n.startswith(TABLE_PREFIX)}
    assert {"ganstab_runs", "ganstab_traces", "ganstab_evaluations", "ganstab_diagnoses"} <= ours
    assert {"studies", "trials", "trial_params"} <= names - ours
    store.dispose()
    reopened.dispose()


def _writer(url: str, worker: int, barrier: mp.synchronize.Barrier, ids: mp.Queue) -> None:
    store = Store(url, create=False)
    barrier.wait(timeout=PROC_TIMEOUT_S)
    for i in range(RUNS_PER_PROC):
        n = worker * 1000 + i
        rid = store.add_run("ring8", {"worker": worker, "i": i}, study_name="conc", trial_number=n)
        store.save_trace(rid, _trace(n, n=30))
        store.add_evaluation(rid, 300, {"modes": float(i), "hist": [i, worker], "near": [1, 2]})
    # every worker claims the same trial at once: one run, one id for all
    ids.put(store.add_run("ring8", {}, study_name="shared", trial_number=0, exist_ok=True))


def _creator(url: str, barrier: mp.synchronize.Barrier) -> None:
    barrier.wait(timeout=PROC_TIMEOUT_S)
    Store(url)  # create_all at the same moment as the others
    Store(url).create_all()


def _run_procs(target: object, args_for: list[tuple[object, ...]]) -> None:
    ctx = mp.get_context("spawn")  # no inherited sockets, threads or locks
    procs = [ctx.Process(target=target, args=args) for args in args_for]
    for p in procs:
        p.start()
    deadline = time.monotonic() + PROC_TIMEOUT_S
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert [p.exitcode for p in procs] == [0] * len(procs)


def test_concurrent_writers_lose_and_duplicate_nothing(url: str) -> None:
    Store(url).dispose()  # tables exist before the writers start
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N_PROCS)
    ids = ctx.Queue()
    _run_procs(_writer, [(url, w, barrier, ids) for w in range(N_PROCS)])
    shared = {ids.get(timeout=5) for _ in range(N_PROCS)}

    store = Store(url)
    runs = store.runs(study_name="conc")
    assert len(runs) == N_PROCS * RUNS_PER_PROC
    expected = {w * 1000 + i for w in range(N_PROCS) for i in range(RUNS_PER_PROC)}
    assert sorted(r.trial_number for r in runs) == sorted(expected)
    for r in runs:
        assert r.config == {"worker": r.trial_number // 1000, "i": r.trial_number % 1000}
        _assert_same_bits(store.load_trace(r.id), _trace(r.trial_number, n=30))
        (ev,) = store.evaluations(r.id)
        assert ev.metrics["hist"] == [r.trial_number % 1000, r.trial_number // 1000]
    (shared_run,) = store.runs(study_name="shared")
    assert shared == {shared_run.id}
    store.dispose()


def test_concurrent_create_all(url: str) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N_PROCS)
    _run_procs(_creator, [(url, barrier) for _ in range(N_PROCS)])
    store = Store(url, create=False)
    rid = store.add_run("ring8", {})
    assert store.run(rid).dataset == "ring8"
    engine = create_engine(normalize_url(url))
    assert {"ganstab_runs", "ganstab_schema", "ganstab_labels"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM ganstab_schema").scalar() == 1
    engine.dispose()
    store.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_urls_name_the_url_with_password_masked(tmp_path: Path) -> None:
    port = _free_port()
    with pytest.raises(StorageError) as err:
        Store(f"postgresql://ganstab:s3cr3t-pw@127.0.0.1:{port}/db")
    message = str(err.value)
    assert f"'postgresql+psycopg://ganstab:***@127.0.0.1:{port}/db'" in message
    assert "connecting failed" in message and "s3cr3t-pw" not in message

    with pytest.raises(StorageError, match=r"must look like .* got 'not a url'"):
        Store("not a url")
    with pytest.raises(StorageError, match=r"URL 'nosuch://u:\*\*\*@h/db' needs a SQLAlchemy dialect") as err:
        Store("nosuch://u:pw123@h/db")
    assert "pw123" not in str(err.value)
    missing = tmp_path / "no" / "such" / "dir" / "x.db"
    with pytest.raises(StorageError, match="directory must exist"):
        Store(f"sqlite:///{missing}")
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"

    memory = Store("sqlite://")  # in memory: one shared connection, still usable
    rid = memory.add_run("ring8", {})
    memory.save_trace(rid, {"step": np.arange(3)})
    assert memory.load_trace(rid)["step"].tolist() == [0.0, 1.0, 2.0]


def test_add_runs_writes_what_add_run_writes(store: Store) -> None:
    """A cohort's runs in one statement: the ids in order, the same rows as add_run, a stored run
    keeps its id with exist_ok, and a clash without it is add_run's DuplicateRunError."""
    kept = store.add_run("ring8", {"lr": 1.0}, study_name="s", trial_number=1)
    runs = [
        {"dataset": "ring8", "config": {"lr": float(n)}, "study_name": "s", "trial_number": n, "status": "waiting"}
        for n in range(4)
    ] + [{"dataset": "grid25", "config": {}}, {"dataset": "grid25", "config": {}}]  # outside a study: NULLs
    ids = store.add_runs(runs, exist_ok=True)
    assert ids[1] == kept and len(set(ids)) == 6 and ids[0] > kept and ids[2:] == sorted(ids[2:])
    for rid, run in zip(ids, runs):
        rec = store.run(rid)
        assert (rec.dataset, rec.study_name, rec.trial_number) == (run["dataset"], run.get("study_name"), run.get("trial_number"))
        assert rec.config == ({"lr": 1.0} if rid == kept else run["config"])
        assert rec.status == ("running" if rid == kept or "status" not in run else "waiting")
    assert store.add_runs(runs[:4], exist_ok=True) == ids[:4]  # all stored: the same ids
    with pytest.raises(DuplicateRunError, match=r"run \d+ already has \('s', 0\)"):
        store.add_runs([{"dataset": "ring8", "config": {}, "study_name": "s", "trial_number": 9}, runs[0]])
    assert store.find_run("s", 9) is None  # nothing of a refused batch is written
    with pytest.raises(ValueError, match="dataset must be a non-empty string"):
        store.add_runs([{"dataset": "", "config": {}}])
    assert store.add_runs([]) == []
