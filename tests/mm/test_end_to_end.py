"""tools/train.py and tools/test.py each in a process of its own, and MMPretrain's own train.py, on a tiny dataset."""
from __future__ import annotations

import json
import os
from pathlib import Path

import mmpretrain
import pytest
import torch

from san_plugin.mm.engine.safe_load import safe_load
from demo_options import tiny_cfg_options
from script_runner import run_script

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py'
pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path = ROOT) -> str:
    """``python SCRIPT ARGS`` in a process of its own (forked from a warm interpreter: ``script_runner``)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT))
    done = run_script(args[0], args[1:], env, cwd, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def scalars(work_dir: Path) -> list[dict]:
    [log] = work_dir.glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_train_then_test_at_any_resolution(tiny_dataset, tmp_path):
    work_dir = tmp_path / 'work'
    run(['tools/train.py', str(CONFIG), '--work-dir', str(work_dir), '--cfg-options', *tiny_cfg_options(tiny_dataset)])
    records = scalars(work_dir)
    train = [r for r in records if 'loss' in r]
    assert train and {'loss_ce_32', 'loss_ce_24', 'loss_sd'} <= set(train[-1])
    val = [r for r in records if 'accuracy/top1_mean' in r][-1]
    assert {'accuracy/top1_32', 'accuracy/top1_24'} <= set(val)
    assert val['accuracy/top1_mean'] == pytest.approx((val['accuracy/top1_32'] + val['accuracy/top1_24']) / 2)

    checkpoint = work_dir / 'epoch_1.pth'
    state = safe_load(checkpoint)
    metadata = state['state_dict']['backbone.san._extra_state']
    assert metadata['resolutions'] == [32, 24]
    assert metadata['encoding'] == {'factor': 0.1, 'base': 32.0, 'offset': 0.0}
    assert any(k.endswith('meta.weight') for k in state['state_dict'])
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')

    out = run(['tools/test.py', str(CONFIG), str(checkpoint), '--resolution', '28', '--work-dir',
               str(tmp_path / 'test'), '--cfg-options', *tiny_cfg_options(tiny_dataset)])
    assert 'accuracy/top1:' in out

    sweep_deploy_tools(checkpoint, tiny_dataset, tmp_path)


def sweep_deploy_tools(checkpoint: Path, data: Path, tmp_path: Path) -> None:
    """eval_resolutions, calibrate_bn, test --mode ideal and export on a trained checkpoint."""
    options = ['--cfg-options', *tiny_cfg_options(data)]
    out = tmp_path / 'sweep' / 'tiny'
    run(['tools/eval_resolutions.py', str(CONFIG), str(checkpoint), '--resolutions', '36', '28', '20',
         '--out', str(out), '--budget-gflops', '1', *options])
    sweep = json.loads(out.with_suffix('.json').read_text())
    assert [row['label'] for row in sweep['rows']] == ['SAN BN@32', 'SAN BN@24']
    proxies = [(row['resolution'], t) for row in sweep['rows'] for t, c in row['cells'].items() if c['proxy']]
    assert sorted(proxies) == [(24, '20'), (32, '28'), (32, '36')]
    md = out.with_suffix('.md').read_text()
    for row in sweep['rows']:
        for cell in row['cells'].values():
            assert f"{cell['top1']:.2f}" in md
    assert out.with_name('tiny_accuracy.png').stat().st_size > 1000

    report = tmp_path / 'meta' / 'tiny'
    printed = run(['tools/meta_report.py', str(CONFIG), str(checkpoint), '--out', str(report), *options])
    layers = json.loads(report.with_suffix('.json').read_text())['layers']
    assert len(layers) == 20 and all(layer['kernel_change'] > 0 for layer in layers)  # trained: W moved off 0
    assert '| backbone.conv1 |' in printed and 'kernel_change: median' in printed

    calibrated = tmp_path / 'calibrated.pth'
    run(['tools/calibrate_bn.py', str(CONFIG), str(checkpoint), '--resolutions', '28', '--num-batches', '1',
         '--out', str(calibrated), *options])
    assert safe_load(calibrated)['state_dict']['backbone.san._extra_state']['calibrated'] == [28]
    out = run(['tools/test.py', str(CONFIG), str(calibrated), '--resolution', '28', '--mode', 'ideal',
               '--work-dir', str(tmp_path / 'ideal'), *options])
    assert 'accuracy/top1:' in out and 'falling back to proxy' not in out
    exported = tmp_path / 'baked.onnx'
    run(['tools/export.py', str(CONFIG), str(calibrated), '--resolution', '28', '--format', 'onnx', '--mode',
         'ideal', '--out', str(exported), *options])
    assert exported.stat().st_size > 0


def test_mmpretrain_stock_train_entry_point_runs_our_config(tiny_dataset, tmp_path):
    stock = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'train.py'
    if not stock.exists():
        pytest.skip('this mmpretrain install ships no tools/train.py')
    work_dir = tmp_path / 'stock'
    run([str(stock), str(CONFIG), '--work-dir', str(work_dir), '--cfg-options', *tiny_cfg_options(tiny_dataset)],
        cwd=tmp_path)
    assert (work_dir / 'epoch_1.pth').exists()
    assert 'accuracy/top1_mean' in [r for r in scalars(work_dir) if 'accuracy/top1_mean' in r][-1]
