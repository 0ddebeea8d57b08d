"""The sampled-step cost benchmark: step GFLOPs and step times of 'all' and 'sandwich' in one run."""
import json

import pytest

pytest.importorskip('mmpretrain')


def test_sampling_cost_measures_every_variant_and_the_flops_add_up(tmp_path):
    import torch
    from benchmarks.imagenette import sampling_cost
    threads = torch.get_num_threads()
    try:
        sampling_cost.main(['--out', str(tmp_path / 'cost'), '--batch-size', '2', '--rounds', '1', '--width', '0.125'])
    finally:
        torch.set_num_threads(threads)
    result = json.loads((tmp_path / 'cost.json').read_text())
    rows = result['rows']
    assert list(rows) == ['all', 'sandwich1', 'sandwich2']
    per_size = result['resolution_gflops']
    assert sum(per_size.values()) == pytest.approx(result['all_step_gflops_counted'], rel=0.02)
    # 64 and 32 px always, each middle size with probability n / 3
    middle = (per_size['56'] + per_size['48'] + per_size['40']) / 3
    for name, n in (('sandwich1', 1), ('sandwich2', 2)):
        expected = per_size['64'] + per_size['32'] + n * middle
        assert rows[name]['step_gflops'] == pytest.approx(expected)
        assert rows[name]['ratio_gflops'] == pytest.approx(expected / rows['all']['step_gflops'])
    assert rows['sandwich1']['ratio_gflops'] < rows['sandwich2']['ratio_gflops'] < 1.0 == rows['all']['ratio_gflops']
    assert all(row['step_cpu_s'] > 0 for row in rows.values())
    assert '| sandwich1 |' in (tmp_path / 'cost.md').read_text()
