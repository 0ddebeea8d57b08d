#!/usr/bin/env bash
# What tools/slurm_train.sh and tools/slurm_test.sh share: one Slurm task per GPU, as MMPretrain's
# scripts do, each task running a tool of this folder with --launcher=slurm:
#   tools/slurm_run.sh PARTITION JOB_NAME TOOL [TOOL args...]
# Env: GPUS (8: tasks in all), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun
# options, e.g. "--time=72:00:00"), PORT (29500: the rendezvous port on the first node),
# PYTHON (python). The tools' --launcher slurm maps Slurm's variables (SLURM_PROCID,
# SLURM_NTASKS, SLURM_LOCALID, SLURM_NODELIST via scontrol) to torch's.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
TOOL=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
export MASTER_PORT=${MASTER_PORT:-${PORT:-29500}}
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
srun --partition="$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "${PYTHON:-python}" -u "$(dirname "$0")/$TOOL" "${@:4}" --launcher=slurm
