"""san_plugin.mm.model_from_config builds the model the way the Runner does."""
from __future__ import annotations

from pathlib import Path

import torch
from mmpretrain.registry import MODELS

from san_plugin.mm.cli.config import load_config
from san_plugin.mm.model_from_config import model_config, training_resolution

ROOT = Path(__file__).resolve().parents[2]


def test_model_config_carries_the_top_level_data_preprocessor():
    cfg = load_config(str(ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py'))
    model = MODELS.build(model_config(cfg))
    assert torch.allclose(model.data_preprocessor.mean.flatten(), torch.tensor([127.5] * 3))
    assert torch.allclose(model.data_preprocessor.std.flatten(), torch.tensor([64.0] * 3))
    assert model.data_preprocessor.to_rgb


def test_training_resolution_of_a_baseline_config():
    cfg = load_config(str(ROOT / 'configs' / 'baseline_resnet50_160_imagenet.py'))
    assert training_resolution(cfg) == 160
    assert MODELS.build(model_config(cfg)).data_preprocessor.std is not None
