"""tools/train.py and tools/test.py as subprocesses, and MMPretrain's own train.py, on a tiny dataset."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mmpretrain
import pytest
import torch

from san_plugin.mm.checkpoint import safe_load
from conftest import tiny_cfg_options

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py'
pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path = ROOT) -> str:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
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
    assert metadata['resolutions'] == [32, 24] and metadata['encoding'] == {'factor': 0.1, 'base': 32.0}
    assert any(k.endswith('meta.weight') for k in state['state_dict'])
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')

    out = run(['tools/test.py', str(CONFIG), str(checkpoint), '--resolution', '28', '--work-dir',
               str(tmp_path / 'test'), '--cfg-options', *tiny_cfg_options(tiny_dataset)])
    assert 'accuracy/top1:' in out


def test_mmpretrain_stock_train_entry_point_runs_our_config(tiny_dataset, tmp_path):
    stock = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'train.py'
    if not stock.exists():
        pytest.skip('this mmpretrain install ships no tools/train.py')
    work_dir = tmp_path / 'stock'
    run([str(stock), str(CONFIG), '--work-dir', str(work_dir), '--cfg-options', *tiny_cfg_options(tiny_dataset)],
        cwd=tmp_path)
    assert (work_dir / 'epoch_1.pth').exists()
    assert 'accuracy/top1_mean' in [r for r in scalars(work_dir) if 'accuracy/top1_mean' in r][-1]
