"""Smoke test of benchmarks/perf.py: the quick setting writes a report with every section.

No timing thresholds: only that every figure is measured and written. The data-pipeline
figure reads a tiny generated dataset in ``tmp_path``, never ``../shared``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'benchmarks'))
from perf_report import SECTIONS  # noqa: E402


def tiny_imagenet_layout(root: Path, classes: int = 2, per_class: int = 8, size: int = 72) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / 'train' / f'n{c:08d}'
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f'{i}.JPEG')
    return root


def test_quick_run_writes_every_section(tmp_path: Path):
    data = tiny_imagenet_layout(tmp_path / 'data')
    out = tmp_path / 'out'
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'perf.py'), '--quick', '--threads', '1',
                           '--out', str(out), '--data', str(data)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = (out / 'perf_cpu.md').read_text()
    for heading in ('## Summary',) + SECTIONS:
        assert heading in report, heading
    assert 'Not measured' not in report  # the data figure ran on the tiny dataset
    assert (out / 'perf_scaling_cpu.png').stat().st_size > 0
    results = json.loads((out / 'perf_cpu.json').read_text())['results']
    assert results['training'][0]['ratio'] > 0 and results['training'][0]['kept_ratio'] > 0
    assert results['memory'][0]['variants']['san']['step_kib'] > 0
    assert results['memory'][0]['variants']['san_kept']['step_kib'] > 0
    assert set(results['data']['loaders']) == {'standard', 'multi', 'multi_from_largest', 'largest_only'}
    assert "views_from='largest'" in report and 'kernels kept' in report
    assert set(results['scaling']['times']) == {'1', '2'}
    compiled = results['compile'][0]
    assert compiled['backend'] == 'aot_eager' and compiled['graphs'] >= 1 and compiled['ratio'] > 0


def test_missing_data_dir_skips_only_the_data_figure(tmp_path: Path):
    from perf_data import data_pipeline
    from perf_report import data_section
    result = data_pipeline(str(tmp_path / 'absent'), [64, 48], images=8, batch=4, workers=0, repeats=1)
    assert 'skipped' in result
    lines = data_section(result)
    assert lines[0] == SECTIONS[2] and any('Not measured' in line for line in lines)
