#!/bin/bash
# The random and grid pools of bench/search_efficiency.py, as they ran on a lent GPU machine
# (device tool, 2026-11-26): four processes share one GPU; verification is left to `verify` on
# this machine. That machine has PyTorch but not optuna: its wheels travel in .whl/ (see
# /work/.library/device/README.md); on a machine with ganstab installed, skip the pip line.
# Afterwards: python bench/search_efficiency.py verify DIR/*.json && ... report DIR
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2
OUT_DIR=${OUT:-/tmp}/eff
mkdir -p /tmp/eff "$OUT_DIR"
for spec in "random ring8" "grid ring8" "random grid25" "grid grid25"; do
  set -- $spec
  python3 bench/search_efficiency.py run --method $1 --dataset $2 --steps 8000 --cohort-size 96 --pool 96 \
    --no-verify --device cuda --out /tmp/eff > "$OUT_DIR/log-$1-$2.txt" 2>&1 &
done
wait
cp /tmp/eff/*.json "$OUT_DIR/"
# a second random pool on ring8 ran afterwards the same way with --rep 1
