"""Every SANSpec field reaches the built model through each entry point: ``convert``, timm's
``create_model('san_*', ...)`` and an MMPretrain config's ``san=dict(...)``.

The test walks ``dataclasses.fields(SANSpec)``: a field added later without a non-default value
here fails it. Each field is set alone to a value other than its default; the built model's
controller then holds that spec, and its checkpoint metadata records the value for every saved
field. ``init`` and ``mode`` are not saved by design (how the weights began, and a run-time
switch: a checkpoint loads whatever they are), so for them the test checks where they land:
the controller's spec and mode, and for ``init='scratch'`` kernels other than the default keeps.
"""
from __future__ import annotations

import dataclasses

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import san_plugin.mm  # noqa: F401  (registers SANClassifier)
from san_plugin.core import MetaConv2d, SANSpec, convert, get_controller
from san_plugin.core.spec import SAVED_FIELDS

#: a value other than the default for every field, valid for all three hosts (their stem conv is 'conv1')
NON_DEFAULT = {
    'resolutions': [64, 32],
    'encoding': {'factor': 0.2, 'base': 16.0, 'offset': 0.5},
    'meta_hidden': 1,
    'exclude': ['conv1'],
    'convs': 'shared',
    'init': 'scratch',
    'mode': 'ideal',
}
FIELDS = [field.name for field in dataclasses.fields(SANSpec)]


def by_convert(settings: dict) -> torch.nn.Module:
    model, _ = convert(timm.create_model('resnet18', num_classes=3), settings.pop('resolutions', SANSpec().resolutions),
                       **settings)
    return model


def by_timm(settings: dict) -> torch.nn.Module:
    return timm.create_model('san_resnet18', num_classes=3, **settings)


def by_mmpretrain_config(settings: dict) -> torch.nn.Module:
    cfg = Config(dict(model=dict(
        type='SANClassifier', san=settings,
        backbone=dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, out_indices=(3,)),
        neck=dict(type='GlobalAveragePooling'), head=dict(type='SANClsHead', num_classes=3, in_channels=64))))
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # whatever scope an earlier test left
        return MODELS.build(cfg.model).backbone


ENTRY_POINTS = {'convert': by_convert, 'timm.create_model': by_timm, 'MMPretrain config': by_mmpretrain_config}


def test_every_field_has_a_non_default_value_here():
    assert set(NON_DEFAULT) == set(FIELDS), 'give a new SANSpec field a non-default value in NON_DEFAULT'
    for name, value in NON_DEFAULT.items():
        assert getattr(SANSpec(**{name: value}), name) != getattr(SANSpec(), name), name


@pytest.mark.parametrize('entry', ENTRY_POINTS)
@pytest.mark.parametrize('field', FIELDS)
def test_a_field_set_at_an_entry_point_reaches_the_model(entry, field):
    torch.manual_seed(0)
    model = ENTRY_POINTS[entry]({field: NON_DEFAULT[field]})
    expected = SANSpec(**{field: NON_DEFAULT[field]})
    controller = get_controller(model)
    assert controller.spec == expected
    metadata = controller.metadata()
    if field in SAVED_FIELDS:
        assert metadata[field] == expected.to_metadata()[field] != SANSpec().to_metadata()[field]
        assert model.state_dict()['san._extra_state'] == metadata
    else:  # not saved: the metadata is the default spec's, the setting lands on the controller
        assert {k: metadata[k] for k in SAVED_FIELDS} == {k: v for k, v in SANSpec().to_metadata().items()
                                                         if k in SAVED_FIELDS}
        assert field in ('init', 'mode'), f'{field} is neither saved nor checked here'
    if field == 'mode':
        assert controller.mode == 'ideal'
    if field == 'init':  # 'scratch' re-draws B (W = 0) where the default keeps the host's kernel
        torch.manual_seed(0)
        kept = ENTRY_POINTS[entry]({})
        drawn, kept = ([m.meta for m in net.modules() if isinstance(m, MetaConv2d)] for net in (model, kept))
        assert len(drawn) == len(kept) > 0 and all(torch.count_nonzero(m.weight) == 0 for m in drawn)
        assert not any(torch.equal(a.bias, b.bias) for a, b in zip(drawn, kept))
