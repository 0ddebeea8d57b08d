"""benchmarks/tta_paths.py: mmpretrain's TestTimeAug and the plugin's MultiResolutionTTA give the
same scores on the demo SAN, and the report says so."""
from __future__ import annotations

import json

from benchmarks import tta_paths


def test_both_paths_give_equal_scores_and_a_report(tmp_path):
    result = tta_paths.main(['--tiny', '--images', '12', '--batch-size', '5', '--repeats', '1',
                             '--out', str(tmp_path / 'tta_paths')])
    assert result['images'] == 12 and result['sizes'] == [64, 48]
    assert result['max_abs_difference'] < 1e-6 and result['same_top1']
    assert json.loads((tmp_path / 'tta_paths.json').read_text())['plugin_speedup'] == result['plugin_speedup']
    md = (tmp_path / 'tta_paths.md').read_text()
    assert '| mmpretrain |' in md and '| san_plugin |' in md and 'same top-1 for every image: True' in md


def test_the_report_is_written_again_from_its_json_without_paths_or_the_note_twice(tmp_path):
    result = dict(model='san_run_config.py + /scratch/exp/mbv2/lr0.0125/san/epoch_15.pth', images=10, sizes=[64, 48],
                  threads=1, repeats=1, note='A note.', median_seconds={'mmpretrain': 2.0, 'san_plugin': 1.0},
                  seconds={'mmpretrain': [2.0], 'san_plugin': [1.0]}, plugin_speedup=2.0, max_abs_difference=0.0,
                  same_top1=True, top1=50.0,
                  command='python benchmarks/tta_paths.py --data-root /scratch/data/imagenette --note A note.')
    (tmp_path / 'r.json').write_text(json.dumps(result))
    tta_paths.main(['--from', str(tmp_path / 'r.json'), '--out', str(tmp_path / 'r')])
    md = (tmp_path / 'r.md').read_text()
    assert '(`python benchmarks/tta_paths.py --data-root data/imagenette`)' in md
    assert 'Model: san_run_config.py + WORK_DIR/san/epoch_15.pth;' in md and md.count('A note.') == 1
    assert '/scratch' not in md and json.loads((tmp_path / 'r.json').read_text()) == result
