"""Resolution-sweep reports: consistent tables, marked proxy cells, real plots; operating points."""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from san_plugin.core import nearest_resolution
from san_plugin.evaluation import (Cost, NoOperatingPointError, SweepResult, SweepRow, pick_operating_point,
                             write_sweep_report)
from san_plugin.evaluation.sweep_report import markdown

TRAINING = (64, 48, 32)
TESTS = (80, 64, 56, 48, 40, 32, 24)


def make_result(costs: bool = True) -> SweepResult:
    def accuracy(train: int, test: int, peak: float) -> float:
        return round(peak - 0.004 * (test - train) ** 2 + 0.05 * test, 3)

    rows = [SweepRow.san(s, {t: (accuracy(s, t, 70.0), accuracy(s, t, 90.0)) for t in TESTS}) for s in TRAINING]
    rows.append(SweepRow.ideal({t: max(accuracy(s, t, 70.5) for s in TRAINING) for t in TESTS},
                               label='SAN ideal (calibrated)'))
    rows += [SweepRow.baseline(s, {t: accuracy(s, t, 68.0) for t in TESTS}) for s in TRAINING]
    cost_table = {t: Cost(gflops=t * t / 1e3, params=1_000_000, latency_ms=0.05 * t * t / 100) for t in TESTS}
    return SweepResult(training_resolutions=TRAINING, rows=rows, costs=cost_table if costs else {},
                       title='toy sweep', meta={'dataset': 'synthetic'})


def test_sweep_writes_consistent_tables_and_plots(tmp_path):
    result = make_result()
    paths = write_sweep_report(result, tmp_path / 'out' / 'toy')
    assert set(paths) == {'md', 'csv', 'json', 'accuracy_png', 'tradeoff_png'}
    assert all(p.is_file() for p in paths.values())

    data = json.loads(paths['json'].read_text())
    assert SweepResult.from_dict(data).to_dict() == data == result.to_dict()
    cells = {(r['label'], int(t)): c for r in data['rows'] for t, c in r['cells'].items()}
    assert len(cells) == len(result.rows) * len(TESTS)

    # CSV: one record per cell, the same numbers and proxy flags as the JSON
    with paths['csv'].open() as handle:
        records = list(csv.DictReader(handle))
    assert len(records) == len(cells)
    for record in records:
        cell = cells[(record['label'], int(record['test_resolution']))]
        assert float(record['top1']) == cell['top1']
        assert (record['top5'] == '') == (cell['top5'] is None)
        assert record['proxy'] == str(int(cell['proxy']))
        assert float(record['gflops']) == data['costs'][record['test_resolution']]['gflops']
    # exactly one proxy cell per test resolution: the SAN row S(T)
    proxy = [(r['label'], int(r['test_resolution'])) for r in records if r['proxy'] == '1']
    assert sorted(t for _, t in proxy) == sorted(TESTS)
    assert all(label == f'SAN BN@{nearest_resolution(t, TRAINING)}' for label, t in proxy)

    # Markdown: the top-1 matrix holds the same cells (two decimals), proxy cells in bold
    md = paths['md'].read_text()
    top1 = md.split('## Top-1 accuracy (%)')[1].split('##')[0]
    lines = [line for line in top1.splitlines() if line.startswith('| ') and not line.startswith('| row')]
    header = [c.strip() for c in top1.splitlines()[2].strip('|').split('|')]
    assert header[3:] == [str(t) for t in TESTS]
    assert len(lines) == len(result.rows)
    bold = 0
    for line in lines:
        fields = [c.strip() for c in line.strip('|').split('|')]
        label = fields[0]
        for t, text in zip(TESTS, fields[3:]):
            plain = text.strip('*')
            assert plain == f'{cells[(label, t)]["top1"]:.2f}'
            assert text.startswith('**') == cells[(label, t)]['proxy']
            bold += text.startswith('**')
    assert bold == len(TESTS)
    assert '## Top-5 accuracy (%)' in md and '## Cost per test resolution' in md

    for key in ('accuracy_png', 'tradeoff_png'):
        with Image.open(paths[key]) as image:
            assert image.width > 400 and image.height > 300
            pixels = np.asarray(image.convert('RGB'))
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # curves, text and colours, not a blank canvas


def test_tradeoff_plot_needs_costs(tmp_path):
    paths = write_sweep_report(make_result(costs=False), tmp_path / 'nocost')
    assert 'tradeoff_png' not in paths and not (tmp_path / 'nocost_tradeoff.png').exists()
    assert paths['accuracy_png'].is_file()


def test_result_validation():
    with pytest.raises(ValueError, match='unique'):
        SweepResult(TRAINING, [SweepRow.san(64, {64: 1.0}), SweepRow.san(64, {64: 2.0})])
    with pytest.raises(ValueError, match='not one of the training resolutions'):
        SweepResult(TRAINING, [SweepRow.san(40, {40: 1.0})])
    with pytest.raises(ValueError, match='kind'):
        SweepRow('x', 'teacher', 64, {})


def test_pick_operating_point():
    result = make_result()
    proxy = result.proxy_curve()
    best = max(proxy, key=lambda t: proxy[t].top1)
    assert pick_operating_point(result) == best
    budget = result.costs[48].latency_ms
    chosen = pick_operating_point(result, budget_ms=budget)
    allowed = [t for t in TESTS if result.costs[t].latency_ms <= budget]
    assert chosen in allowed and proxy[chosen].top1 == max(proxy[t].top1 for t in allowed)
    assert pick_operating_point(result, budget_gflops=result.costs[32].gflops) in (32, 24)
    assert pick_operating_point(result, budget_ms=budget, budget_gflops=result.costs[24].gflops) == 24
    ideal = result.row('SAN ideal (calibrated)').cells
    assert pick_operating_point(result, source='SAN ideal (calibrated)') == max(ideal, key=lambda t: ideal[t].top1)
    with pytest.raises(NoOperatingPointError, match=re.escape('the cheapest is 24 px')):
        pick_operating_point(result, budget_ms=1e-6)
    with pytest.raises(NoOperatingPointError, match='no costs were measured'):
        pick_operating_point(make_result(costs=False), budget_gflops=1.0)


def test_sizes_off_the_grid_run_as_proxy_are_named_with_the_calibration_command():
    result = make_result()  # training 64/48/32; tests 80/56/40/24 lie off the grid
    text = markdown(result)
    assert 'Off the training grid: 80, 56, 40, 24 px ran as proxy inference' in text
    assert '`python tools/calibrate_bn.py CONFIG CHECKPOINT --resolutions 80 56 40 24`' in text
    result.meta.update(mode='ideal', calibrated=[56, 40])  # an ideal sweep: calibrated sizes ran their own branch
    assert 'Off the training grid: 80, 24 px ran as proxy' in markdown(result)
    result.meta['calibrated'] = [80, 56, 40, 24]
    assert 'Off the training grid' not in markdown(result)
    on_grid = SweepResult(training_resolutions=TRAINING, rows=[SweepRow.san(s, {t: 50.0 for t in TRAINING})
                                                                for s in TRAINING])
    assert 'Off the training grid' not in markdown(on_grid)
