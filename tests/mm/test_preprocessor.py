"""SANDataPreprocessor: one batch per resolution, labels once, consistent Mixup/CutMix."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import san_plugin.mm  # noqa: F401

SIZES = [32, 16]


def views_batch(n: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    big = [torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8) for _ in range(n)]
    inputs = [[b, b[:, ::2, ::2].contiguous()] for b in big]  # the small view is the big one subsampled
    return {'inputs': inputs, 'data_samples': [DataSample().set_gt_label(i % 3) for i in range(n)]}


def build(**kwargs):
    return MODELS.build(dict(type='SANDataPreprocessor', num_classes=3, mean=[10.0, 20.0, 30.0],
                             std=[2.0, 3.0, 4.0], to_rgb=True, **kwargs))


def test_one_normalised_batch_per_resolution():
    data = views_batch()
    out = build()(copy.deepcopy(data), training=True)
    assert [tuple(v.shape) for v in out['inputs']] == [(4, 3, 32, 32), (4, 3, 16, 16)]
    raw = data['inputs'][1][1].float().flip(0)
    expected = (raw - torch.tensor([10.0, 20.0, 30.0])[:, None, None]) / torch.tensor([2.0, 3.0, 4.0])[:, None, None]
    assert torch.allclose(out['inputs'][1][1], expected)
    assert [int(s.gt_label) for s in out['data_samples']] == [0, 1, 2, 0]


def test_default_collate_layout_is_accepted():
    data = views_batch()
    collated = {'inputs': [torch.stack([s[i] for s in data['inputs']]) for i in range(2)],
                'data_samples': data['data_samples']}
    a = build()(copy.deepcopy(data), training=False)['inputs']
    b = build()(collated, training=False)['inputs']
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_single_view_behaves_like_cls_data_preprocessor():
    data = {'inputs': [torch.zeros(3, 8, 8, dtype=torch.uint8)] * 2, 'data_samples': [DataSample().set_gt_label(1)] * 2}
    out = build()(data)
    assert out['inputs'].shape == (2, 3, 8, 8)


@pytest.mark.parametrize('augment', [dict(type='Mixup', alpha=1.0), dict(type='CutMix', alpha=1.0)])
def test_batch_augments_mix_every_view_alike(augment):
    np.random.seed(0)
    torch.manual_seed(0)
    pre = build(batch_augments=dict(augments=[augment]))
    out = pre(views_batch(), training=True)
    big, small = out['inputs']
    same = torch.isclose(big[:, :, ::2, ::2], small, atol=1e-4).float().mean()
    assert same > (0.999 if augment['type'] == 'Mixup' else 0.8)  # the same mix, subsampled (box edges aside)
    scores = torch.stack([s.gt_score for s in out['data_samples']])
    assert torch.allclose(scores.sum(1), torch.ones(4))
    assert (scores.max(1).values < 1).any()  # something was mixed


def test_resize_on_device_makes_the_smaller_views():
    pre = build(resize_on_device=True, resolutions=SIZES)
    data = views_batch()
    data['inputs'] = [[views[0]] for views in data['inputs']]
    out = pre(data, training=True)
    assert [v.shape[-1] for v in out['inputs']] == SIZES
    with pytest.raises(ValueError, match='resolutions'):
        build(resize_on_device=True)
