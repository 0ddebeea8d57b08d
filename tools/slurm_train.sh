#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU, as MMPretrain's script does:
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Env (see tools/slurm_run.sh): GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS, PORT
# (29500), PYTHON (python).
# 16 GPUs on two nodes: GPUS=16 tools/slurm_train.sh gpu san_r50 configs/san_resnet50_imagenet.py work_dirs/r50
set -euo pipefail
exec "$(dirname "$0")/slurm_run.sh" "$1" "$2" train.py "$3" --work-dir="$4" "${@:5}"
