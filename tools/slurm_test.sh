#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU, as MMPretrain's script does:
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# Env (see tools/slurm_run.sh): GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS, PORT
# (29500), PYTHON (python).
set -euo pipefail
exec "$(dirname "$0")/slurm_run.sh" "$1" "$2" test.py "$3" "$4" "${@:5}"
