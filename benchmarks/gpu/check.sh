#!/usr/bin/env bash
# The GPU check of san_plugin: one command that tests, trains and measures on one GPU and writes
# everything under $OUT.
#
#   bash benchmarks/gpu/check.sh                                           # on the GPU machine
#   OUT=/tmp/gpu_dry bash benchmarks/gpu/check.sh --device cpu --tiny      # the dry run, no GPU
#
# Before the GPU call, run `bash benchmarks/gpu/fetch_wheels.sh` here: the GPU machine has no
# OpenMMLab packages and no network, so their wheels travel in .whl/ (carry=['.whl']).
#
# Steps (each timed; a failed step does not stop the next ones; the exit status is 1 if any failed):
#   1 setup    install .whl/ into /tmp/site (if present), print versions and nvidia-smi
#   2 tests    tests/gpu (every test on cpu and cuda), tests/mm/engine/test_cpu_amp.py (its GPU test), tests/core, tests/timm
#   3 demo     configs/demo trained fp32, --amp (fp16 + GradScaler on a GPU) and by tools/dist_train.sh with
#              one process (NCCL, SANDistributedDataParallel), same seed, side by side; loss-scale history
#   4 perf     benchmarks/gpu/perf_cuda.py: FLOPs, training images/s, step ratios, peak memory, eval latency,
#              the ImageNet loader (16 workers) against the step
#   5 compile  perf_cuda.py --sections compile --merge, only if enough of the time budget is left (a skipped
#              compile step is no failure; any other skipped step is)
# Outputs under $OUT (at most 8 files come back from the GPU machine): check.log, tests_junit.xml,
# demo_gpu.md, demo_gpu.json, demo_logs.txt, perf_cuda.md, perf_cuda.json (the dry run writes
# perf_cuda_dryrun_cpu.md/.json instead: a CPU run never produces perf_cuda.md).
# Options: --device cuda|cpu (default cuda), --tiny (small sizes), --budget SECONDS (whole run; default
# 420 on a GPU, 2400 for --tiny), --steps LIST (of tests,demo,perf,compile; default all: a rerun of some;
# setup always runs). Env: OUT (default /tmp/san_gpu_check), PYTHON, PORT (of the demo's dist_train.sh run,
# default 29517).
set -uo pipefail

DEVICE=cuda
TINY=0
BUDGET=
WANTED=tests,demo,perf,compile
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=$2; shift 2 ;;
        --tiny) TINY=1; shift ;;
        --budget) BUDGET=$2; shift 2 ;;
        --steps) WANTED=$2; shift 2 ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
if [ "$DEVICE" != cuda ] && [ "$DEVICE" != cpu ]; then
    echo "--device must be cuda or cpu, got $DEVICE" >&2
    exit 2
fi
[ -n "$BUDGET" ] || BUDGET=$([ "$TINY" = 1 ] && echo 2400 || echo 420)

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
OUT=${OUT:-/tmp/san_gpu_check}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/san_gpu_work.XXXXXX)
LOG=$OUT/check.log
: > "$LOG"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON=$ROOT/.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHON DEVICE TINY OUT WORK ROOT
# the repository root: san_plugin and the benchmarks package (nothing is pip-installed on the GPU machine)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
[ "$DEVICE" = cpu ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
START=$(date +%s)
DEADLINE=$((START + BUDGET))
RESERVE=15  # seconds kept for the summary after the last step
STEPS=()

say() { echo "$@" | tee -a "$LOG"; }
elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((DEADLINE - $(date +%s) - RESERVE)); }

# run_step NAME CAP_SECONDS MIN_SECONDS FUNCTION: runs the exported FUNCTION in a child bash under
# timeout (the whole process group is killed at the limit), output to the terminal and the log.
run_step() {
    local name=$1 cap=$2 min=$3 fn=$4 limit rc status t0
    case ",$WANTED," in
        *",$name,"*) ;;
        *) say "=== $name: not requested (--steps $WANTED)"; return 0 ;;
    esac
    limit=$(left)
    [ "$limit" -gt "$cap" ] && limit=$cap
    if [ "$limit" -lt "$min" ]; then
        say "=== [$(elapsed) s] $name: SKIPPED (${limit} s of the budget left, needs ${min} s)"
        STEPS+=("$name SKIPPED 0")
        return 0
    fi
    say "=== [$(elapsed) s] $name (limit ${limit} s)"
    t0=$(date +%s)
    timeout -k 10 "$limit" bash -c "$fn" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    case $rc in
        0) status=PASS ;;
        124|137) status=TIMEOUT ;;
        *) status="FAIL(rc=$rc)" ;;
    esac
    STEPS+=("$name $status $(($(date +%s) - t0))")
    say "=== [$(elapsed) s] $name: $status in $(($(date +%s) - t0)) s"
}

