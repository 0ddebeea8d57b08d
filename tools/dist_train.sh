#!/usr/bin/env bash
# Distributed training with torchrun, on one node or several:
#   tools/dist_train.sh CONFIG NPROC_PER_NODE [train.py args...]
# Works with GPUs (nccl) and without (gloo, CPU DDP). The environment names what
# MMPretrain's script does:
#   NNODES (1), NODE_RANK (0 .. NNODES-1), MASTER_ADDR (127.0.0.1: node 0's address),
#   PORT (29500: the rendezvous port on node 0), PYTHON (python).
#   MAX_RESTARTS (0): torchrun restarts the whole group up to this often after a worker
#   fails; add --auto-resume so that the restarted workers resume from the newest checkpoint.
# Two nodes of 8 GPUs, one command on each (the work dir on a shared filesystem):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 PORT=29500 tools/dist_train.sh CONFIG 8
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 PORT=29500 tools/dist_train.sh CONFIG 8
set -euo pipefail
CONFIG=$1
NPROC_PER_NODE=$2
NNODES=${NNODES:-1}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
MAX_RESTARTS=${MAX_RESTARTS:-0}
if [ "$MAX_RESTARTS" -gt 0 ]; then
    # torchrun's static rendezvous keeps one store across restarts, and the restarted workers
    # read the failed attempt's keys (their process group then connects to dead addresses).
    # Restarts use the c10d rendezvous, with a store the workers create afresh each attempt
    # (ranks follow the order in which nodes join, not NODE_RANK).
    export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1
    RENDEZVOUS=(--rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:$PORT" --rdzv-id="${RDZV_ID:-san_train}"
                --max-restarts="$MAX_RESTARTS")
else
    RENDEZVOUS=(--node_rank="${NODE_RANK:-0}" --master_addr="$MASTER_ADDR" --master_port="$PORT")
fi
"${PYTHON:-python}" -m torch.distributed.run --nnodes="$NNODES" --nproc_per_node="$NPROC_PER_NODE" \
    "${RENDEZVOUS[@]}" "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
