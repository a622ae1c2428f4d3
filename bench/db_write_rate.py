"""The study database's write rate per trial and per round, on PostgreSQL, with several drivers at once.

Two parts (issue 27 item 4; docs/scaling.md plans with the figures):

1. **Searches.** For each N in `--drivers`: N driver processes on ONE study of a PostgreSQL
   database, each a real `run_search` with the in-process executor (the same cohort code a Ray
   worker runs: asks, report rounds, pruning, diagnosis, settling, ganstab's rows), a tiny engine
   so the bookkeeping dominates. Counted in each driver process, by SQLAlchemy's engine events
   (Optuna's storage and ganstab's `Store` both go through them): every statement sent, by verb
   and table, the rows it carried (an executemany's parameter sets), every commit and its
   latency (the time of the DBAPI commit, which waits for PostgreSQL's WAL flush), and each round's
   write (`BatchedWrites.flush`: one report round or one settling, in one transaction) with its
   latency. Counted by PostgreSQL for the database: transactions committed, rows inserted /
   updated / deleted per table (pg_stat_user_tables) and the bytes the tables and indexes grew.
   Counts depend on the code, not on the machine's load; latencies and rates do, and the load
   average is printed beside them.
2. **Capacity.** `pgbench` (PostgreSQL's own C client, so the client costs little of the CPU)
   runs a transaction shaped like the searches' average write transaction (its rows, of its
   bytes, into an indexed table, plus one indexed read) at 1, 2, 4, 8, 16 clients for
   `--pgbench-seconds` each: the commits per second the server sustains and where it stops
   rising. Divided by the transactions per trial of part 1, it is the trials per second one
   database takes (docs/scaling.md turns that into nodes x cohorts x K).

    createdb -h 127.0.0.1 -U postgres scale27
    nice -n 10 python bench/db_write_rate.py --url postgresql://postgres@127.0.0.1:5432/scale27 \
        --drivers 1 2 4 --trials-per-driver 16 --cohort-size 8 --json /tmp/scale27-db.json

The database should be one of the bench's own: its tables grow, and pg_stat_user_tables counts
every writer of the database.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_TABLE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM|SELECT\b.*?\bFROM)\s+\(?\s*([a-z_]+)", re.I | re.S)


def _verb_table(statement: str) -> tuple[str, str]:
    m = _TABLE.match(statement)
    if not m:
        return statement.split(None, 1)[0].upper() if statement.strip() else "?", ""
    return m.group(1).split()[0].upper(), m.group(2).lower()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# ------------------------------------------------------------------------------- one driver


def _driver(args: dict[str, Any], queue: Any) -> None:
    """One driver process: a real search on the shared study, with its statements counted."""
    import sqlalchemy
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.default import DefaultDialect

    from ganstab.search import batched_writes
    from ganstab.search.driver import run_search
    from ganstab.search.settings import SearchSettings
    from ganstab.search.space import find_space, load_space

    statements: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    commits: list[float] = []
    rounds: list[float] = []
    round_statements: list[int] = []  # statements sent inside each round's write
    inside = [False]

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        verb, table = _verb_table(statement)
        key = f"{verb} {table}".strip()
        statements[key] += 1
        if inside[0]:
            round_statements[-1] += 1
        if executemany and isinstance(parameters, (list, tuple)):
            rows[key] += len(parameters)  # one statement, many parameter sets (rows)

    plain_commit = DefaultDialect.do_commit

    def timed_commit(self: Any, dbapi_connection: Any) -> None:
        t0 = time.perf_counter()
        plain_commit(self, dbapi_connection)
        commits.append(time.perf_counter() - t0)

    DefaultDialect.do_commit = timed_commit  # type: ignore[method-assign]
    plain_flush = batched_writes.BatchedWrites.flush

    def timed_flush(self: Any) -> None:
        if not self.ops:
            return plain_flush(self)
        t0 = time.perf_counter()
        inside[0] = True
        round_statements.append(0)
        try:
            plain_flush(self)
        finally:
            inside[0] = False
        rounds.append(time.perf_counter() - t0)

    batched_writes.BatchedWrites.flush = timed_flush  # type: ignore[method-assign]

    space = load_space(find_space("quick"))
    extra = [f"data.name={args['dataset']}", f"train.steps={args['steps']}",
             f"train.eval_every={args['steps'] // args['evals']}", "train.device=cpu"]  # fmt: skip
    settings = SearchSettings(
        storage=args["url"], study_name=args["study"], n_trials=args["n_trials"], runs_dir=Path(args["runs"]),
        cohort_size=args["cohort_size"], seed=args["seed"], extra_overrides=extra,
    )  # fmt: skip
    queue.put(("ready", args["seed"]))
    t0, c0 = time.perf_counter(), time.process_time()
    run_search(space, settings)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    queue.put(("done", {"wall_s": wall, "cpu_s": cpu, "statements": dict(statements), "rows": dict(rows),
                        "commits": commits, "rounds": rounds, "round_statements": round_statements, "sqlalchemy": sqlalchemy.__version__}))  # fmt: skip


# ------------------------------------------------------------------------------- the database's view


def _pg(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        cur = conn.execute(sql)
        return list(cur.fetchall()) if cur.description is not None else []


def _pg_counts(url: str) -> dict[str, Any]:
    """Transactions, rows written per table, bytes of the tables (with indexes and TOAST)."""
    _pg(url, "SELECT pg_stat_force_next_flush()")
    xact = _pg(url, "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_returned, tup_fetched "
                    "FROM pg_stat_database WHERE datname = current_database()")[0]  # fmt: skip
    tables = _pg(url, "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, pg_total_relation_size(relid) "
                      "FROM pg_stat_user_tables")  # fmt: skip
    # the rows' own bytes (pg_column_size of each row: its data as stored, TOAST compressed), which
    # unlike the relation sizes above do not move in 8 kB pages
    payload = {r[0]: _pg(url, f'SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM "{r[0]}" t')[0][0] for r in tables}
    return {
        "xact_commit": xact[0], "tup_inserted": xact[1], "tup_updated": xact[2], "tup_deleted": xact[3],
        "tup_returned": xact[4], "tup_fetched": xact[5],
        "tables": {r[0]: {"ins": r[1], "upd": r[2], "del": r[3], "bytes": r[4], "row_bytes": int(payload[r[0]])}
                   for r in tables},
        "db_bytes": _pg(url, "SELECT pg_database_size(current_database())")[0][0],
    }  # fmt: skip


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out = {k: after[k] - before[k] for k in after if k != "tables"}
    tables = {}
    for name, a in after["tables"].items():
        b = before["tables"].get(name, dict.fromkeys(a, 0))
        d = {k: a[k] - b[k] for k in a}
        if any(d.values()):
            tables[name] = d
    out["tables"] = tables
    return out


# ------------------------------------------------------------------------------- part 1


def searches(url: str, n_drivers: int, per_driver: int, cohort_size: int, steps: int, evals: int, dataset: str,
             work: Path) -> dict[str, Any]:  # fmt: skip
    study = f"rate-{n_drivers}d-{uuid.uuid4().hex[:8]}"
    n_trials = n_drivers * per_driver
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = []
    for i in range(n_drivers):
        args = {"url": url, "study": study, "n_trials": n_trials, "runs": str(work / f"runs-{study}"),
                "cohort_size": cohort_size, "seed": i, "steps": steps, "evals": evals, "dataset": dataset}  # fmt: skip
        procs.append(ctx.Process(target=_driver, args=(args, queue)))
    for p in procs:
        p.start()
    for _ in procs:  # imports (torch, scikit-learn) and the classifier's load are not the database's
        kind, _seed = queue.get(timeout=900)
        assert kind == "ready", kind
    before = _pg_counts(url)
    t0 = time.perf_counter()
    loads = [os.getloadavg()[0]]
    connections = 0
    done = []
    while len(done) < n_drivers:
        try:
            kind, payload = queue.get(timeout=1)
        except Exception:
            loads.append(os.getloadavg()[0])
            connections = max(connections, _pg(url, "SELECT count(*) - 1 FROM pg_stat_activity "
                                                    "WHERE datname = current_database()")[0][0])  # fmt: skip
            if not any(p.is_alive() for p in procs):
                raise RuntimeError("a driver process died (see its output above)") from None
            continue
        done.append(payload)
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=60)
    time.sleep(1.0)  # the backends' statistics reach pg_stat_* at their end
    db = _delta(before, _pg_counts(url))

    import optuna

    trials = optuna.load_study(study_name=study, storage=url).trials
    states = Counter(t.state.name for t in trials)
    n = len(trials)
    statements: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    commits: list[float] = []
    rounds: list[float] = []
    for d in done:
        statements.update(d["statements"])
        rows.update(d["rows"])
        commits += d["commits"]
        rounds += d["rounds"]
    writes = {k: v for k, v in statements.items() if k.split()[0] in ("INSERT", "UPDATE", "DELETE")}
    reads = sum(v for k, v in statements.items() if k.startswith("SELECT"))
    shutil.rmtree(work / f"runs-{study}", ignore_errors=True)
    return {
        "drivers": n_drivers, "study": study, "trials": n, "states": dict(states), "cohort_size": cohort_size,
        "steps": steps, "evals": evals, "wall_s": round(wall, 2), "trials_per_s": round(n / wall, 3),
        "load_average": round(statistics.mean(loads), 2),
        "rounds": len(rounds),
        "statements": dict(statements.most_common()), "write_statements": sum(writes.values()),
        "read_statements": reads, "executemany_rows": dict(rows.most_common()),
        "client_commits": len(commits),
        "commit_ms": {"p50": 1e3 * _percentile(commits, 0.5), "p95": 1e3 * _percentile(commits, 0.95),
                      "max": 1e3 * max(commits, default=float("nan"))},
        "round_write_ms": {"p50": 1e3 * _percentile(rounds, 0.5), "p95": 1e3 * _percentile(rounds, 0.95),
                           "max": 1e3 * max(rounds, default=float("nan"))},
        "db": db,
        "driver_cpu_s": [round(d["cpu_s"], 1) for d in done],
        "max_connections_seen": connections,
        "statements_per_round_write": round(statistics.mean(sum_rounds), 2) if (sum_rounds := [
            c for d in done for c in d["round_statements"]]) else None,
    }  # fmt: skip


# ------------------------------------------------------------------------------- part 2


PGBENCH_SETUP = """
DROP TABLE IF EXISTS bench_rows;
CREATE TABLE bench_rows (id bigserial PRIMARY KEY, trial_id integer NOT NULL, key varchar(512), value text);
CREATE INDEX ix_bench_rows_trial ON bench_rows (trial_id);
"""


def capacity(url: str, rows_per_txn: int, bytes_per_row: int, clients: list[int], seconds: int,
             work: Path) -> list[dict[str, Any]]:  # fmt: skip
    """Commits per second of a write transaction of this shape, by number of clients (pgbench)."""
    if shutil.which("pgbench") is None:
        return []
    _pg(url, PGBENCH_SETUP)
    value = "x" * max(1, bytes_per_row - 40)
    values = ", ".join(f"(:t, 'user_attr_{i}', '{value}')" for i in range(rows_per_txn))
    script = work / "round.sql"
    script.write_text(
        "\\set t random(1, 100000)\n"
        "BEGIN;\n"
        "SELECT count(*) FROM bench_rows WHERE trial_id = :t;\n"
        f"INSERT INTO bench_rows (trial_id, key, value) VALUES {values};\n"
        "END;\n"
    )
    out = []
    for c in clients:
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["pgbench", "-n", "-f", str(script), "-c", str(c), "-j", str(min(c, 2)), "-T", str(seconds), "-r",
             url.replace("postgresql+psycopg://", "postgresql://")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        text = proc.stdout + proc.stderr
        tps = re.search(r"tps = ([0-9.]+)", text)
        lat = re.search(r"latency average = ([0-9.]+) ms", text)
        out.append({"clients": c, "tps": float(tps.group(1)) if tps else None,
                    "latency_ms": float(lat.group(1)) if lat else None, "load_average": round(os.getloadavg()[0], 2),
                    "wall_s": round(time.perf_counter() - t0, 1), **({} if tps else {"output": text[-500:]})})  # fmt: skip
    _pg(url, "DROP TABLE IF EXISTS bench_rows")
    return out


# ------------------------------------------------------------------------------- part 3


def _proxy_client(address: tuple[str, int], trial_id: int, seconds: float, queue: Any) -> None:
    """One client of the gRPC proxy: a user attribute written, then the trial read, for `seconds`."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proxy = optuna.storages.GrpcStorageProxy(host=address[0], port=address[1])
    proxy.wait_server_ready(timeout=60)
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        proxy.set_trial_user_attr(trial_id, f"k{n % 16}", n)
        proxy.get_trial(trial_id)
        n += 2
    proxy.close()
    queue.put(n)


