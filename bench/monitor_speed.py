"""StabilityMonitor inside a training loop: what its first call and each call cost (issue 16 item 6).

A training loop feeds the monitor one row per logged step and asks for the diagnosis; the figure
that matters is the cost per `diagnosis()` call, amortized over the run, for a 10,000-row trace.
Measured here, in one fresh process:

- `make`: `StabilityMonitor()` (loads the shipped models; the first monitor of a process);
- `first`: the first `diagnosis()` (at `min_rows`, 20 rows);
- `every row`: `update()` then `diagnosis()` on every row from 1 to --rows: the total time in
  `diagnosis()` over the number of calls, for the whole run and for its last 10 % of rows;
- `every 10 rows`: the same, asking on every 10th row only;
- `fresh`: one diagnosis of the whole --rows-row trace (`diagnose_trace`, what every call cost
  before the monitor reused its last answer).

The trace is a ganstab-like one (every column the rich model reads; `g_move` on every 30th row,
as an evaluation every 300 steps with logging every 10), the expensive case; `--losses` feeds
d_loss and g_loss only. Targets: a few milliseconds per call, amortized, at 10,000 rows on a
2-core CPU. Results are recorded in bench/RESULTS.md.

    OMP_NUM_THREADS=1 python bench/monitor_speed.py            # --rows 10000
    OMP_NUM_THREADS=1 python bench/monitor_speed.py --losses
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def synthetic_trace(n: int, losses_only: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """Losses that drift and wobble like a GAN's, and ganstab's other columns around their levels."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.standard_normal(n)) * 0.01
    trace = {
        "step": np.arange(1, n + 1) * 10.0,
        "d_loss": 1.3 + walk + 0.1 * rng.standard_normal(n),
        "g_loss": 0.8 - walk + 0.1 * rng.standard_normal(n),
    }
    if losses_only:
        return trace
    for col, level in (
        ("d_real", 0.5),
        ("d_fake", -0.5),
        ("grad_norm_d", 1.0),
        ("grad_norm_g", 1.0),
        ("g_spread", 0.5),
        ("g_drift", 0.1),
    ):
        trace[col] = level + 0.05 * rng.standard_normal(n)
    trace["data_spread"] = np.full(n, 0.6)
    trace["g_move"] = np.where(np.arange(n) % 30 == 29, 0.05 + 0.01 * rng.standard_normal(n), np.nan)
    return trace


def loop(trace: dict[str, np.ndarray], every: int, refresh: float) -> tuple[np.ndarray, int]:
    """Seconds spent in each `diagnosis()` call of a loop that asks every `every` rows, and how many
    diagnoses it actually made (distinct `rows` among the answers)."""
    from ganstab.diagnose import StabilityMonitor

    monitor = StabilityMonitor(refresh=refresh)
    extra = [c for c in trace if c not in ("step", "d_loss", "g_loss")]
    n = len(trace["step"])
    costs, made = [], set()
    for i in range(n):
        monitor.update(
            int(trace["step"][i]), trace["d_loss"][i], trace["g_loss"][i], **{c: trace[c][i] for c in extra}
        )
        if (i + 1) % every == 0:
            t = time.perf_counter()
            d = monitor.diagnosis()
            costs.append(time.perf_counter() - t)
            if d is not None:
                made.add(d.rows)
    return np.asarray(costs), len(made)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--losses", action="store_true", help="d_loss and g_loss only (anybody's log)")
    ap.add_argument("--refresh", type=float, default=0.05, help="the monitor's refresh (default 0.05)")
    args = ap.parse_args()
    trace = synthetic_trace(args.rows, args.losses)

    t = time.perf_counter()
    from ganstab.diagnose import StabilityMonitor

    monitor = StabilityMonitor()
    make = time.perf_counter() - t
    extra = [c for c in trace if c not in ("step", "d_loss", "g_loss")]
    for i in range(20):
        monitor.update(
            int(trace["step"][i]), trace["d_loss"][i], trace["g_loss"][i], **{c: trace[c][i] for c in extra}
        )
    t = time.perf_counter()
    monitor.diagnosis()
    first = time.perf_counter() - t

    from ganstab.diagnose.classifier import diagnose_trace

    fresh_times = []
    for _ in range(5):  # what every call cost before: the whole trace diagnosed again
        t = time.perf_counter()
        d = diagnose_trace(trace)
        fresh_times.append(time.perf_counter() - t)
    fresh = float(np.median(fresh_times))

    print(f"# {platform.processor() or platform.machine()}, {args.rows} rows, "
          f"{'losses only' if args.losses else 'every column (rich model)'}, refresh {args.refresh}")  # fmt: skip
    print(f"make StabilityMonitor() (loads the models): {make:.2f} s")
    print(f"first diagnosis() at 20 rows:               {first * 1e3:.1f} ms")
    print(f"fresh diagnosis of {args.rows} rows (model {d.model}): {fresh * 1e3:.1f} ms (median of 5)")
    for every in (1, 10):
        costs, made = loop(trace, every, args.refresh)
        tail = costs[int(len(costs) * 0.9) :]
        print(
            f"diagnosis() every {every:>2} row(s): {len(costs)} calls, {made} diagnoses made, "
            f"{costs.mean() * 1e3:.2f} ms per call amortized over the run, "
            f"{tail.mean() * 1e3:.2f} ms over its last 10 % (max {costs.max() * 1e3:.0f} ms)"
        )


if __name__ == "__main__":
    main()
