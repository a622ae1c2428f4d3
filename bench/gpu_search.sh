#!/bin/bash
# The search at scale on a lent GPU machine (device tool), in one call of at most 8 minutes:
#   1. search overhead at K=256 and 1,024 (bench/search_overhead.py: one cohort as a search over the
#      same cohort as `ganstab train`; targets <= 1.3x at K=1,024), with a cProfile of K=1,024;
#   2. a 1,024-trial ring8 search end to end (quick space, cohorts of 256, --executor local), with
#      its bookkeeping share (bench/search_end_to_end.py);
#   3. the search-efficiency pools and asha searches on ring8 at the 90 % bar (bench/search_efficiency.py).
# That machine has PyTorch but neither Ray nor Optuna: Optuna and its needs travel as wheels in
# .whl/ (optuna, SQLAlchemy, alembic, Mako, colorlog, greenlet, skops, prettytable, wcwidth, and
# scikit-learn at the version that wrote the shipped models; /work/.library/device/README.md says
# how to download them). On a machine with ganstab installed the pip line is skipped.
# Call:  run(command="bash bench/gpu_search.sh", carry=[".whl"], timeout_s=540)
# Then record $OUT/overhead.json, $OUT/search.txt and the profile's head in bench/RESULTS.md.
set -u
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
OUT_DIR=${OUT:-/tmp/gpu_search}
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT_DIR/gpu.txt"

timeout 180 python3 bench/search_overhead.py --k 256 1024 --steps 600 --evals 2 --device cuda \
  --json "$OUT_DIR/overhead.json" --profile "$OUT_DIR/profile-1024.txt" 2>&1 | grep -v '^\[I' | tee "$OUT_DIR/overhead.txt"

rm -rf /tmp/gs && mkdir -p /tmp/gs
start=$(date +%s)
# the search as a user runs it, under the bookkeeping clock (its share of the wall and CPU time)
timeout 120 python3 bench/search_end_to_end.py --json "$OUT_DIR/search_end_to_end.json" -- \
  --space quick --dataset ring8 --trials 1024 --cohort-size 256 \
  --executor local --no-recommend --set train.device=cuda --storage sqlite:////tmp/gs/study.db \
  --runs /tmp/gs/runs --study gpu-1024 > "$OUT_DIR/search.txt" 2>&1
rc=$?
echo "1,024-trial search: exit $rc in $(( $(date +%s) - start )) s; run folders $(du -sh /tmp/gs/runs | cut -f1)" | tee -a "$OUT_DIR/search.txt"
tail -25 "$OUT_DIR/search.txt"

# 3. Search efficiency at the 90 % bar (issue "search that finds"): the random and grid pools and
#    six asha searches (successive halving with slot refill, the graded score at the rungs), all
#    on ring8 at 5,000 steps with G's weight average (train.g_ema=0.99), in parallel processes
#    sharing the GPU (member-steps, the measure, do not depend on sharing). Each process writes
#    its JSON when done; `python bench/search_efficiency.py report DIR` on the copies in $OUT
#    gives the tables for bench/RESULTS.md (the JSONs come back in $OUT/eff/). An asha search cut by
#    the timeout leaves its last round's result (counted as not found by then); a pool leaves nothing.
EFF="--dataset ring8 --steps 5000 --hq 90 --set train.g_ema=0.99 --device cuda --out /tmp/eff"
rm -rf /tmp/eff && mkdir -p /tmp/eff
timeout 200 python3 bench/search_efficiency.py run --method random --pool 192 --cohort-size 192 $EFF \
  > "$OUT_DIR/eff-random.txt" 2>&1 &
timeout 200 python3 bench/search_efficiency.py run --method grid --cohort-size 49 $EFF > "$OUT_DIR/eff-grid.txt" 2>&1 &
for rep in 0 1 2 3 4 5; do
  timeout 200 python3 bench/search_efficiency.py run --method ganstab --scheduler asha --rep $rep \
    --cohort-size 32 --max-trials 384 $EFF > "$OUT_DIR/eff-asha-$rep.txt" 2>&1 &
done
wait
mkdir -p "$OUT_DIR/eff" && cp /tmp/eff/*.json "$OUT_DIR/eff/" 2>/dev/null
python3 bench/search_efficiency.py report "$OUT_DIR/eff" 2>&1 | tee "$OUT_DIR/efficiency.txt"
