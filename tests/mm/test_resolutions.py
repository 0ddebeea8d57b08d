"""One statement of the training sizes per config: everything else derived, disagreements refused naming both."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmpretrain.registry import MODELS

import san_plugin.mm  # noqa: F401  (registers the SAN components and the SANRunner config step)
from san_plugin.mm.runner import SANRunner
from san_plugin.mm.resolutions import ConflictingResolutionsError, apply_training_sizes, training_sizes

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
R50 = CONFIGS / 'san_resnet50_imagenet.py'
IMAGENETTE_SAN = CONFIGS / 'imagenette' / 'san_resnet18_imagenette.py'
OFFICIAL_BASELINE = CONFIGS / 'official' / 'baseline_resnet50_official.py'


def derived(path: Path, **options) -> Config:
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict(options)  # as --cfg-options
    apply_training_sizes(cfg)
    return cfg


def steps(cfg: Config, loader: str) -> dict[str, dict]:
    return {step['type']: step for step in cfg[loader].dataset.pipeline}


def test_one_key_reaches_the_transforms_and_the_test_crop():
    cfg = derived(R50, **{'model.san.resolutions': [128, 160]})
    assert training_sizes(cfg) == ((160, 128), 'model.san.resolutions')
    assert steps(cfg, 'train_dataloader')['MultiResolution'].resolutions == [160, 128]
    assert steps(cfg, 'val_dataloader')['MultiResolutionTest'].resolutions == [160, 128]
    test = steps(cfg, 'test_dataloader')
    assert (test['ResizeEdge'].scale, test['CenterCrop'].crop_size) == (183, 160)  # round(160 / 0.875)
    assert 'resolutions' not in cfg  # no second statement appears


def test_a_baseline_states_its_size_once_and_the_test_resize_follows_eval_resize():
    cfg = derived(OFFICIAL_BASELINE, train_resolution=160)
    assert steps(cfg, 'train_dataloader')['RandomResizedCrop'].scale == 160
    for loader in ('val_dataloader', 'test_dataloader'):
        crop = steps(cfg, loader)
        assert (crop['ResizeEdge'].scale, crop['CenterCrop'].crop_size) == (182, 160)  # official: int(160 / 0.875)


def test_a_stated_test_crop_is_a_test_choice_and_stays():
    cfg = Config.fromfile(str(R50))
    cfg.test_dataloader.dataset.pipeline[1].scale = 300
    cfg.test_dataloader.dataset.pipeline[2].crop_size = 256
    apply_training_sizes(cfg)
    assert (cfg.test_dataloader.dataset.pipeline[1].scale, cfg.test_dataloader.dataset.pipeline[2].crop_size) == (300,
                                                                                                                  256)


@pytest.mark.parametrize('path, options, stated', [
    (R50, {'resolutions': [160, 128]}, 'resolutions (top level) = [160, 128]'),
    (IMAGENETTE_SAN, {'model.san.resolutions': [48, 32],
                      'train_dataloader.dataset.pipeline.1.resolutions': [64, 48, 32]},
     'train_dataloader.dataset.pipeline.1.resolutions = [64, 48, 32]'),
    (IMAGENETTE_SAN, {'val_dataloader.dataset.pipeline.1.resolutions': [64, 32]},
     'val_dataloader.dataset.pipeline.1.resolutions = [64, 32]'),
    (OFFICIAL_BASELINE, {'train_dataloader.dataset.pipeline.1.scale': 224, 'train_resolution': 160},
     'train_dataloader.dataset.pipeline.1.scale = 224'),
], ids=['top-level-variable', 'train-views', 'val-views', 'baseline-crop'])
def test_a_second_statement_that_disagrees_is_refused_at_startup_naming_both(path, options, stated):
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict(options)
    source = 'train_resolution = 160' if 'train_resolution' in options else 'model.san.resolutions = ['
    with pytest.raises(ConflictingResolutionsError) as error:
        SANRunner.from_cfg(cfg)  # what tools/train.py, tools/test.py and MMPretrain's tools build
    assert source in str(error.value) and stated in str(error.value)


def test_an_agreeing_second_statement_is_accepted():
    cfg = derived(IMAGENETTE_SAN, **{'val_dataloader.dataset.pipeline.1.resolutions': [32, 40, 48, 56, 64]})
    assert steps(cfg, 'val_dataloader')['MultiResolutionTest'].resolutions == [32, 40, 48, 56, 64]


def tiny_san(**head) -> dict:
    return dict(type='SANClassifier', backbone=dict(type='ResNet', depth=18, base_channels=8, stem_channels=8),
                san=dict(resolutions=[32, 24]), neck=dict(type='GlobalAveragePooling'),
                head=dict(type='SANClsHead', num_classes=2, in_channels=64, **head),
                data_preprocessor=dict(type='SANDataPreprocessor', resize_on_device=True))


def test_the_model_derives_the_head_and_the_preprocessor():
    model = MODELS.build(tiny_san())
    assert model.head.resolutions == model.data_preprocessor.resolutions == model.resolutions == (32, 24)


@pytest.mark.parametrize('where, name', [('head', 'model.head.resolutions'),
                                         ('data_preprocessor', 'data_preprocessor.resolutions')])
def test_the_model_refuses_a_head_or_preprocessor_list_that_disagrees_naming_both(where, name):
    cfg = tiny_san()
    cfg[where]['resolutions'] = [32, 16]
    with pytest.raises(ConflictingResolutionsError,
                       match=re.escape(f'model.san.resolutions = [32, 24] but {name} = [32, 16]')):
        MODELS.build(cfg)


def test_a_transform_without_resolutions_says_where_they_come_from():
    from mmpretrain.registry import TRANSFORMS
    with pytest.raises(ValueError, match=r"MultiResolution got no resolutions.*model.san.resolutions.*SANRunner"):
        TRANSFORMS.build(dict(type='MultiResolution'))


def test_views_the_test_loader_states_are_kept_as_a_test_choice():
    cfg = derived(IMAGENETTE_SAN, **{'test_dataloader.dataset.pipeline.1.resolutions': [64, 32]})
    assert steps(cfg, 'test_dataloader')['MultiResolutionTest'].resolutions == [64, 32]
    assert steps(cfg, 'val_dataloader')['MultiResolutionTest'].resolutions == [64, 56, 48, 40, 32]
