"""The paper's individually trained baselines (torchvision ResNets saved through DataParallel) in plain timm."""
from __future__ import annotations

import re

import pytest
import torch
import torchvision

from official_layout import official_state
from san_plugin.zoo import OfficialCheckpointError, baseline_from_official


def trained_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and BN statistics, so that a wrong mapping shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('running_var'):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif tensor.is_floating_point():
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=gen))
    return model.eval()


@pytest.mark.parametrize('arch', ['resnet18', 'resnet50'])
def test_a_baseline_gives_the_torchvision_logits_in_timm(arch, tmp_path):
    official = trained_like(getattr(torchvision.models, arch)())
    path = tmp_path / 'checkpoint.pth.tar'
    torch.save({'epoch': 120, 'arch': arch, 'best_prec1': 70.0,
                'state_dict': {f'module.{k}': v for k, v in official.state_dict().items()}}, path)
    net = baseline_from_official(path, arch)
    assert type(net).__module__.startswith('timm') and not net.training
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        torch.testing.assert_close(net(x), official(x), rtol=1e-4, atol=1e-4)


def test_a_baseline_of_another_depth_is_refused_naming_the_key():
    state = torchvision.models.resnet50().state_dict()
    with pytest.raises(OfficialCheckpointError, match=re.escape(
            "'layer1.0.conv1.weight' has shape (64, 64, 1, 1) in the checkpoint but (64, 64, 3, 3)")):
        baseline_from_official(state, 'resnet18')


def test_a_san_is_refused_by_the_baseline_loader():
    with pytest.raises(OfficialCheckpointError, match=r"it is a SAN, load it with from_official"):
        baseline_from_official(official_state('resnet18'), 'resnet18')
    with pytest.raises(ValueError, match="unknown official architecture 'mobilenetv2'"):
        baseline_from_official({}, 'mobilenetv2')
