"""The released SANs, in the official layout, give the official model's logits once converted."""
from __future__ import annotations

import pytest
import timm
import torch

from official_layout import official_state, resnet_blocks, write_official_checkpoint
from official_reference import official_reference
from san_plugin import bake, from_official
from san_plugin.core import MetaConv2d, PrivateBatchNorm2d, get_controller

ARCHS = ('resnet18', 'resnet50', 'mobilenetv2')
RESOLUTIONS = (224, 192, 160, 128, 96)  # official branch i = RESOLUTIONS[i]


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max())


@pytest.mark.parametrize('arch', ARCHS)
def test_logits_equal_the_official_model_at_every_training_resolution(arch):
    state = official_state(arch, seed=1)
    net = from_official(state, arch)
    assert not net.training
    for branch, size in enumerate(RESOLUTIONS):
        x = torch.rand(2, 3, size, size)
        with torch.no_grad():
            ours = net(x)
        assert relative_error(ours, official_reference(state, arch, x, branch)) <= 1e-4, (arch, size)
        # the check can tell branches apart: a neighbouring branch's logits are far off
        neighbour = official_reference(state, arch, x, branch + 1 if branch < 4 else branch - 1)
        assert relative_error(ours, neighbour) > 1e-2, (arch, size)


def test_the_official_structure_is_kept():
    net = from_official(official_state('resnet50'), 'resnet50')
    controller = get_controller(net)
    assert controller.resolutions == RESOLUTIONS
    assert [controller.encoding(s) for s in RESOLUTIONS] == pytest.approx([0.7, 0.6, 0.5, 0.4, 0.3])
    assert controller.exclude == ('conv1',)
    assert type(net.conv1) is torch.nn.Conv2d and isinstance(net.bn1, PrivateBatchNorm2d)  # shared stem, private BN
    assert type(net.fc) is torch.nn.Linear
    assert isinstance(net.layer2[0].downsample[0], MetaConv2d)  # the generated shortcut (fc4/bn4)
    # the dead `downsample` modules of the official blocks are not loaded anywhere
    shortcuts = sum(block.shortcut for block in resnet_blocks('resnet50'))
    assert sum(isinstance(m, MetaConv2d) for m in net.modules()) == 3 * 16 + shortcuts


def test_a_file_saved_by_the_official_script_loads_by_path(tmp_path):
    state = official_state('resnet18', seed=2)
    path = write_official_checkpoint(tmp_path / 'checkpoint.pth.tar', 'resnet18', state)
    from_file = from_official(str(path), 'resnet18')
    from_state = from_official(state, 'resnet18')
    from_loaded = from_official(torch.load(path, weights_only=True), 'resnet18')  # module. prefixed state dict
    for other in (from_state, from_loaded):
        for key, value in from_file.state_dict().items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, other.state_dict()[key]), key


def test_a_file_without_bn_counters_loads(tmp_path):
    """Files written by PyTorch < 0.4.1 have no num_batches_tracked."""
    state = {k: v for k, v in official_state('mobilenetv2').items() if not k.endswith('num_batches_tracked')}
    net = from_official(state, 'mobilenetv2')
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert relative_error(net(x), official_reference(state, 'mobilenetv2', x, 3)) <= 1e-4


def test_proxy_inference_between_training_resolutions_uses_the_nearest_branch():
    state = official_state('resnet18', seed=3)
    net = from_official(state, 'resnet18')
    x = torch.rand(1, 3, 176, 176)  # between 192 and 160: a tie goes to the larger, 192 (branch 1)
    with torch.no_grad():
        assert relative_error(net(x), official_reference(state, 'resnet18', x, 1)) <= 1e-4


def test_bake_gives_plain_timm_models_with_the_official_logits():
    state = official_state('mobilenetv2', seed=4)
    plain = bake(from_official(state, 'mobilenetv2'), 128)
    host = timm.create_model('mobilenetv2_100').eval()
    host.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert relative_error(host(x), official_reference(state, 'mobilenetv2', x, 3)) <= 1e-4
