"""ScaleDistillationLoss registration, SANClsHead losses, ResolutionAccuracy."""
from __future__ import annotations

import pytest
import torch
from mmpretrain.registry import METRICS, MODELS
from mmpretrain.structures import DataSample

import san_plugin.mm  # noqa: F401
from san_plugin.core import kl_to_teachers


def test_distillation_loss_is_registered_and_weighted():
    loss = MODELS.build(dict(type='ScaleDistillationLoss', mode='all_pairs', temperature=2.0, loss_weight=0.5))
    s, t1, t2 = torch.randn(3, 4, 5).unbind(0)
    assert torch.allclose(loss(s, [t1, t2]), 0.5 * kl_to_teachers(s, [t1, t2], 2.0))
    largest = MODELS.build(dict(type='ScaleDistillationLoss', mode='largest'))
    assert torch.allclose(largest(s, [t1, t2]), kl_to_teachers(s, [t1]))
    with pytest.raises(ValueError, match='mode'):
        MODELS.build(dict(type='ScaleDistillationLoss', mode='nope'))


def test_head_losses_names_and_weights():
    head = MODELS.build(dict(type='SANClsHead', num_classes=4, in_channels=6, resolutions=[32, 16],
                             resolution_weights={16: 0.5}))
    samples = [DataSample().set_gt_label(i) for i in range(4)]
    feats = (torch.randn(4, 6),)
    first = head.loss(feats, samples, resolution=32)
    assert set(first) == {'loss_ce_32', 'logits'}
    second = head.loss(feats, samples, resolution=16, teachers=[first['logits'].detach()])
    assert set(second) == {'loss_ce_16', 'loss_sd_16', 'logits'}
    assert torch.allclose(second['loss_ce_16'], 0.5 * first['loss_ce_32'])
    with pytest.raises(ValueError, match='resolution_weights'):
        MODELS.build(dict(type='SANClsHead', num_classes=4, in_channels=6, resolutions=[32], resolution_weights=[1, 2]))


def test_resolution_accuracy_per_resolution_and_mean():
    metric = METRICS.build(dict(type='ResolutionAccuracy', topk=(1, 2)))
    samples = []
    for label in range(4):
        right = torch.nn.functional.one_hot(torch.tensor(label), 4).float()
        wrong = torch.nn.functional.one_hot(torch.tensor((label + 1) % 4), 4).float()
        sample = DataSample().set_gt_label(label)
        sample.set_field({32: right, 16: right if label < 2 else wrong}, 'resolution_scores', field_type='metainfo')
        samples.append(sample.to_dict())
    metric.process(None, samples)
    result = metric.evaluate(4)
    assert result['accuracy/top1_32'] == 100.0 and result['accuracy/top1_16'] == 50.0
    assert result['accuracy/top1_mean'] == 75.0
    assert 'accuracy/top2_16' in result


def test_resolution_accuracy_explains_a_single_view_pipeline():
    metric = METRICS.build(dict(type='ResolutionAccuracy'))
    with pytest.raises(KeyError, match='MultiResolutionTest'):
        metric.process(None, [DataSample().set_gt_label(0).to_dict()])
