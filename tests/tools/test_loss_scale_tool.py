"""tools/loss_scale.py: a SAN config's gradient and curvature against its single-resolution model."""
from __future__ import annotations

import json

import pytest

from san_tools_helpers import REPO, run_tool, write_config


def test_loss_scale_measures_both_loss_forms_against_the_single_model(image_folder, tmp_path):
    config = write_config(tmp_path / 'san.py', image_folder, resolutions=(32, 24, 16), batch_size=8)
    out = tmp_path / 'scale'
    result = run_tool('loss_scale.py', str(config), '--batches', '2', '--out', str(out))
    [measured] = json.loads(out.with_suffix('.json').read_text())
    assert measured['resolutions'] == [32, 24, 16] and measured['batches'] == 2
    assert {'dense', '1x1', 'fc'} <= set(measured['grad_ratio']['sum'])
    for kind, summed in measured['grad_ratio']['sum'].items():
        # at initialisation the distillation terms are ~0: the mean form is the sum / k
        assert measured['grad_ratio']['mean'][kind] == pytest.approx(summed / 3, rel=0.05), kind
    assert measured['curvature']['single'] > 0
    assert measured['curvature']['sum'] > measured['curvature']['mean'] > 0
    assert '| mean |' in result.stdout and out.with_suffix('.md').read_text() in result.stdout


def test_loss_scale_refuses_a_plain_config(image_folder, tmp_path):
    result = run_tool('loss_scale.py', str(REPO / 'configs/imagenette/baseline_resnet18_imagenette_64.py'), check=False)
    assert result.returncode != 0 and 'builds a plain model' in result.stderr
