"""benchmarks/imagenette/loss_scale.py: both architectures of the runner's protocol, one results file."""
import json
from pathlib import Path

import pytest

from image_layouts import write_image_folder

from benchmarks.imagenette import loss_scale


def test_loss_scale_benchmark_measures_both_architectures(tmp_path):
    data = write_image_folder(tmp_path / 'data', per_split={'train': 3, 'val': 1}, sizes=((72, 64),))
    out = tmp_path / 'results' / 'scale'
    loss_scale.main(['--data-root', str(data), '--width', '0.25', '--batches', '1', '--out', str(out)])
    results = json.loads(out.with_suffix('.json').read_text())
    assert [r['config'] for r in results] == ['resnet18 x0.25 SAN', 'mobilenetv2 x0.25 SAN']
    assert results[0]['resolutions'] == [64, 56, 48, 40, 32]
    assert 'depthwise' in results[1]['grad_ratio']['sum'] and 'depthwise' not in results[0]['grad_ratio']['sum']
    for r in results:  # the summed loss of 5 resolutions: several times a single model's, the mean ~1/5 of it
        assert r['grad_ratio']['sum']['fc'] > 2 * r['grad_ratio']['mean']['fc']
        assert r['curvature_ratio']['sum'] > r['curvature_ratio']['mean']
    md = out.with_suffix('.md').read_text()
    assert md.startswith('# Loss scale at initialisation') and '| mobilenetv2 x0.25 SAN | mean |' in md


def test_the_report_is_written_again_from_its_json_alone(tmp_path):
    committed = Path(loss_scale.__file__).resolve().parents[1] / 'results' / 'imagenette_loss_scale'
    loss_scale.main(['--from', str(committed.with_suffix('.json')), '--out', str(tmp_path / 'scale')])
    assert (tmp_path / 'scale.md').read_text() == committed.with_suffix('.md').read_text()
    (tmp_path / 'other.json').write_text('{"rows": []}')
    with pytest.raises(SystemExit, match=r'other\.json: not a results json written by loss_scale\.py \(no rows\)'):
        loss_scale.main(['--from', str(tmp_path / 'other.json'), '--out', str(tmp_path / 'x')])