def proxy(k: int, steps: int, evals: int, clients: list[int], seconds: int, work: Path) -> dict[str, Any]:
    """The default storage's path: a SQLite study served by the driver's gRPC proxy. The RPCs a
    remote cohort of K trials makes per trial (counted on the server), and the RPCs per second the
    proxy answers for 1.. N client processes (a write and a read each)."""
    import warnings

    import optuna
    from optuna.storages._grpc.servicer import OptunaStorageProxyService

    from ganstab.search.cohort_job import CohortJob
    from ganstab.search.cohort_run import run_cohort
    from ganstab.search.remote_cohort import RecordingStore, create_runs
    from ganstab.search.settings import SearchSettings
    from ganstab.search.space import find_space, load_space
    from ganstab.search.storage_server import StorageServer
    from ganstab.storage import Store

    calls: Counter[str] = Counter()
    for name in [m for m in dir(OptunaStorageProxyService) if m[0].isupper()]:
        def counted(self: Any, request: Any, context: Any, _name: str = name,
                    _plain: Any = getattr(OptunaStorageProxyService, name)) -> Any:  # fmt: skip
            calls[_name] += 1
            return _plain(self, request, context)

        setattr(OptunaStorageProxyService, name, counted)
    url = f"sqlite:///{work / 'proxy.db'}"
    space = load_space(find_space("quick"))
    extra = [f"train.steps={steps}", f"train.eval_every={steps // evals}"]
    settings = SearchSettings(storage=url, study_name="proxy", n_trials=k, runs_dir=work / "proxy-runs", cohort_size=k)
    study = optuna.create_study(study_name="proxy", storage=url)
    trials = [study.ask() for _ in range(k)]
    job = CohortJob(settings, index=0, run_dir=str(work / "proxy-runs" / "proxy" / "cohort-000"),
                    trial_ids=tuple(t._trial_id for t in trials), trial_numbers=tuple(t.number for t in trials),
                    configs=tuple(space.config(extra) for _ in trials))  # fmt: skip
    server = StorageServer(url, "127.0.0.1", heartbeat_interval=None, grace_period=None)
    out: dict[str, Any] = {"k": k, "steps": steps, "evals": evals}
    try:
        with Store(url) as store:
            run_ids = create_runs(job, store)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            remote = optuna.storages.GrpcStorageProxy(host=server.address[0], port=server.address[1])
        remote.wait_server_ready(timeout=60)
        t0 = time.perf_counter()
        run_cohort(job, storage=remote, store=RecordingStore(run_ids))
        out["cohort_s"] = round(time.perf_counter() - t0, 2)
        remote.close()
        out["rpcs_per_trial"] = round(sum(calls.values()) / k, 1)
        out["rpcs"] = {name: round(n / k, 2) for name, n in calls.most_common()}
        ctx = mp.get_context("spawn")
        out["throughput"] = []
        running = [study.ask() for _ in range(max(clients))]  # the cohort's trials are finished
        for c in clients:
            queue = ctx.Queue()
            procs = [ctx.Process(target=_proxy_client, args=(server.address, running[i]._trial_id, seconds, queue))
                     for i in range(c)]  # fmt: skip
            for p in procs:
                p.start()
            total = sum(queue.get(timeout=seconds + 120) for _ in procs)
            for p in procs:
                p.join()
            out["throughput"].append({"clients": c, "rpcs_per_s": round(total / seconds, 1),
                                      "load_average": round(os.getloadavg()[0], 2)})  # fmt: skip
    finally:
        server.stop()
    return out