# -- 1 setup (in this shell: PYTHONPATH must persist) -------------------------------------------
setup() {
    local t0 rc=0
    t0=$(date +%s)
    say "=== [$(elapsed) s] setup"
    if compgen -G ".whl/*.whl" > /dev/null; then
        timeout 120 "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl 2>&1 | tee -a "$LOG"
        rc=${PIPESTATUS[0]}
        export PYTHONPATH="/tmp/site:$PYTHONPATH"
        if ! "$PYTHON" -c 'import pkg_resources' 2> /dev/null && compgen -G ".whl/fallback/*.whl" > /dev/null; then
            say "pkg_resources missing (mmengine imports it): installing .whl/fallback"
            "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
                .whl/fallback/*.whl 2>&1 | tee -a "$LOG"
        fi
    else
        say "no .whl/ here: using the installed packages"
    fi
    "$PYTHON" - <<'EOF' 2>&1 | tee -a "$LOG"
import os, platform, sys
import torch, torchvision, timm, mmengine, mmcv, mmpretrain
import san_plugin, san_plugin.mm
print(f'python {platform.python_version()} ({sys.executable}); {os.cpu_count()} CPU cores')
print(f'torch {torch.__version__} (CUDA {torch.version.cuda}), torchvision {torchvision.__version__}, timm {timm.__version__}')
print(f'mmengine {mmengine.__version__} ({os.path.dirname(mmengine.__file__)}), mmcv {mmcv.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, san_plugin from {os.path.dirname(san_plugin.__file__)}')
print(f'cuda available: {torch.cuda.is_available()}' + (f', {torch.cuda.get_device_name(0)}' if torch.cuda.is_available() else ''))
EOF
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi 2>&1 | tee -a "$LOG"
    else
        say "nvidia-smi: not found"
    fi
    if [ "$DEVICE" = cuda ] && ! "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        say "--device cuda but torch sees no GPU"
        rc=1
    fi
    local status=PASS
    [ "$rc" -eq 0 ] || status="FAIL(rc=$rc)"
    STEPS+=("setup $status $(($(date +%s) - t0))")
    say "=== [$(elapsed) s] setup: $status in $(($(date +%s) - t0)) s"
}

# -- the demo data, generated in the background while the tests run -------------------------------
start_demo_data() {
    local args=(--out "$WORK/demo")
    [ "$TINY" = 1 ] && args+=(--train-per-class 4 --val-per-class 2)
    ("$PYTHON" tools/make_demo_data.py "${args[@]}" > "$WORK/make_demo_data.log" 2>&1
     echo $? > "$WORK/make_demo_data.rc") &
    DEMO_DATA_PID=$!
}

# -- 2 tests --------------------------------------------------------------------------------------
step_tests() {
    local workers=8 paths=(tests/gpu tests/mm/engine/test_cpu_amp.py tests/core tests/timm)
    [ "$TINY" = 1 ] && workers=0 && paths=(tests/gpu tests/mm/engine/test_cpu_amp.py)
    "$PYTHON" -m pytest -q -p no:cacheprovider -n "$workers" -rs --durations=10 \
        --junitxml="$OUT/tests_junit.xml" "${paths[@]}"
}

# -- 3 demo: fp32, --amp and dist_train.sh (1 process) side by side -------------------------------
step_demo() {
    local workers=4 runs=() pids=() rc=0 name
    while [ ! -f "$WORK/make_demo_data.rc" ]; do sleep 1; done
    cat "$WORK/make_demo_data.log"
    [ "$(cat "$WORK/make_demo_data.rc")" = 0 ] && [ -f "$WORK/demo/meta.json" ] || { echo "no demo data"; return 1; }
    local options=(train_dataloader.dataset.data_root="$WORK/demo" val_dataloader.dataset.data_root="$WORK/demo"
                   test_dataloader.dataset.data_root="$WORK/demo" randomness.seed=0 default_hooks.logger.interval=10)
    if [ "$TINY" = 1 ]; then
        workers=1
        options+=(train_cfg.max_epochs=1 train_cfg.val_interval=1 train_dataloader.batch_size=8
                  val_dataloader.batch_size=8 test_dataloader.batch_size=8)
    fi
    options+=(train_dataloader.num_workers=$workers val_dataloader.num_workers=$workers
              test_dataloader.num_workers=$workers)
    local config=benchmarks/gpu/demo_gpu.py
    mkdir -p "$WORK/logs"
    "$PYTHON" tools/train.py "$config" --work-dir "$WORK/fp32" --cfg-options "${options[@]}" \
        > "$WORK/logs/fp32.log" 2>&1 &
    pids+=($!); runs+=(fp32)
    "$PYTHON" tools/train.py "$config" --amp --work-dir "$WORK/amp" --cfg-options "${options[@]}" \
        > "$WORK/logs/amp.log" 2>&1 &
    pids+=($!); runs+=(amp)
    PORT=${PORT:-29517} bash tools/dist_train.sh "$config" 1 --work-dir "$WORK/dist" --cfg-options "${options[@]}" \
        > "$WORK/logs/dist.log" 2>&1 &
    pids+=($!); runs+=(dist)
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then echo "demo ${runs[$i]}: trained"; else echo "demo ${runs[$i]}: FAILED"; rc=1; fi
    done
    for name in "${runs[@]}"; do
        { echo "===== $name ($WORK/logs/$name.log)"; cat "$WORK/logs/$name.log"; } >> "$OUT/demo_logs.txt"
        tail -n 5 "$WORK/logs/$name.log"
    done
    local reference=()
    [ "$TINY" = 1 ] || reference=(--reference benchmarks/results/demo/sweep.json)
    local dist_name=nccl
    [ "$DEVICE" = cuda ] || dist_name=gloo
    "$PYTHON" benchmarks/gpu/collect_demo.py --run fp32="$WORK/fp32" --run amp="$WORK/amp" \
        --run "dist_train.sh 1 process ($dist_name)"="$WORK/dist" "${reference[@]}" \
        --md "$OUT/demo_gpu.md" --json "$OUT/demo_gpu.json" || rc=1
    return $rc
}

# -- 4 perf and 5 compile ---------------------------------------------------------------------------
step_perf() {
    if [ "$DEVICE" = cuda ]; then
        "$PYTHON" benchmarks/gpu/perf_cuda.py --out "$OUT"
    else
        "$PYTHON" benchmarks/gpu/perf_cuda.py --device cpu --tiny --out "$OUT"
    fi
}

step_compile() {
    if [ "$DEVICE" = cuda ]; then
        "$PYTHON" benchmarks/gpu/perf_cuda.py --sections compile --merge --compile-model resnet18 --out "$OUT"
    else
        "$PYTHON" benchmarks/gpu/perf_cuda.py --device cpu --tiny --sections compile --merge --out "$OUT"
    fi
}

export -f step_tests step_demo step_perf step_compile

say "GPU check of san_plugin: device=$DEVICE tiny=$TINY budget=${BUDGET} s OUT=$OUT work=$WORK ($(date -u '+%Y-%m-%d %H:%M UTC'))"
say "git: $(git rev-parse --short HEAD 2> /dev/null || echo unknown) $(git status --porcelain 2> /dev/null | wc -l) changed file(s)"
setup
case ",$WANTED," in *,demo,*) start_demo_data ;; esac
if [ "$TINY" = 1 ]; then
    run_step tests 600 30 step_tests
    run_step demo 900 60 step_demo
    run_step perf 900 60 step_perf
    run_step compile 600 30 step_compile
else
    run_step tests 100 30 step_tests
    run_step demo 150 60 step_demo
    run_step perf 200 60 step_perf
    run_step compile 300 90 step_compile
fi
[ -n "${DEMO_DATA_PID:-}" ] && kill "$DEMO_DATA_PID" 2> /dev/null
wait 2> /dev/null

say ""
say "=== summary ($(elapsed) s of ${BUDGET} s)"
FAILED=0
for entry in "${STEPS[@]}"; do
    read -r name status seconds <<< "$entry"
    say "$(printf '%-8s %-12s %5s s' "$name" "$status" "$seconds")"
    case "$name:$status" in *:PASS|compile:SKIPPED) ;; *) FAILED=1 ;; esac  # only compile may be left out
done
say "outputs: $(cd "$OUT" && ls | tr '\n' ' ')"
rm -rf "$WORK"
exit $FAILED
