"""A SAN from a trained plain model (issue 15): the fine-tune config builds and converts the model reading
no file; ``init_weights()`` loads the plain checkpoint strictly, mapped onto the converted backbone, and
the SAN starts with the plain model's outputs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import WEIGHT_INITIALIZERS
from mmpretrain.registry import MODELS

import san_plugin.mm  # noqa: F401
from san_plugin.core import find_controller
from smoke_options import pretrained_stub_options

REPO = Path(__file__).resolve().parents[2]
FINETUNE = REPO / 'configs' / 'imagenette' / 'san_resnet18_imagenette_finetune.py'
BASELINE = REPO / 'configs' / 'imagenette' / 'baseline_resnet18_imagenette_64.py'


def trained_baseline(path: Path, width: int = 16) -> torch.nn.Module:
    """A 'trained' plain ResNet-18 classifier: random weights, random BN statistics, zero-init off."""
    cfg = Config.fromfile(str(BASELINE))
    cfg.model.backbone.update(base_channels=width, stem_channels=width)
    cfg.model.head.in_channels = width * 8
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return model.eval()


def finetune_model(checkpoint: Path, width: int = 16, init_weights: bool = True) -> torch.nn.Module:
    cfg = Config.fromfile(str(FINETUNE))
    cfg.model.backbone.update(base_channels=width, stem_channels=width)
    cfg.model.head.in_channels = width * 8
    cfg.model.backbone.init_cfg.checkpoint = cfg.model.head.init_cfg.checkpoint = str(checkpoint)
    model = MODELS.build(cfg.model)
    if init_weights:
        model.init_weights()
    return model.eval()


def test_the_converted_model_starts_with_the_trained_models_outputs(tmp_path):
    plain = trained_baseline(tmp_path / 'baseline.pth')
    san = finetune_model(tmp_path / 'baseline.pth')
    assert find_controller(san).resolutions == (64, 56, 48, 40, 32)
    for size in (64, 56, 48, 40, 32, 80):
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(san(x, mode='tensor'), plain(x, mode='tensor'), rtol=1e-4, atol=1e-5)


def test_building_reads_nothing_and_init_weights_reads_the_checkpoint(tmp_path):
    san = finetune_model(tmp_path / 'absent.pth', init_weights=False)  # builds (and converts) without the file
    assert find_controller(san).resolutions == (64, 56, 48, 40, 32)
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        san.init_weights()


def test_a_checkpoint_that_does_not_fit_is_refused_naming_it(tmp_path):
    trained_baseline(tmp_path / 'narrow.pth', width=8)
    san = finetune_model(tmp_path / 'narrow.pth', width=16, init_weights=False)
    before = {k: v.clone() for k, v in san.backbone.state_dict().items() if isinstance(v, torch.Tensor)}
    with pytest.raises(ValueError, match=r"narrow.pth \(prefix 'backbone.'\) does not fit ResNet; nothing was loaded: "
                                         r"shape mismatch \(\d+\): \['conv1.weight: checkpoint \(8, 3, 7, 7\), "
                                         r"model \(16, 3, 7, 7\)'"):
        san.init_weights()
    for key, value in san.backbone.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, before[key]), key


def test_mmengines_lenient_pretrained_init_is_refused_on_a_san_backbone(tmp_path):
    cfg = Config.fromfile(str(FINETUNE))
    cfg.model.backbone.init_cfg.type = 'Pretrained'
    with pytest.raises(ValueError, match="init_cfg type 'Pretrained'.*use type='StrictPretrained'"):
        MODELS.build(cfg.model)


def test_config_smoke_helper_points_the_inits_at_a_plain_checkpoint(tmp_path):
    cfg = Config.fromfile(str(FINETUNE))
    options = pretrained_stub_options(cfg, tmp_path)
    assert set(options) == {'model.backbone.init_cfg.checkpoint', 'model.head.init_cfg.checkpoint'}
    assert Path(options['model.backbone.init_cfg.checkpoint']).is_file()
    assert 'StrictPretrained' in WEIGHT_INITIALIZERS.module_dict
