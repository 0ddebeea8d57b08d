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
    assert set(first) == {'loss_ce_32'}  # losses only: the classifier takes the logits from the forward
    teacher = head(feats, 32).detach()
    second = head.loss(feats, samples, resolution=16, teachers=[teacher])
    assert set(second) == {'loss_ce_16', 'loss_sd_16'}
    assert torch.allclose(second['loss_ce_16'], 0.5 * first['loss_ce_32'])
    assert torch.equal(second['loss_sd_16'], head.distill(head(feats, 16), [teacher]))
    from_logits = head.loss_from_logits(head(feats, 16), samples, resolution=16, teachers=[teacher])
    assert all(torch.equal(from_logits[k], second[k]) for k in second)
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


def _reference_resolution_accuracy(samples: list[dict], topk: tuple[int, ...]) -> dict[str, float]:
    """The former ResolutionAccuracy (kept every score): mmpretrain's Accuracy on the full scores."""
    from mmpretrain.evaluation import Accuracy
    resolutions = sorted(samples[0]['resolution_scores'], reverse=True)
    labels = torch.cat([s['gt_label'] for s in samples])
    num_classes = samples[0]['resolution_scores'][resolutions[0]].numel()
    metrics = {}
    for resolution in resolutions:
        scores = torch.stack([s['resolution_scores'][resolution] for s in samples])
        for k, acc in zip(topk, Accuracy.calculate(scores, labels, topk=topk)):
            metrics[f'accuracy/top{k}_{resolution}'] = float(acc[0])
    for k in topk:
        metrics[f'accuracy/top{k}_mean'] = sum(metrics[f'accuracy/top{k}_{r}'] for r in resolutions) / len(resolutions)
    return metrics


@pytest.mark.parametrize('num_classes,topk', [(10, (1, 5)), (4, (4, 1, 2)), (1000, (1, 5))])
def test_resolution_accuracy_keeps_hit_flags_and_equals_accuracy_on_full_scores(num_classes, topk):
    gen = torch.Generator().manual_seed(num_classes)
    resolutions = (32, 24, 16)
    samples = []
    for i in range(103):
        label = int(torch.randint(num_classes, (1,), generator=gen))
        scores = {}
        for s in resolutions:
            logits = torch.randn(num_classes, generator=gen) * 3
            logits[label] += 2.0 if s == 32 else 0.5  # resolutions differ in accuracy
            if i % 17 == 0:  # softmax underflow: only one class scores above 0 (Accuracy's threshold)
                logits = torch.full((num_classes,), -1e4)
                logits[(label + i) % num_classes] = 0
            scores[s] = torch.softmax(logits, 0)
        sample = DataSample().set_gt_label(label)
        sample.set_field(scores, 'resolution_scores', field_type='metainfo')
        samples.append(sample.to_dict())
    metric = METRICS.build(dict(type='ResolutionAccuracy', topk=topk))
    for start in range(0, len(samples), 8):
        metric.process(None, samples[start:start + 8])
    # O(k) per sample: one flag per resolution and k, no scores
    assert len(metric.results) == len(samples)
    for result in metric.results:
        assert set(result) == set(resolutions)
        for flags in result.values():
            assert isinstance(flags, tuple) and len(flags) == len(topk)
            assert all(type(f) is bool for f in flags)
    result = metric.evaluate(len(samples))
    reference = _reference_resolution_accuracy(samples, topk)
    assert result == reference  # the same float values, key for key
    assert 0 < result['accuracy/top1_24'] < result['accuracy/top1_32'] < 100


def test_resolution_accuracy_refuses_a_k_above_the_number_of_classes():
    metric = METRICS.build(dict(type='ResolutionAccuracy', topk=(1, 5)))
    sample = DataSample().set_gt_label(0)
    sample.set_field({32: torch.tensor([0.5, 0.3, 0.2])}, 'resolution_scores', field_type='metainfo')
    with pytest.raises(ValueError, match='top-5 accuracy is unavailable: the model scores 3 classes'):
        metric.process(None, [sample.to_dict()])
