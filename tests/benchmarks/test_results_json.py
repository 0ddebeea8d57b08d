"""A results json read back: integer keys restored, a file that is not one refused naming it."""
import json

import pytest

from benchmarks.results_json import read_results


def test_sizes_come_back_as_ints(tmp_path):
    path = tmp_path / 'r.json'
    path.write_text(json.dumps({'gflops': {64: 0.08, 32: 0.02}, 'command': 'python x.py', 'sizes': [32, 64]}))
    data = read_results(path, 'x.py', required=('gflops',))
    assert data['gflops'] == {64: 0.08, 32: 0.02} and data['sizes'] == [32, 64]


def test_a_missing_file_or_key_is_refused_naming_it(tmp_path):
    with pytest.raises(SystemExit, match=r'nothing\.json: not a results json written by x\.py'):
        read_results(tmp_path / 'nothing.json', 'x.py')
    (tmp_path / 'r.json').write_text('{"a": 1}')
    with pytest.raises(SystemExit, match=r"r\.json: not a results json written by x\.py \(no 'gflops'\)"):
        read_results(tmp_path / 'r.json', 'x.py', required=('gflops',))
