"""The evaluation resize of a config: rounding of S / crop_ratio and interpolation, also for --resolution."""
from __future__ import annotations

import pytest
from mmengine.config import Config

from san_plugin.mm.eval_pipeline import set_model_resolution
from san_plugin.mm.transforms import MultiResolutionTest, eval_resize_steps


@pytest.mark.parametrize('size, rounded, floored', [(224, 256, 256), (192, 219, 219), (160, 183, 182), (96, 110, 109),
                                                    (208, 238, 237)])
def test_the_short_side_is_rounded_or_floored_as_asked(size, rounded, floored):
    assert eval_resize_steps(size)[0]['scale'] == rounded
    assert eval_resize_steps(size, rounding='floor')[0]['scale'] == floored  # torchvision Resize(int(S / 0.875))
    with pytest.raises(ValueError, match="rounding must be one of \\('round', 'floor'\\), got 'ceil'"):
        eval_resize_steps(size, rounding='ceil')


def test_test_resolution_rewrite_uses_the_config_eval_resize():
    pipeline = [dict(type='LoadImageFromFile'), dict(type='ResizeEdge', scale=256, edge='short'),
                dict(type='CenterCrop', crop_size=224), dict(type='PackInputs')]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(pipeline=pipeline)),
                      eval_resize=dict(interpolation='bilinear', rounding='floor')))
    set_model_resolution(cfg, 160, 0.875)
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert (resize['scale'], resize['interpolation']) == (182, 'bilinear')
    plain = Config(dict(test_dataloader=dict(dataset=dict(pipeline=pipeline))))
    set_model_resolution(plain, 160, 0.875)
    assert plain.test_dataloader.dataset.pipeline[1]['scale'] == 183


def test_the_validation_views_use_the_same_options():
    views = MultiResolutionTest([160, 96], interpolation='bilinear', rounding='floor')
    assert [step.transforms[0].scale for step in views.steps.values()] == [182, 109]
