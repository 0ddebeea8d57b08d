"""Every config under configs/ (not _base_/), found by glob, loads, builds, trains and validates.

Each one trains one epoch and runs one validation pass on a generated tiny dataset in the
layout its dataset type reads (MMPretrain's ``ImageNet`` layout with ImageNet-size JPEGs for
the ImageNet configs, the class-folder layout for Imagenette and the demo), through the
same config loading and runner as ``tools/train.py``. Only batch sizes, workers, epochs,
data roots and the work dir are overridden, as ``--cfg-options`` would; never the
resolutions, the model or the pipelines. A config added later is covered without editing
this file.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from mmengine.registry import DefaultScope

from image_layouts import write_image_folder, write_imagenet
from smoke_options import pretrained_stub_options, smoke_options

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('layouts')
    return {'ImageNet': write_imagenet(root / 'imagenet'),
            'folder': write_image_folder(root / 'folder', sizes=((96, 80), (72, 96)), grayscale_first=True)}


def layout_of(cfg) -> str:
    return 'ImageNet' if cfg.train_dataloader.dataset.type == 'ImageNet' else 'folder'


def test_configs_are_found():
    names = {p.relative_to(REPO / 'configs').as_posix() for p in CONFIGS}
    assert {'san_resnet50_imagenet.py', 'san_resnet18_imagenet.py', 'san_mobilenetv2_imagenet.py',
            'san_timm_resnet50_imagenet.py', 'demo/san_resnet18_demo.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.relative_to(REPO / 'configs').as_posix())
def test_config_trains_one_epoch_and_validates(path: Path, data_roots, tmp_path):
    from mmengine.config import Config
    from san_plugin.mm.cli.config import load_config
    from san_plugin.mm.runner import build_runner

    layout = layout_of(Config.fromfile(str(path)))
    cfg = load_config(str(path))
    cfg.merge_from_dict({**smoke_options(cfg, data_roots[layout]), **pretrained_stub_options(cfg, tmp_path),
                         'work_dir': str(tmp_path / 'work')})
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        runner = build_runner(cfg)
        runner.train()
    scalars = runner.message_hub.log_scalars
    losses = [v for k, v in scalars.items() if k.startswith('train/loss')]
    assert losses and all(math.isfinite(buffer.current()) for buffer in losses)
    san = cfg.model.get('san')
    if san is not None:
        resolutions = sorted(san.resolutions, reverse=True)
        assert {f'train/loss_ce_{s}' for s in resolutions} <= set(scalars)
        assert {f'val/accuracy/top1_{s}' for s in resolutions} | {'val/accuracy/top1_mean'} <= set(scalars)
    else:
        assert 'val/accuracy/top1' in scalars
    assert list((tmp_path / 'work').glob('*.pth')), 'no checkpoint written'
