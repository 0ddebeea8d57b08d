#!/usr/bin/env bash
# Distributed testing with torchrun, on one node or several:
#   tools/dist_test.sh CONFIG CHECKPOINT NPROC_PER_NODE [test.py args...]
# Env as tools/dist_train.sh: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
# PYTHON (python).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC_PER_NODE=$3
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --nproc_per_node="$NPROC_PER_NODE" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
