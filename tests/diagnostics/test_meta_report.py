"""The meta-learner diagnostic: |eps W| / |B| and the kernel change across the training range."""
import pytest
import timm
import torch

from san_plugin.core import convert
from san_plugin.diagnostics.meta_report import as_dict, as_markdown, meta_learner_stats

RES = (64, 32)


def test_fresh_scratch_san_has_idle_meta_learners():
    net, report = convert(timm.create_model('resnet18', num_classes=4), RES, init='scratch')
    stats = meta_learner_stats(net)
    assert len(stats) == report.convs
    assert all(s.w_over_b == 0.0 and s.kernel_change == 0.0 for s in stats)
    assert stats[0].name == 'conv1' and stats[0].shape == (64, 3, 7, 7)


def test_values_follow_the_definition():
    net, _ = convert(timm.create_model('resnet18', num_classes=4), RES, init='scratch')
    conv = net.conv1
    with torch.no_grad():
        conv.meta.weight.copy_(conv.meta.bias * 5.0)  # W = 5 B: k(S) = (1 + 5 eps(S)) B
    stats = meta_learner_stats(net)[0]
    eps64, eps32 = 0.2, 0.1
    assert stats.w_over_b == pytest.approx(eps64 * 5.0, rel=1e-5)
    assert stats.kernel_change == pytest.approx(5 * (eps64 - eps32) / (1 + 5 * eps64), rel=1e-5)


def test_mlp_meta_learners_report_the_kernel_change_only():
    net, _ = convert(timm.create_model('resnet18', num_classes=4), RES, init='scratch', meta_hidden=8,
                     exclude=['layer2', 'layer3', 'layer4'])
    stats = meta_learner_stats(net)
    assert all(s.w_over_b is None for s in stats)
    summary = as_dict(stats)['summary']
    assert summary['w_over_b'] is None and summary['kernel_change']['max'] == 0.0
    assert '| conv1 | 64x3x7x7 | - | 0.0000 |' in as_markdown(stats)


def test_a_model_without_generated_convolutions_is_refused():
    net, _ = convert(timm.create_model('resnet18', num_classes=4), RES, convs='shared')
    with pytest.raises(ValueError, match='no generated convolutions'):
        meta_learner_stats(net)
