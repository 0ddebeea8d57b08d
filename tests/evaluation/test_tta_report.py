"""Multi-resolution entries of a sweep: stored (JSON version 2, version 1 still read), compared with
the single-resolution cells of the same curve, and reported (Markdown table, CSV, trade-off stars)."""
from __future__ import annotations

import csv
import json

import pytest

from san_plugin.evaluation import (Cost, SweepResult, SweepRow, TTAEntry, compare_tta, tta_views,
                                   write_sweep_report)
from san_plugin.evaluation.sweep_report import markdown, tradeoff_series

TESTS = (80, 64, 56, 48, 32)
GFLOPS = {80: 0.20, 64: 0.13, 56: 0.10, 48: 0.07, 32: 0.03}
PROXY_TOP1 = {80: 70.0, 64: 74.0, 56: 73.0, 48: 71.0, 32: 60.0}


def make_result(costs: bool = True) -> SweepResult:
    rows = [SweepRow.san(64, {t: PROXY_TOP1[t] if t >= 56 else PROXY_TOP1[t] - 5 for t in TESTS}),
            SweepRow.san(48, {t: PROXY_TOP1[t] if t < 56 else PROXY_TOP1[t] - 5 for t in TESTS}),
            SweepRow.baseline(64, {t: PROXY_TOP1[t] - 2 for t in TESTS})]
    cost_table = {t: Cost(gflops=g, params=10, latency_ms=10 * g) for t, g in GFLOPS.items()} if costs else {}

    def summed(*sizes: int) -> Cost:
        return Cost.total(cost_table[s] for s in sizes) if costs else Cost()

    tta = [TTAEntry('proxy', (48, 64), (75.5, 93.0), summed(64, 48)),   # beats 64 (0.13) within 0.20
           TTAEntry('proxy', (56, 48), (72.5, 91.0), summed(56, 48)),   # 0.17 GFLOPs: 64 is cheaper and better
           TTAEntry('baseline 64', (64, 48), (73.0, None), summed(64, 48))]
    return SweepResult(training_resolutions=(64, 48), rows=rows, costs=cost_table, tta=tta, title='toy')


def test_entries_keep_their_views_largest_first_and_refuse_bad_combinations():
    entry = TTAEntry('proxy', (48, 64), (75.5, 93.0))
    assert entry.resolutions == (64, 48) and entry.views == '64+48'
    for bad in ([64], [64, 64], [64, 0], [64.0, 48]):
        with pytest.raises(ValueError, match=r'two or more distinct positive integer sizes, got \['):
            tta_views(bad)
    with pytest.raises(ValueError, match="source 'baseline 32', which is not a curve of this sweep"):
        SweepResult((64, 48), [SweepRow.san(64, {64: 1.0})], tta=[TTAEntry('baseline 32', (64, 48), 1.0)])
    with pytest.raises(ValueError, match="'64\\+48' of 'proxy' appears twice"):
        SweepResult((64, 48), [SweepRow.san(64, {64: 1.0})],
                    tta=[TTAEntry('proxy', (64, 48), 1.0), TTAEntry('proxy', (48, 64), 2.0)])


def test_summed_cost():
    assert Cost.total([Cost(gflops=0.1, latency_ms=1.0, params=5), Cost(gflops=0.2, latency_ms=2.0)]) == \
        Cost(gflops=pytest.approx(0.3), latency_ms=pytest.approx(3.0))
    assert Cost.total([Cost(gflops=0.1), Cost()]) == Cost()  # one unknown view: unknown sum


def test_json_version_2_round_trips_and_version_1_still_loads():
    result = make_result()
    data = json.loads(json.dumps(result.to_dict()))
    assert data['version'] == 2 and len(data['tta']) == 3
    assert data['tta'][0] == {'source': 'proxy', 'resolutions': [64, 48], 'top1': 75.5, 'top5': 93.0,
                              'cost': {'gflops': pytest.approx(0.2), 'params': None, 'latency_ms': pytest.approx(2.0)}}
    assert SweepResult.from_dict(data).to_dict() == data

    old = {k: v for k, v in data.items() if k != 'tta'} | {'version': 1}
    loaded = SweepResult.from_dict(old)
    assert loaded.tta == [] and loaded.rows == result.rows
    with pytest.raises(ValueError, match='version 3 is not readable here'):
        SweepResult.from_dict(data | {'version': 3})


def test_an_entry_is_compared_with_the_same_curve_at_no_more_gflops():
    result = make_result()
    pays, costly, baseline = (compare_tta(result, e) for e in result.tta)
    assert (pays.best_within.resolution, pays.at_largest.resolution) == (64, 64)
    assert pays.gain_over_best_within == pytest.approx(1.5) and pays.gain_over_largest == pytest.approx(1.5)
    assert costly.best_within.resolution == 64 and costly.gain_over_best_within == pytest.approx(-1.5)
    assert costly.at_largest.resolution == 56 and costly.gain_over_largest == pytest.approx(-0.5)
    assert baseline.best_within.accuracy.top1 == 72.0 and baseline.gain_over_largest == pytest.approx(1.0)

    unknown = compare_tta(make_result(costs=False), make_result(costs=False).tta[0])
    assert unknown.best_within is None and unknown.at_largest.accuracy.top1 == 74.0


def test_report_holds_the_table_a_csv_and_stars_on_the_tradeoff(tmp_path):
    result = make_result()
    paths = write_sweep_report(result, tmp_path / 'toy')
    assert set(paths) == {'md', 'csv', 'json', 'accuracy_png', 'tradeoff_png', 'tta_csv'}

    section = paths['md'].read_text().split('## Multi-resolution testing')[1]
    table = [line for line in section.splitlines() if line.startswith('| ')]
    assert table[0] == ('| model | views (px) | top-1 | top-5 | GFLOPs | latency (ms) | best single at <= GFLOPs '
                        '| gain | single at largest view | gain |')
    assert table[1:] == [
        '| SAN (proxy) | 64+48 | 75.50 | 93.00 | 0.200 | 2.00 | 74.00 @ 64 (0.130) | +1.50 | 74.00 @ 64 (0.130) | +1.50 |',
        '| SAN (proxy) | 56+48 | 72.50 | 91.00 | 0.170 | 1.70 | 74.00 @ 64 (0.130) | -1.50 | 73.00 @ 56 (0.100) | -0.50 |',
        '| baseline 64 | 64+48 | 73.00 |  | 0.200 | 2.00 | 72.00 @ 64 (0.130) | +1.00 | 72.00 @ 64 (0.130) | +1.00 |']

    with paths['tta_csv'].open() as handle:
        records = list(csv.DictReader(handle))
    assert [(r['model'], r['views'], float(r['top1']), r['best_single_resolution']) for r in records] == [
        ('SAN (proxy)', '64+48', 75.5, '64'), ('SAN (proxy)', '56+48', 72.5, '64'), ('baseline 64', '64+48', 73.0, '64')]
    assert float(records[1]['gflops']) == pytest.approx(0.17) and records[2]['top5'] == ''

    stars = tradeoff_series(result, 'gflops')['SAN (proxy), multi-resolution']
    assert [(views, top1) for _, top1, views in stars] == [('56+48', 72.5), ('64+48', 75.5)]


def test_a_sweep_without_entries_has_no_section():
    result = make_result()
    result.tta = []
    assert 'Multi-resolution' not in markdown(result)
