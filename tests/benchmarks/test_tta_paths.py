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
