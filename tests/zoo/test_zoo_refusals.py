"""Checkpoints that do not fit are refused, naming the first key, shape or value; nothing is loaded."""
from __future__ import annotations

import os
import re

import pytest
import torch
import torchvision

from official_layout import official_mobilenetv2_state, official_state
from san_plugin import from_official
from san_plugin.zoo import OfficialCheckpointError, official_host, san_state_from_official


@pytest.mark.parametrize('state_arch, arch, message', [
    ('resnet50', 'resnet18', "'layer1.0.fc1.weight' has shape (4096, 1) in the checkpoint but (36864, 1) in the "
                             "official SAN resnet18"),
    ('resnet18', 'resnet50', "'layer1.0.fc1.weight' has shape (36864, 1) in the checkpoint but (4096, 1) in the "
                             "official SAN resnet50"),
    ('resnet18', 'mobilenetv2', "no key 'features.0.fc.weight'"),
    ('mobilenetv2', 'resnet18', "no key 'conv1.module.weight'"),
])
def test_another_architecture_is_refused_naming_the_first_misfit(state_arch, arch, message):
    with pytest.raises(OfficialCheckpointError, match=re.escape(message)):
        from_official(official_state(state_arch), arch)


def test_another_width_is_refused_naming_the_shape():
    state = official_mobilenetv2_state(width=1.4)
    with pytest.raises(OfficialCheckpointError,
                       match=re.escape("'features.0.fc.weight' has shape (1296, 1) in the checkpoint but (864, 1)")):
        from_official(state, 'mobilenetv2')


@pytest.mark.parametrize('branches', [4, 6])
def test_another_branch_count_is_refused_naming_it(branches):
    with pytest.raises(OfficialCheckpointError, match=rf'holds {branches} BN branches \(bn_0..bn_{branches - 1}'):
        from_official(official_state('resnet18', branches=branches), 'resnet18')


def test_a_leftover_key_is_refused_naming_it():
    state = official_state('resnet18')
    state['layer1.0.fc9.weight'] = torch.zeros(1, 1)
    with pytest.raises(OfficialCheckpointError, match=re.escape("a key 'layer1.0.fc9.weight'")):
        from_official(state, 'resnet18')


def test_a_missing_key_is_refused_and_nothing_is_loaded():
    state = official_state('resnet18')
    del state['fc.module.bias']  # the very last tensor
    host = official_host('resnet18')
    before = {k: v.clone() for k, v in host.state_dict().items() if isinstance(v, torch.Tensor)}
    with pytest.raises(OfficialCheckpointError, match=re.escape("no key 'fc.module.bias'")):
        san_state_from_official(state, 'resnet18', host)
    after = host.state_dict()
    assert all(torch.equal(value, after[key]) for key, value in before.items())


def test_a_baseline_is_refused_with_the_baseline_loader_named():
    baseline = {f'module.{k}': v for k, v in torchvision.models.resnet18().state_dict().items()}
    with pytest.raises(OfficialCheckpointError, match=r"no BatchNorm2dParallel branch.*baseline_from_official"):
        from_official(baseline, 'resnet18')


def test_an_unknown_architecture_is_refused_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown official architecture 'resnet34'; known: \['mobilenetv2', "):
        from_official(official_state('resnet18'), 'resnet34')


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_a_file_that_would_run_code_is_refused_unrun(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'checkpoint.pth.tar'
    torch.save({'state_dict': official_state('resnet18'), 'extra': _RunsCode(str(marker))}, path)
    with pytest.raises(OfficialCheckpointError, match=r'refused to load .*checkpoint\.pth\.tar.*weights_only=True'):
        from_official(str(path), 'resnet18')
    assert not marker.exists()


def test_a_corrupt_file_is_refused(tmp_path):
    path = tmp_path / 'checkpoint.pth.tar'
    path.write_bytes(b'PK\x03\x04 not a checkpoint')
    with pytest.raises(OfficialCheckpointError, match='is not a readable torch checkpoint'):
        from_official(path, 'resnet18')
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        from_official(tmp_path / 'missing.pth.tar', 'resnet18')
