#!/usr/bin/env bash
# The search of a ganstab cluster, run on the head node (the driver's machine): by the cluster
# launcher (`ray exec deploy/cluster-launcher.yaml 'bash ~/ganstab-src/deploy/ganstab-search.sh'`) or by hand there.
# RAY_ADDRESS=auto joins the cluster this node belongs to. The default storage is the SQLite file
# ~/search/ganstab.db, served to the GPU workers over gRPC on GANSTAB_STORAGE_SERVER_PORT; set
# GANSTAB_STORAGE to a PostgreSQL URL for several drivers or a study beyond one machine (docs/scaling.md).
set -euo pipefail
export GANSTAB_STORAGE_SERVER_PORT="${GANSTAB_STORAGE_SERVER_PORT:-50051}"
cd "${GANSTAB_SEARCH_DIR:-$HOME/search}"
exec ganstab search --address auto --space full --dataset grid25 --trials 1024 --cohort-size 256 \
    --gpus-per-cohort 1 --cpus-per-cohort 4 \
    ${GANSTAB_STORAGE:+--storage "$GANSTAB_STORAGE"} "$@"
