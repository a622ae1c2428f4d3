#!/bin/bash
# Corpus cohorts on one lent GPU machine (device tool): several `ganstab corpus` loops share the
# GPU, each training one cohort per seed until a deadline, so that a lease of a few minutes ends
# with whole cohorts (a cohort is written only when it finishes). Needs PyTorch, numpy and PyYAML,
# nothing else (no optuna, no ray). Each loop comes back as one tar.gz (the device tool returns at
# most 8 files); merge them here afterwards (docs/labels.md).
# Give the device call's timeout_s about a minute more than SECONDS, for the archives.
#   usage: scripts/corpus_gpu.sh SECONDS STEPS_SCALE "dataset:cohort_size:seed,seed,... ..."
#   e.g.   scripts/corpus_gpu.sh 500 2 "ring16:128:0,2,4 ring16:128:1,3,5 digits:64:1,3,5"
set -u
usage() { sed -n 's/^#   //p' "$0" >&2; exit 2; }
[ $# -eq 3 ] || usage
budget=$1 scale=$2 loops=$3
set -f # the loop specs are split on spaces and commas, never globbed
n=0
for loop in $loops; do
  [[ $loop =~ ^[a-z0-9_]+:[0-9]+:[0-9]+(,[0-9]+)*$ ]] || { echo "bad loop spec: $loop" >&2; usage; }
  n=$((n + 1))
done
[ $n -le 8 ] || { echo "$n loops: the device tool brings back at most 8 files" >&2; exit 2; }
out=${OUT:-/tmp/corpus-gpu-out}
work=/tmp/corpus-gpu
rm -rf "$work" # a warm machine keeps /tmp: start clean, or old folders would resume or travel again
mkdir -p "$out" "$work"
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
py=${PYTHON:-python3}
deadline=$(($(date +%s) + budget))
n=0
for loop in $loops; do
  IFS=: read -r dataset size seeds <<<"$loop"
  n=$((n + 1))
  dir=$work/loop-$n
  mkdir -p "$dir"
  (
    last=0
    for seed in ${seeds//,/ }; do
      now=$(date +%s)
      left=$((deadline - now))
      # start another cohort only if the last one's time (plus a tenth) still fits
      if [ $((last + last / 10)) -ge $left ] || [ $left -le 5 ]; then break; fi
      timeout -k 15 "$left" "$py" -m ganstab.cli corpus --out "$dir/$dataset-$seed" --seed "$seed" \
        --steps-scale "$scale" --cohort-size "$size" --cohorts "$dataset=1" || echo "stopped: $dataset seed $seed"
      last=$(($(date +%s) - now))
      echo "$dataset seed $seed: ${last} s"
    done
  ) >"$dir/log.txt" 2>&1 &
done
wait
set +f
for dir in "$work"/loop-*; do
  echo "== $dir"
  cat "$dir/log.txt"
  tar czf "$out/$(basename "$dir").tar.gz" -C "$dir" .
done
ls -la "$out"
