"""Smoke test of benchmarks/perf.py: the quick setting writes a report with every section.

No timing thresholds: only that every figure is measured and written. The data-pipeline
figure reads a tiny generated dataset in ``tmp_path``, never ``../shared``.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from image_layouts import write_image_folder
from script_runner import run_script

from benchmarks.perf_report import SECTIONS

ROOT = Path(__file__).resolve().parents[2]


def run_perf(*args: str) -> subprocess.CompletedProcess:
    """``python benchmarks/perf.py ARGS`` in a process of its own (forked from a warm interpreter)."""
    return run_script(ROOT / 'benchmarks' / 'perf.py', args, {**os.environ, 'OMP_NUM_THREADS': '1'}, ROOT,
                      timeout=1200)  # a hang guard: about 75 s of CPU, far longer on a loaded machine


def tiny_imagenet_layout(root: Path, classes: int = 2, per_class: int = 8, size: int = 72) -> Path:
    """``root/train/n0000000<c>/*.JPEG``: the class folders the data figure reads."""
    return write_image_folder(root, classes=[f'n{c:08d}' for c in range(classes)], per_split={'train': per_class},
                              sizes=((size, size),))


def test_quick_run_writes_every_section(tmp_path: Path):
    data = tiny_imagenet_layout(tmp_path / 'data')
    out = tmp_path / 'out'
    proc = run_perf('--quick', '--threads', '1', '--out', str(out), '--data', str(data))
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
    check_views(results['views'], cpu_scale_measured=2)
    assert '9 ImageNet-size loader' in report


def check_views(views: dict, cpu_scale_measured: int) -> None:
    """Figure 9: every mode measured, the on-device mode copies one uint8 view, pixel table per resolution."""
    net = views['imagenet']
    assert set(net['modes']) == {'standard', 'crop', 'largest', 'device'}
    for row in net['modes'].values():
        assert row['loader']['images_per_s'] > 0 and row['end_to_end']['images_per_s'] > 0
        assert row['loader']['cpu_ratio'] > 0 and row['end_to_end']['cpu_ms_per_image'] > 0
    h2d = net['h2d_bytes_per_sample']
    assert h2d['device'] == h2d['standard'] == 3 * 224 * 224
    assert h2d['crop'] == h2d['largest'] == 3 * sum(s * s for s in (224, 192, 160, 128, 96))
    assert {'device', 'device/float_path', 'device/pseudo_collate'} <= set(net['preprocessor_ms_per_image'])
    mad = views['pixels']['mad']
    assert sorted(int(s) for s in mad) == [96, 128, 160, 192, 224]
    assert mad['224']['device_float_vs_crop_bicubic'] < 0.01  # the largest view is the crop's PIL view
    assert all(0 < mad[s]['device_uint8_vs_crop_bicubic'] < 5 for s in mad if s != '224')
    assert sum('skipped' not in r for r in views['cpu_scale']) == cpu_scale_measured


def run_only(out: Path, *args: str) -> tuple[dict, dict]:
    """``perf.py --only ... --quick --threads 1 ARGS --out OUT`` on a copy of the committed JSON;
    returns the JSON before and after."""
    out.mkdir()
    committed = ROOT / 'benchmarks' / 'results' / 'perf_cpu.json'
    (out / 'perf_cpu.json').write_text(committed.read_text())
    proc = run_perf('--quick', '--threads', '1', *args, '--out', str(out))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(committed.read_text()), json.loads((out / 'perf_cpu.json').read_text())


def test_only_views_merges_into_the_existing_results(tmp_path: Path):
    """``--only views`` measures figure 9 alone and keeps every other figure of the JSON."""
    out = tmp_path / 'out'
    before, after = run_only(out, '--only', 'views', '--data', str(tmp_path / 'absent'))
    assert after['command'] == before['command'] and after['machine'] == before['machine']
    for key, value in before['results'].items():
        if key != 'views':
            assert after['results'][key] == value, key
    views = after['results']['views']
    assert '--only views' in views['measured']['command']
    check_views(views, cpu_scale_measured=1)  # the Imagenette setting is skipped: no data
    report = (out / 'perf_cpu.md').read_text()
    assert SECTIONS[8] in report and 'not measured (no data' in report


def test_only_latency_replaces_the_measured_models_rows(tmp_path: Path):
    """``--only latency --models resnet18`` measures figure 4 for resnet18 alone; every other
    figure and the other models' latency rows stay as they were, in their order."""
    out = tmp_path / 'out'
    before, after = run_only(out, '--only', 'latency', '--models', 'resnet18')
    for key, value in before['results'].items():
        if key != 'latency':
            assert after['results'][key] == value, key
    models = [row['model'] for row in before['results']['latency']]
    assert [row['model'] for row in after['results']['latency']] == models and 'resnet18' in models
    for old, new in zip(before['results']['latency'], after['results']['latency']):
        if old['model'] != 'resnet18':
            assert new == old
        else:
            assert '--only latency' in new['measured']['command'] and new['resolution'] == 48
            assert all(b['san_ratio'] > 0 and b['baked_ratio'] > 0 for b in new['batches'].values())
    assert SECTIONS[3] in (out / 'perf_cpu.md').read_text()


def test_missing_data_dir_skips_only_the_data_figure(tmp_path: Path):
    from benchmarks.perf_data import data_pipeline
    from benchmarks.perf_report import data_section
    result = data_pipeline(str(tmp_path / 'absent'), [64, 48], images=8, batch=4, workers=0, repeats=1)
    assert 'skipped' in result
    lines = data_section(result)
    assert lines[0] == SECTIONS[2] and any('Not measured' in line for line in lines)


def test_batch_size_reads_every_collate_layout():
    """Figure 9 divides times by this: default_collate, pseudo_collate (views-major) and plain batches."""
    import torch
    from mmengine.dataset import default_collate, pseudo_collate
    from benchmarks.perf_views import batch_size
    samples = [dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8), torch.zeros(3, 4, 4, dtype=torch.uint8)])
               for _ in range(5)]
    assert batch_size(default_collate(samples)['inputs']) == 5
    assert batch_size(pseudo_collate(samples)['inputs']) == 5
    single = [dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)]) for _ in range(5)]
    assert batch_size(pseudo_collate(single)['inputs']) == 5 and batch_size(default_collate(single)['inputs']) == 5
    assert batch_size(torch.zeros(5, 3, 8, 8)) == 5
