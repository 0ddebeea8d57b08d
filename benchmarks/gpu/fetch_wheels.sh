#!/usr/bin/env bash
# Fetches the wheels the GPU machine lacks into .whl/ (git-ignored; carried with the device call).
#
#   bash benchmarks/gpu/fetch_wheels.sh          # run here, in the repository root, before the GPU call
#
# The GPU machine has Python 3.12, torch 2.11, torchvision 0.26, timm, pytest, opencv and matplotlib,
# but no OpenMMLab packages and no network. mmengine, mmcv-lite, mmpretrain and the pure-Python
# packages they need (and the GPU image lacks) travel as wheels (about 3 MB). setuptools<82 goes to
# .whl/fallback/: check.sh installs it only where pkg_resources (which mmengine imports) is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
           --platform any)
fetch() {  # fetch DEST PACKAGE...
    local dest=$1
    shift
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${PLATFORMS[@]}" -d "$dest" "$@"
}
rm -rf .whl
mkdir -p .whl/fallback
fetch .whl mmengine==0.10.7 mmcv-lite==2.2.0 mmpretrain==1.2.0 modelindex==0.0.2 model-index mat4py==0.6.0 \
    yapf==0.43.0 addict==2.4.0 termcolor==3.3.0 platformdirs importlib-metadata lazy-importer zipp ordered-set
fetch .whl/fallback 'setuptools<82'
ls -l .whl .whl/fallback
du -sh .whl
