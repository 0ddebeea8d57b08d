"""tools/export.py --bundle (the deployment page's command): one baked artefact per resolution and a
manifest, each artefact giving the SAN's outputs at its size."""
from __future__ import annotations

import json

import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from san_plugin.mm.cli.config import load_config
from san_plugin.mm.model_from_config import model_config
from san_tools_helpers import run_tool, write_config
from tiny_models import randomise_san_


def test_bundle_exports_one_torchscript_per_resolution_with_the_sans_outputs(image_folder, tmp_path):
    config = write_config(tmp_path / 'config.py', image_folder, resolutions=(32, 24))
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(model_config(load_config(str(config)))).eval()
    randomise_san_(model.backbone, w_std=0.3)  # every resolution different
    checkpoint = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    out = tmp_path / 'bundle'
    result = run_tool('export.py', str(config), str(checkpoint), '--bundle', '32', '24', '--format', 'torchscript',
                      '--out', str(out))
    output = result.stdout + result.stderr
    assert ' - torch.Size([' not in output and 'init_weights' not in output  # no initialisation log
    assert 'MultiScaleDeformableAttention' not in output  # mmcv-lite's import warning
    manifest = json.loads((out / 'manifest.json').read_text())
    assert [e['resolution'] for e in manifest['entries']] == [32, 24]
    assert manifest['san']['resolutions'] == [32, 24]
    for entry in manifest['entries']:
        baked = torch.jit.load(str(out / entry['file']))
        x = torch.randn(2, 3, entry['resolution'], entry['resolution'])
        with torch.no_grad():
            torch.testing.assert_close(baked(x), model(x, mode='tensor'), rtol=1e-4, atol=1e-4)
