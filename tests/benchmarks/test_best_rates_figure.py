"""The figure of the current comparison takes each model at the rate the sweep names as its best."""
import copy

import pytest

from benchmarks.imagenette import best_rates_figure as figure
from benchmarks.results_json import read_results

SWEEP = read_results(figure.SWEEP, 'lr_sweep.py')


def test_each_model_is_drawn_at_its_own_best_rate():
    rows = figure.best_rate_rows(SWEEP)
    assert list(rows) == ['san', 'san_sharedconv', 'baseline_64', 'baseline_56', 'baseline_48', 'baseline_40',
                          'baseline_32']
    assert {name: rows[name]['lr'] for name in rows} == {name: SWEEP['best_vs_best'][name]['lr'] for name in rows}
    assert rows['baseline_32']['row'][32] == SWEEP['best_vs_best']['baseline_32']['top1']
    assert figure.label('baseline_56', rows['baseline_56']) == 'baseline trained at 56 px, lr 0.2'


def test_a_best_rate_without_its_row_is_refused_naming_it():
    sweep = copy.deepcopy(SWEEP)
    sweep['best_vs_best']['baseline_40']['lr'] = 0.3
    with pytest.raises(SystemExit, match="the sweep's best rate of baseline_40, 0.3, has no row"):
        figure.best_rate_rows(sweep)


def test_the_figure_is_written(tmp_path):
    pytest.importorskip('matplotlib')
    assert figure.main(['--out', str(tmp_path / 'f.png')]).stat().st_size > 10_000
