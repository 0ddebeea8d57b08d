#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG NPROC [train.py args...]
# Works with GPUs (nccl) and without (gloo, CPU DDP). Env: PORT (29500), PYTHON (python).
set -euo pipefail
CONFIG=$1
NPROC=$2
PORT=${PORT:-29500}
"${PYTHON:-python}" -m torch.distributed.run --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
