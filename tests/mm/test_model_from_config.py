"""san_plugin.mm.model_from_config builds the model the way the Runner does."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from mmengine.logging import MMLogger
from mmpretrain.registry import MODELS

from san_plugin.core import SANMetadataError
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.model_from_config import build_from_config, build_model, model_config, training_resolution

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


TINY = {'model.backbone.base_channels': 8, 'model.backbone.stem_channels': 8, 'model.head.in_channels': 64,
        'model.san.resolutions': [32, 24]}


class Records(logging.Handler):
    """Collects the records of mmengine's current logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize('log_level,shown', [('INFO', False), ('DEBUG', True)])
def test_the_tools_model_builds_without_the_per_parameter_init_log_unless_asked(log_level, shown):
    cfg = load_config(str(ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py'), {**TINY, 'log_level': log_level})
    # a tool's logger: no log file (mmengine writes the lines straight into a file handler's stream otherwise)
    logger, records = MMLogger.get_instance(f'tool_without_log_file_{log_level}'), Records()
    logger.addHandler(records)
    try:
        build_from_config(cfg)
    finally:
        logger.removeHandler(records)
    # mmengine's lines: '\nconv1.weight - torch.Size([8, 3, 7, 7]): \nKaimingInit: ...', one per parameter
    init_lines = [r for r in records.records if r.levelno >= logging.INFO and ' - torch.Size([' in r.getMessage()]
    assert bool(init_lines) == shown  # about 60 for this narrow ResNet-18's backbone


def test_a_checkpoint_of_another_san_is_refused_naming_the_file_and_the_options_to_give(tmp_path):
    demo = str(ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py')
    checkpoint = tmp_path / 'epoch_6.pth'
    torch.save({'state_dict': build_from_config(load_config(demo, TINY)).state_dict()}, checkpoint)
    other = load_config(demo, {**TINY, 'model.san.resolutions': [40, 24], 'model.san.encoding.factor': 0.2})
    with pytest.raises(SANMetadataError) as info:
        build_model(other, str(checkpoint))
    message = str(info.value)
    assert message.startswith(f'{checkpoint}: the checkpoint was made for a differently converted SAN; ')
    assert message.endswith('To build the SAN this checkpoint holds, give the config its settings: --cfg-options '
                            '"model.san.encoding.factor=0.1" "model.san.encoding.base=32.0" '
                            '"model.san.encoding.offset=0.0" "model.san.resolutions=[32,24]"')
