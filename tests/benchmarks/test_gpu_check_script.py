"""benchmarks/gpu/check.sh: every path it names exists, and its CPU dry run of the test and demo steps passes.

The dry run is the script itself (``--device cpu --tiny --steps tests,demo``): its set-up, its
pytest call on the paths of its tiny test step (narrowed to two tests by ``PYTEST_ADDOPTS``, so
a path that does not exist still fails it), the demo data, the three demo trainings (fp32,
``--amp``, ``tools/dist_train.sh`` with one process) and the collector's report.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / 'benchmarks' / 'gpu' / 'check.sh'
REPO_PATH = re.compile(r'(?<![\w$./-])((?:tests|tools|benchmarks|configs)/[\w./-]*\w)')
TINY_SUBSET = 'test_fp32_train_step or test_train_step_runs_convs_in_bf16_and_keeps_fp32_params'
"""Two tests of the tiny test step's paths: one from tests/gpu, one from tests/mm/engine/test_cpu_amp.py."""


def named_paths(script: Path) -> list[str]:
    """The repository paths (tests/, tools/, benchmarks/, configs/) a script names, comments included."""
    return sorted(set(REPO_PATH.findall(script.read_text())))


def test_every_test_path_and_script_check_sh_names_exists():
    paths = named_paths(CHECK)
    assert {'tests/gpu', 'tests/mm/engine/test_cpu_amp.py', 'tools/train.py', 'tools/dist_train.sh',
            'benchmarks/gpu/perf_cuda.py', 'benchmarks/gpu/collect_demo.py'} <= set(paths)
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert not missing, f'benchmarks/gpu/check.sh names paths that do not exist: {missing}'


def test_named_paths_sees_a_stale_path(tmp_path: Path):
    script = tmp_path / 'check.sh'
    script.write_text('paths=(tests/gpu tests/mm/test_amp.py)  # $WORK/tests_junit.xml is no repo path\n')
    assert named_paths(script) == ['tests/gpu', 'tests/mm/test_amp.py']


def test_cpu_dry_run_of_the_test_and_demo_steps(tmp_path: Path):
    out = tmp_path / 'out'
    with socket.socket() as sock:  # parallel test workers must not share the demo's torchrun port
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = {**os.environ, 'OUT': str(out), 'PYTHON': sys.executable, 'PORT': str(port),
           'PYTEST_ADDOPTS': f'-k "{TINY_SUBSET}"', 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(['bash', str(CHECK), '--device', 'cpu', '--tiny', '--steps', 'tests,demo'], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    log = (out / 'check.log').read_text()
    assert proc.returncode == 0, log[-6000:] + proc.stderr[-2000:]
    assert re.search(r'^setup +PASS', log, re.M) and re.search(r'^tests +PASS', log, re.M), log[-3000:]
    assert re.search(r'^demo +PASS', log, re.M) and 'perf: not requested' in log

    suite = ElementTree.parse(out / 'tests_junit.xml').getroot()
    cases = list(suite.iter('testcase'))
    assert not any(case.find('failure') is not None or case.find('error') is not None for case in cases)
    ran = {case.get('classname') for case in cases if case.find('skipped') is None}
    assert 'tests.gpu.test_cuda_train_step' in ran and 'tests.mm.engine.test_cpu_amp' in ran, ran

    runs = {run['name']: run for run in json.loads((out / 'demo_gpu.json').read_text())['runs']}
    assert set(runs) == {'fp32', 'amp', 'dist_train.sh 1 process (gloo)'}
    assert runs['amp']['wrapper'] == 'CPUAmpOptimWrapper' and runs['fp32']['wrapper'] == 'OptimWrapper'
    for run in runs.values():
        assert run['iterations'] > 0 and run['non_finite_losses'] == [] and run['problems'] == []
        assert set(run['top1']) == {'64', '48', '32'}
    dist = runs['dist_train.sh 1 process (gloo)']
    assert (dist['first_loss'], dist['last_loss']) == pytest.approx(
        (runs['fp32']['first_loss'], runs['fp32']['last_loss']), rel=1e-4)  # same seed, one process
    assert 'Problems: none.' in (out / 'demo_gpu.md').read_text()
    assert '===== dist' in (out / 'demo_logs.txt').read_text()
