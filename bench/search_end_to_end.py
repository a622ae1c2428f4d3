"""One `ganstab search` end to end, as a user runs it, with its bookkeeping share (issue 27 item 3).

Runs the CLI's search command in this process (imports and the diagnosis models' loading count:
this is the whole command) under `search_overhead.BookkeepingClock`, and prints the wall time,
the process's CPU time and the bookkeeping functions' share of both. Everything after `--` is the
search's own arguments; `--storage` and `--runs` default to a fresh scratch folder.

    python bench/search_end_to_end.py -- --space quick --dataset ring8 --trials 1024 \\
        --cohort-size 1024 --set train.steps=40 --set train.eval_every=20 --executor local --no-recommend
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

t_start, c_start = time.perf_counter(), time.process_time()  # before any import: the whole command

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_overhead import BookkeepingClock  # noqa: E402

from ganstab.cli import main as ganstab_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, search = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(ours)
    work = Path(tempfile.mkdtemp(prefix="ganstab-e2e-"))
    if not any(a.startswith("--storage") for a in search):
        search += ["--storage", f"sqlite:///{work / 'study.db'}"]
    if not any(a.startswith("--runs") for a in search):
        search += ["--runs", str(work / "runs")]
    with BookkeepingClock() as clock:
        rc = ganstab_main(["search", *search])
    wall, cpu = time.perf_counter() - t_start, time.process_time() - c_start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "command": ["ganstab", "search", *search],
        "exit_code": rc,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "user_s": round(usage.ru_utime, 2),
        "sys_s": round(usage.ru_stime, 2),
        "bookkeeping_cpu_s": round(sum(clock.cpu.values()), 2),
        "bookkeeping_wall_s": round(sum(clock.wall.values()), 2),
        "bookkeeping_cpu_share": round(sum(clock.cpu.values()) / cpu, 4),
        "bookkeeping_wall_share": round(sum(clock.wall.values()) / wall, 4),
        "bookkeeping_cpu_by_function_s": {n: round(v, 2) for n, v in sorted(clock.cpu.items(), key=lambda x: -x[1])},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
