"""The sampled-training report: each variant at its best rate, compute ratios and the targets."""
import json

import pytest

from benchmarks.imagenette import sampling_report
from benchmarks.imagenette.common import TEST_RESOLUTIONS, TRAIN_RESOLUTIONS

COST = {'batch_size': 64, 'threads': 1, 'steps_per_epoch': 148,
        'rows': {'all': dict(step_gflops=10.0, ratio_gflops=1.0, step_cpu_s=2.0, ratio_cpu_s=1.0),
                 'sandwich1': dict(step_gflops=6.0, ratio_gflops=0.6, step_cpu_s=1.3, ratio_cpu_s=0.65),
                 'sandwich2': dict(step_gflops=8.0, ratio_gflops=0.8, step_cpu_s=1.7, ratio_cpu_s=0.85)}}


def write_run(root, lr, model, level, epochs=15, dip=0.0):
    """A run summary whose proxy row is ``level`` at every size (``level - dip`` at 40 px)."""
    from san_plugin.core import nearest_resolution
    cells = {str(t): level - (dip if t == 40 else 0.0) for t in TEST_RESOLUTIONS}
    rows = {str(s): cells for s in TRAIN_RESOLUTIONS}
    proxy = {str(t): nearest_resolution(t, TRAIN_RESOLUTIONS) for t in TEST_RESOLUTIONS}
    path = root / f'lr{lr}' / f'{model}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(eval=dict(rows=rows, proxy=proxy), epochs=epochs, seed=0, train_wall_s=1.0)))


def test_best_rates_compute_and_targets(tmp_path):
    root, equal = tmp_path / 'runs', tmp_path / 'equal'
    for lr, level in ((0.05, 74.0), (0.1, 76.0), (0.2, 75.0)):
        write_run(root, lr, 'san', level)
    for lr, level in ((0.05, 74.0), (0.1, 75.8), (0.2, 75.0)):
        write_run(root, lr, 'san_sandwich1', level, dip=1.5)  # 40 px 1.7 below 'all': the size rule fails
    for lr, level in ((0.1, 75.7), (0.2, 75.9)):
        write_run(root, lr, 'san_sandwich2', level)  # best at the edge: not bracketed
    write_run(equal, 0.1, 'san_sandwich1', 76.5, epochs=24)
    cost = tmp_path / 'cost.json'
    cost.write_text(json.dumps(COST))
    out = tmp_path / 'report'
    sampling_report.main(['--root', str(root), '--equal-compute', str(equal), '--cost', str(cost), '--out', str(out)])
    summary = json.loads(out.with_suffix('.json').read_text())
    variants = summary['variants']
    assert variants['san']['lr'] == 0.1 and variants['san']['bracket']['bracketed']
    one = variants['san_sandwich1']
    assert one['compute'] == pytest.approx(0.6) and one['mean_gain'] == pytest.approx(-0.2 - 1.5 / 5)
    assert one['gain']['40'] == pytest.approx(-1.7)
    assert one['targets'] == {'less_compute': False, 'equal_compute': False}
    assert variants['san_sandwich2']['status'].startswith('NOT bracketed: best at the highest rate')
    longer = summary['equal_compute']['san_sandwich1']['0.1']
    assert longer['compute'] == pytest.approx(0.6 * 24 / 15) and longer['mean_gain'] == pytest.approx(0.5)
    assert longer['targets'] == {'less_compute': False, 'equal_compute': True}
    md = out.with_suffix('.md').read_text()
    assert "less-compute target missed" in md and '## (b) The same training compute' in md


def test_a_sandwich_within_the_tolerances_meets_the_less_compute_target(tmp_path):
    root = tmp_path / 'runs'
    for lr, level in ((0.05, 74.0), (0.1, 76.0), (0.2, 75.0)):
        write_run(root, lr, 'san', level)
        write_run(root, lr, 'san_sandwich1', level - 0.4)
    cost = tmp_path / 'cost.json'
    cost.write_text(json.dumps(COST))
    sampling_report.main(['--root', str(root), '--cost', str(cost), '--out', str(tmp_path / 'r')])
    entry = json.loads((tmp_path / 'r.json').read_text())['variants']['san_sandwich1']
    assert entry['targets'] == {'less_compute': True, 'equal_compute': False}
