"""Smoke test of benchmarks/gpu/perf_cuda.py: the CPU dry run measures every section and writes its report.

No timing thresholds and no GPU: only that the main path runs end to end at the tiny size,
that a CPU run never writes into benchmarks/results, and that a merge keeps earlier sections.
The rendering of GPU results is checked on a synthetic results dict (test data, not figures).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from script_runner import run_script

ROOT = Path(__file__).resolve().parents[2]
GPU_BENCH = ROOT / 'benchmarks' / 'gpu'


def run_perf(*args: str) -> subprocess.CompletedProcess:
    """``python benchmarks/gpu/perf_cuda.py ARGS`` in a process of its own (forked from a warm interpreter)."""
    return run_script(GPU_BENCH / 'perf_cuda.py', args, {**os.environ, 'OMP_NUM_THREADS': '1'}, ROOT, timeout=900)


def test_cpu_dry_run_measures_every_default_section_and_merges(tmp_path: Path):
    out = tmp_path / 'dry'
    proc = run_perf('--device', 'cpu', '--tiny', '--out', str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not (out / 'perf_cuda.md').exists() and not (out / 'perf_cuda.json').exists()
    results = json.loads((out / 'perf_cuda_dryrun_cpu.json').read_text())
    assert results['errors'] == {}
    assert results['meta']['device'] == 'cpu' and results['meta']['gpu'].startswith('none')
    assert results['flops']['ratio'] > 1
    train = results['train'][0]
    assert set(train['seconds']) == {'san', 'san_kept', 'shared', 'plain'} and train['finite']
    assert train['step_vs_shared'] > 0 and train['images_per_s']['san'] > 0
    assert results['memory']['measured'] is False  # CUDA only
    assert {(r['precision'], r['batch']) for r in results['latency']['rows']} == {
        ('bf16 autocast', 1), ('bf16 autocast', 4), ('fp32', 1), ('fp32', 4)}
    loader = results['loader']
    assert loader['images'] > 0 and loader['images_per_s'] > 0 and loader['vs_step'] > 0
    assert loader['view_shapes'] == [[4, 3, 64, 64], [4, 3, 48, 48]]
    report = (out / 'perf_cuda_dryrun_cpu.md').read_text()
    assert report.startswith('# CUDA benchmark: DRY RUN ON THE CPU')
    assert '--device cpu --tiny' in report and '**missed**' not in report  # a dry run judges no target

    proc = run_perf('--device', 'cpu', '--tiny', '--out', str(out), '--sections', 'flops', '--merge')
    assert proc.returncode == 0, proc.stderr[-3000:]
    merged = json.loads((out / 'perf_cuda_dryrun_cpu.json').read_text())
    assert len(merged['meta']['commands']) == 2 and merged['train'] == results['train']


def test_a_cpu_run_never_writes_into_the_results_folder():
    from benchmarks.gpu import perf_cuda
    with pytest.raises(SystemExit, match='must not write into'):
        perf_cuda.main(['--device', 'cpu', '--tiny', '--out', str(ROOT / 'benchmarks' / 'results')])
    with pytest.raises(SystemExit, match='needs --out'):
        perf_cuda.main(['--device', 'cpu', '--tiny'])


def synthetic_cuda_results() -> dict:
    """A results dict shaped like a GPU run's (made-up numbers: only the rendering is tested)."""
    seconds = {'san': 0.30, 'san_kept': 0.28, 'shared': 0.29, 'plain': 0.10}
    return dict(
        meta=dict(device='cuda', gpu='Test GPU', driver='1.0', gpu_memory_gib=10.0, cpu_count=4, python='3.12',
                  torch='x', cuda='y', cudnn=1, torchvision='z', timm='t', mmengine='m', mmpretrain='p',
                  cudnn_benchmark=True, tf32=False, clock='CUDA-event medians', commands=[['python perf', 'now']]),
        settings=dict(model='resnet50', resolutions=[224, 96], amp='fp16', channels_last=True),
        flops=dict(ratio=2.0),
        train=[dict(batch=8, seconds=seconds, spread={k: 0.01 for k in seconds},
                    images_per_s={k: 8 / v for k, v in seconds.items()}, san_vs_plain_images=1 / 3,
                    images_met=False, step_vs_flops=1.5, step_vs_shared=0.30 / 0.29, kept_vs_shared=0.28 / 0.29,
                    step_met=True, finite=True, loss_scales={k: 65536.0 for k in seconds})],
        memory=dict(measured=True, batch=8, met=True,
                    variants={k: dict(state_mib=1.0, step_mib=2.0, total_mib=3.0) for k in
                              ('san', 'san_kept', 'shared', 'plain', 'san_summed')},
                    vs_plain={k: 1.0 for k in ('san', 'san_kept', 'shared', 'plain', 'san_summed')},
                    total_vs_plain={k: 1.0 for k in ('san', 'san_kept', 'shared', 'plain', 'san_summed')}),
        latency=dict(resolution=224, rows=[dict(precision='fp16 autocast', batch=1,
                                                ms=dict(original=1.0, san=1.02, baked=1.0),
                                                spread={}, san_vs_original=1.02, baked_vs_original=1.0, met=True,
                                                max_abs_diff=0.0)]),
        errors={})


def test_report_of_gpu_results_names_the_gpu_and_judges_the_targets():
    from benchmarks.gpu.perf_cuda_report import render
    report = render(synthetic_cuda_results())
    assert report.startswith('# CUDA performance on Test GPU')
    assert 'driver 1.0' in report and '`python perf`' in report
    assert '**missed**' in report and '| met |' in report  # images/s missed, step ratio met
    assert '## Peak memory' in report and '| san_summed |' in report
    assert 'Not measured: it runs as a separate call' in report  # no compile section yet
