"""tools/test.py on a fine-tuned SAN reads its trained checkpoint only: the plain model it was
fine-tuned from (the config's ``StrictPretrained`` checkpoint) may be gone, as on an offline node."""
from __future__ import annotations

import re

import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from san_plugin.core import find_controller
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.model_from_config import model_config
from san_tools_helpers import REPO, run_tool
from smoke_options import as_cli, smoke_options

FINETUNE = REPO / 'configs' / 'imagenette' / 'san_resnet18_imagenette_finetune.py'
pytestmark = pytest.mark.slow


def test_a_finetuned_san_is_tested_without_the_checkpoint_it_started_from(image_folder, tmp_path):
    gone = tmp_path / 'baseline_64' / 'epoch_15.pth'  # the plain model's checkpoint: never written
    options = {'model.backbone.base_channels': 8, 'model.backbone.stem_channels': 8, 'model.head.in_channels': 64,
               'model.san.resolutions': '[32,24]', 'model.backbone.init_cfg.checkpoint': str(gone),
               'model.head.init_cfg.checkpoint': str(gone)}
    cfg = load_config(str(FINETUNE), {**options, 'model.san.resolutions': [32, 24]})
    options.update(smoke_options(cfg, image_folder))
    init_default_scope('mmpretrain')
    san = MODELS.build(model_config(cfg))  # the fine-tuned SAN, as training would have saved it
    assert find_controller(san).resolutions == (32, 24)
    with torch.no_grad():
        for param in san.parameters():
            param.normal_(0, 0.05)
    checkpoint = tmp_path / 'finetuned.pth'
    torch.save({'state_dict': san.state_dict(), 'meta': {}}, checkpoint)

    result = run_tool('test.py', str(FINETUNE), str(checkpoint), '--work-dir', str(tmp_path / 'test'), *as_cli(options))
    output = result.stdout + result.stderr
    for key in ('top1_32', 'top1_24', 'top1_mean'):  # the test pipeline follows the one overridden key
        assert re.search(rf'accuracy/{key}: [0-9.]+', output), output[-3000:]
    assert not gone.exists()  # so nothing read it: a read would have stopped the run (FileNotFoundError)
