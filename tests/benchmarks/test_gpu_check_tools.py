"""The GPU check's helpers: the shell scripts parse, the loss-scale hook records, the demo collector reads runs."""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
GPU_BENCH = ROOT / 'benchmarks' / 'gpu'


@pytest.mark.parametrize('script', ['check.sh', 'fetch_wheels.sh'])
def test_shell_scripts_parse(script: str):
    proc = subprocess.run(['bash', '-n', str(GPU_BENCH / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


class FakeScaler:
    def __init__(self, scales):
        self.scales = iter(scales)

    def get_scale(self) -> float:
        return next(self.scales)


class FakeHub:
    def __init__(self):
        self.scalars = {}

    def update_scalar(self, key, value):
        self.scalars.setdefault(key, []).append(value)


def test_loss_scale_hook_records_every_iteration(tmp_path: Path):
    from benchmarks.gpu.loss_scale_hook import LossScaleRecorderHook
    import torch
    runner = SimpleNamespace(iter=0, work_dir=str(tmp_path), message_hub=FakeHub(),
                             optim_wrapper=SimpleNamespace(loss_scaler=FakeScaler([65536.0, 32768.0, 32768.0])))
    hook = LossScaleRecorderHook()
    for index, loss in enumerate([2.0, 1.5, 1.2]):
        runner.iter = index
        hook.after_train_iter(runner, index, outputs={'loss': torch.tensor(loss)})
    hook.after_train(runner)
    record = json.loads((tmp_path / 'loss_scale.json').read_text())
    assert record['wrapper'] == 'SimpleNamespace'
    assert record['scales'] == [[1, 65536.0], [2, 32768.0], [3, 32768.0]]
    assert record['scale_decreases'] == [2] and record['non_finite_losses'] == []
    assert [loss for _, loss in record['losses']] == pytest.approx([2.0, 1.5, 1.2])
    assert runner.message_hub.scalars['train/loss_scale'] == [65536.0, 32768.0, 32768.0]


def test_loss_scale_hook_without_a_scaler_records_losses_only(tmp_path: Path):
    from benchmarks.gpu.loss_scale_hook import LossScaleRecorderHook
    runner = SimpleNamespace(iter=0, work_dir=str(tmp_path), message_hub=FakeHub(), optim_wrapper=SimpleNamespace())
    hook = LossScaleRecorderHook()
    hook.after_train_iter(runner, 0, outputs={'loss': float('nan')})
    hook.after_train(runner)
    record = json.loads((tmp_path / 'loss_scale.json').read_text())
    assert record['scales'] == [] and record['non_finite_losses'] == [1]


def fake_run(work_dir: Path, top1: dict[int, float], losses: list[float], scales: list[float]) -> Path:
    """A work dir as tools/train.py + LossScaleRecorderHook leave it (test data)."""
    vis = work_dir / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    entry = {f'accuracy/top1_{s}': v for s, v in top1.items()}
    entry['accuracy/top1_mean'] = sum(top1.values()) / len(top1)
    lines = [json.dumps({'loss': 1.0, 'step': 1}), json.dumps({**entry, 'step': 1})]
    (vis / 'scalars.json').write_text('\n'.join(lines) + '\n')
    from benchmarks.gpu.loss_scale_hook import write_history
    write_history(str(work_dir / 'loss_scale.json'), 'AmpOptimWrapper',
                  [[i + 1, s] for i, s in enumerate(scales)], [[i + 1, l] for i, l in enumerate(losses)])
    return work_dir


def test_collect_demo_puts_the_runs_side_by_side(tmp_path: Path):
    from benchmarks.gpu import collect_demo
    fp32 = fake_run(tmp_path / 'fp32', {64: 70.0, 48: 60.0}, [2.0, 1.0], [])
    amp = fake_run(tmp_path / 'amp', {64: 69.5, 48: 61.0}, [2.0, 1.1], [65536.0, 65536.0, 32768.0])
    md, js = tmp_path / 'demo.md', tmp_path / 'demo.json'
    assert collect_demo.main(['--run', f'fp32={fp32}', '--run', f'amp={amp}', '--md', str(md), '--json', str(js)]) == 0
    report = md.read_text()
    assert '| 64 | 70.00 | 69.50 |' in report and '| 48 | 60.00 | 61.00 |' in report
    assert '1: 65536, 3: 32768' in report and 'Problems: none.' in report
    runs = json.loads(js.read_text())['runs']
    assert runs[1]['scale_decreases'] == [3] and runs[1]['iterations'] == 2


def test_collect_demo_fails_on_a_non_finite_loss(tmp_path: Path):
    from benchmarks.gpu import collect_demo
    run = fake_run(tmp_path / 'amp', {64: 10.0}, [2.0, math.nan], [65536.0, 65536.0])
    code = collect_demo.main(['--run', f'amp={run}', '--md', str(tmp_path / 'd.md'), '--json', str(tmp_path / 'd.json')])
    assert code == 1
    assert 'non-finite loss at iterations [2]' in (tmp_path / 'd.md').read_text()
