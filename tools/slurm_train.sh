#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU, as MMPretrain's script does:
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Env: GPUS (8: tasks in all), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun
# options, e.g. "--time=72:00:00"), PORT (29500: the rendezvous port on the first node),
# PYTHON (python). tools/train.py --launcher slurm maps Slurm's variables (SLURM_PROCID,
# SLURM_NTASKS, SLURM_LOCALID, SLURM_NODELIST via scontrol) to torch's.
# 16 GPUs on two nodes: GPUS=16 tools/slurm_train.sh gpu san_r50 configs/san_resnet50_imagenet.py work_dirs/r50
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
export MASTER_PORT=${MASTER_PORT:-${PORT:-29500}}
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
srun --partition="$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "${PYTHON:-python}" -u "$(dirname "$0")/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "${@:5}"
