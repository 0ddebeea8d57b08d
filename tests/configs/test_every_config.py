"""Every config under configs/ (not _base_/), found by glob: one statement of its training sizes,
a model that builds reading no file, and one epoch of training and a validation pass with that one
statement overridden.

Each config trains one epoch and runs one validation pass on a generated tiny dataset in the
layout its dataset type reads (MMPretrain's ``ImageNet`` layout with ImageNet-size JPEGs for
the ImageNet configs, the class-folder layout for Imagenette and the demo), through the
same config loading and runner as ``tools/train.py``. Besides batch sizes, workers, epochs,
data roots and the work dir, one ``--cfg-options`` key is overridden, as a user would: a SAN's
``model.san.resolutions`` (to two sizes) or a baseline's ``train_resolution``. The losses, the
validation metrics and the test crop must then follow it; the model, the pipelines and every
other setting are the config's. A config added later is covered without editing this file.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader

from image_layouts import write_image_folder, write_imagenet
from smoke_options import pretrained_stub_options, smoke_options

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
SAN_SIZES = [48, 32]  # the override of a SAN's list: two sizes, none of them shipped
SANDWICH_MIDDLE = [44, 40, 36]  # the sizes a sampled SAN's override adds between those two
BASELINE_SIZE = 40  # the override of a baseline's training size
pytestmark = pytest.mark.slow


def config_id(path: Path) -> str:
    return path.relative_to(REPO / 'configs').as_posix()


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('layouts')
    return {'ImageNet': write_imagenet(root / 'imagenet'),
            'folder': write_image_folder(root / 'folder', sizes=((96, 80), (72, 96)), grayscale_first=True)}


def layout_of(cfg) -> str:
    return 'ImageNet' if cfg.train_dataloader.dataset.type == 'ImageNet' else 'folder'


def override_of(cfg) -> dict:
    """The one ``--cfg-options`` key that changes the config's training sizes (a sampled SAN gets the
    middle sizes its draw needs)."""
    if cfg.model.get('san') is None:
        return {'train_resolution': BASELINE_SIZE}
    extra = (cfg.model.san.get('sampling') or {}).get('num_random', 0)
    return {'model.san.resolutions': [SAN_SIZES[0], *SANDWICH_MIDDLE[:extra], SAN_SIZES[1]]}


@contextmanager
def no_file_reads():
    """Any checkpoint read (a path, a URL, ``torch.load``) fails the test inside this context."""
    def refuse(*args, **kwargs):
        raise AssertionError(f'a checkpoint was read while building the model: {args}')

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CheckpointLoader, 'load_checkpoint', classmethod(refuse))
        patch.setattr(torch, 'load', refuse)
        yield


def test_configs_are_found():
    names = {config_id(p) for p in CONFIGS}
    assert {'san_resnet50_imagenet.py', 'san_resnet18_imagenet.py', 'san_mobilenetv2_imagenet.py',
            'san_timm_resnet50_imagenet.py', 'demo/san_resnet18_demo.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_states_its_sizes_once_and_its_model_builds_reading_no_file(path: Path, tmp_path, monkeypatch):
    """As shipped: the derived settings agree with the statement, and MODELS.build(cfg.model) reads nothing
    (a fine-tune config's pretrained checkpoint is absent here: relative paths resolve in an empty folder)."""
    from mmpretrain.registry import MODELS
    from san_plugin.mm.model_from_config import model_config
    from san_plugin.mm.resolutions import apply_training_sizes, training_sizes

    cfg = Config.fromfile(str(path))
    found = training_sizes(cfg)
    assert found is not None, f'{config_id(path)} states neither model.san.resolutions nor train_resolution'
    sizes, source = found
    apply_training_sizes(cfg)  # raises if a second statement disagrees
    monkeypatch.chdir(tmp_path)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    with no_file_reads():
        model = MODELS.build(model_config(cfg))
    if source == 'model.san.resolutions':
        assert model.resolutions == model.head.resolutions == sizes
        if getattr(model.data_preprocessor, 'resize_on_device', False):
            assert model.data_preprocessor.resolutions == sizes


def view_sizes(runner, loader: str) -> list[int]:
    """The sizes of one sample's views as the (derived) ``loader`` of the runner's config makes them."""
    from mmengine.runner import Runner
    cfg = runner.cfg[loader]
    inputs = Runner.build_dataloader(dict(cfg, persistent_workers=False)).dataset[0]['inputs']
    return [int(view.shape[-1]) for view in inputs] if isinstance(inputs, list) else [int(inputs.shape[-1])]


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_with_its_sizes_overridden_trains_one_epoch_validates_and_tests_at_them(path: Path, data_roots,
                                                                                       tmp_path):
    from san_plugin.mm.cli.config import load_config
    from san_plugin.mm.runner import build_runner

    shipped = Config.fromfile(str(path))
    cfg = load_config(str(path), override_of(shipped))
    cfg.merge_from_dict({**smoke_options(cfg, data_roots[layout_of(cfg)]), **pretrained_stub_options(cfg, tmp_path),
                         'work_dir': str(tmp_path / 'work')})
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        with no_file_reads():
            runner = build_runner(cfg)  # builds the model: no checkpoint may be read yet
        runner.train()
        scalars = runner.message_hub.log_scalars
        losses = [v for k, v in scalars.items() if k.startswith('train/loss')]
        assert losses and all(math.isfinite(buffer.current()) for buffer in losses)
        if shipped.model.get('san') is not None:
            sizes = override_of(shipped)['model.san.resolutions']  # a sampled SAN's draw covers them all here
            assert {k for k in scalars if k.startswith('train/loss_ce_')} == {f'train/loss_ce_{s}' for s in sizes}
            assert {k for k in scalars if k.startswith('val/accuracy/top1_')} == {
                f'val/accuracy/top1_{s}' for s in sizes} | {'val/accuracy/top1_mean'}
            test_steps = runner.cfg.test_dataloader.dataset.pipeline
            multi_view = any(step['type'] == 'MultiResolutionTest' for step in test_steps)
            assert view_sizes(runner, 'test_dataloader') == (sizes if multi_view else sizes[:1])
        else:
            assert 'val/accuracy/top1' in scalars
            assert view_sizes(runner, 'train_dataloader') == view_sizes(runner, 'test_dataloader') == [BASELINE_SIZE]
    assert list((tmp_path / 'work').glob('*.pth')), 'no checkpoint written'