# ------------------------------------------------------------------------------- report


def _print_search(r: dict[str, Any]) -> None:
    n, db = r["trials"], r["db"]
    print(f"\n{r['drivers']} driver(s): {n} trials {r['states']} in {r['wall_s']} s ({r['trials_per_s']} trials/s), "
          f"{r['rounds']} round writes, load {r['load_average']}")  # fmt: skip
    print(f"  per trial: {r['write_statements'] / n:.1f} write statements, {r['read_statements'] / n:.1f} reads, "
          f"{r['client_commits'] / n:.2f} commits (client) / {db['xact_commit'] / n:.2f} (server), "
          f"{(db['tup_inserted'] + db['tup_updated'] + db['tup_deleted']) / n:.1f} rows written, "
          f"{sum(t['row_bytes'] for t in db['tables'].values()) / n / 1024:.1f} KiB of rows, "
          f"{db['db_bytes'] / n / 1024:.1f} KiB on disk with indexes; "
          f"up to {r['max_connections_seen']} connections")  # fmt: skip
    print(f"  commit latency p50 {r['commit_ms']['p50']:.2f} ms, p95 {r['commit_ms']['p95']:.2f} ms; "
          f"a round's write p50 {r['round_write_ms']['p50']:.1f} ms, p95 {r['round_write_ms']['p95']:.1f} ms")  # fmt: skip
    for name, d in sorted(db["tables"].items(), key=lambda kv: -kv[1]["row_bytes"]):
        print(f"    {name:32s} ins {d['ins'] / n:6.2f}  upd {d['upd'] / n:6.2f}  del {d['del'] / n:5.2f}  "
              f"rows {d['row_bytes'] / n:8.0f} B  on disk {d['bytes'] / n:8.0f} B per trial")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/scale27")
    p.add_argument("--drivers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--trials-per-driver", type=int, default=16)
    p.add_argument("--cohort-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--evals", type=int, default=2)
    p.add_argument("--dataset", default="ring8")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--pgbench-seconds", type=int, default=10)
    p.add_argument("--skip-searches", action="store_true")
    p.add_argument("--skip-capacity", action="store_true")
    p.add_argument("--proxy", action="store_true", help="also measure the default storage's gRPC proxy")
    p.add_argument("--proxy-clients", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--rows-per-txn", type=int, default=9, help="capacity's shape without searches (measured: 36 rows / 4.2 commits)")
    p.add_argument("--bytes-per-row", type=int, default=128, help="... and its row size (measured: 4.4 KiB / 36 rows)")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="db-write-rate-"))
    out: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                           "date": time.strftime("%Y-%m-%d"), "searches": []}  # fmt: skip
    try:
        if not a.skip_searches:
            # a first search makes the tables, so that schema creation counts in no figure below
            searches(a.url, 1, 2, 2, a.steps, a.evals, a.dataset, work)
            for n in a.drivers:
                r = searches(a.url, n, a.trials_per_driver, a.cohort_size, a.steps, a.evals, a.dataset, work)
                _print_search(r)
                out["searches"].append(r)
        first = out["searches"][0] if out["searches"] else None
        rows_per_txn, bytes_per_row = a.rows_per_txn, a.bytes_per_row
        if first:
            db = first["db"]
            written = db["tup_inserted"] + db["tup_updated"] + db["tup_deleted"]
            rows_per_txn = max(1, round(written / max(1, first["client_commits"])))
            row_bytes = sum(t["row_bytes"] for t in db["tables"].values())
            bytes_per_row = max(64, round(row_bytes / max(1, db["tup_inserted"])))
        out["capacity_shape"] = {"rows_per_txn": rows_per_txn, "bytes_per_row": bytes_per_row}
        out["capacity"] = [] if a.skip_capacity else capacity(
            a.url, rows_per_txn, bytes_per_row, a.clients, a.pgbench_seconds, work)
        if a.proxy:
            out["proxy"] = px = proxy(a.cohort_size, a.steps, a.evals, a.proxy_clients, a.pgbench_seconds, work)
            print(f"\nproxy: a remote cohort of {px['k']} made {px['rpcs_per_trial']} RPCs per trial "
                  f"({px['cohort_s']} s): {px['rpcs']}")  # fmt: skip
            for t in px["throughput"]:
                print(f"  {t['clients']:3d} clients: {t['rpcs_per_s']} RPCs/s, load {t['load_average']}")
        print(f"\ncapacity: a transaction of 1 indexed read + {rows_per_txn} rows of ~{bytes_per_row} B (pgbench)")
        for c in out["capacity"]:
            print(f"  {c['clients']:3d} clients: {c['tps']} commits/s, latency {c['latency_ms']} ms, load {c['load_average']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if a.json:
            a.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
