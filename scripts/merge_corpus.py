"""Append the runs of corpus folders to another corpus folder (runs it already holds, by id, are
skipped), e.g. the per-seed folders that scripts/corpus_gpu.sh brings back from a GPU machine:

    python scripts/merge_corpus.py corpus/v6 /tmp/gpu/ring16-0 /tmp/gpu/ring16-1 ...

Trace columns must match (the corpus module refuses otherwise, naming both column lists).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganstab.diagnose.corpus_files import append_runs, load, runs_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="corpus folder to append to (created if missing)")
    p.add_argument("parts", type=Path, nargs="+", help="corpus folders to take runs from")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seen = {r.id for r in load(args.out)} if runs_file(args.out).exists() else set()
    for part in args.parts:
        if not runs_file(part).exists():  # e.g. the folder of a cohort stopped at corpus_gpu.sh's deadline
            print(f"{part}: no runs file, skipped")
            continue
        runs = [r for r in load(part) if r.id not in seen]
        if runs:
            append_runs(args.out, runs)
        seen |= {r.id for r in runs}
        print(f"{part}: {len(runs)} runs added")
    print(f"{args.out}: {len(seen)} runs")


if __name__ == "__main__":
    main()
