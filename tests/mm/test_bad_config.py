"""Bad SAN settings in configs: clear errors naming the value, the layer or its type."""
from __future__ import annotations

import re

import pytest
import torch
from mmpretrain.registry import MODELS, TRANSFORMS

import san_plugin.mm  # noqa: F401  (registers the SAN components)


def san_model(resolutions=(32, 24), head_resolutions=(32, 24), backbone: dict | None = None):
    backbone = backbone or dict(type='ResNet', depth=18, base_channels=8, stem_channels=8)
    return MODELS.build(dict(type='SANClassifier', backbone=backbone, san=dict(resolutions=list(resolutions)),
                             neck=dict(type='GlobalAveragePooling'),
                             head=dict(type='SANClsHead', num_classes=2, in_channels=64,
                                       resolutions=list(head_resolutions))))


@pytest.mark.parametrize('resolutions, message', [
    ([], 'is empty'), ([32, 32], 'duplicates: [32]'), ([32, 24.5], 'got 24.5 of type float'),
    ([32, 0], 'positive integers, got 0'), ([32, -24], 'positive integers, got -24')])
def test_bad_resolution_sets_in_configs_are_refused_naming_the_value(resolutions, message):
    """The same sets as in tests/core, through each registered component that takes one."""
    with pytest.raises(ValueError, match=re.escape(message)):
        san_model(resolutions=resolutions)  # the backbone's set (head valid)
    with pytest.raises(ValueError, match=re.escape(message)):
        san_model(head_resolutions=resolutions)
    for transform in ('MultiResolution', 'MultiResolutionTest'):
        with pytest.raises(ValueError, match=f'{transform} resolutions .*{re.escape(message)}'):
            TRANSFORMS.build(dict(type=transform, resolutions=resolutions))
    with pytest.raises(ValueError, match=re.escape(message)):
        MODELS.build(dict(type='SANDataPreprocessor', resize_on_device=True, resolutions=resolutions))



@pytest.mark.parametrize('san, error, message', [
    (dict(convs='both'), ValueError, "model.san.convs must be one of ('meta', 'shared'), got 'both'"),
    (dict(encoding='zscore'), ValueError, "model.san.encoding must be 'paper', 'standardized'"),
    (dict(exclude='conv1'), ValueError, 'model.san.exclude must be a list of layer-name patterns'),
    (dict(regenerate_kernels='no'), TypeError, "model.san.regenerate_kernels must be True or False, got 'no'"),
    (dict(meta_hiden=8), ValueError, "unknown san option(s) ['meta_hiden']; known: ['convs', 'encoding', 'exclude', "
                                     "'init', 'meta_hidden', 'mode', 'regenerate_kernels', 'resolutions', 'sampling']"),
])
def test_a_bad_san_setting_is_refused_naming_its_key(san, error, message):
    with pytest.raises(error, match=re.escape(message)):
        MODELS.build(dict(type='SANClassifier', backbone=dict(type='ResNet', depth=18, base_channels=8),
                          san=dict(resolutions=[32, 24], **san), neck=dict(type='GlobalAveragePooling'),
                          head=dict(type='SANClsHead', num_classes=2, in_channels=64)))

@MODELS.register_module(name='SANTestUnknownConv', force=True)
class UnknownConv(torch.nn.Conv2d):
    """A convolution type the converter has never been taught (it could compute anything)."""


@pytest.mark.parametrize('backbone, layer', [
    (dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, conv_cfg=dict(type='SANTestUnknownConv')),
     'conv1'),
    (dict(type='MobileNetV2', widen_factor=0.25, conv_cfg=dict(type='SANTestUnknownConv')), 'conv1.conv'),
])
def test_unconvertible_backbone_is_refused_naming_layer_and_type(backbone, layer):
    with pytest.raises(TypeError) as error:
        san_model(backbone=backbone)
    message = str(error.value)
    assert f'cannot convert backbone {backbone["type"]} to a SAN' in message
    assert f"layer '{layer}' is a {UnknownConv.__module__}.UnknownConv" in message
