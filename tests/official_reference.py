"""Reference forwards of the official SAN models, written from their semantics with functional ops.

Branch ``i`` runs with the encoding ``0.7 - 0.1 * i`` fed to every meta learner as the official
code does (a float32 tensor through ``nn.Linear(1, n)``: ``kernel = weight[:, 0] * eps + bias``,
reshaped to ``(out, in / groups, kh, kw)``), the ``i``-th BN of every ``BatchNorm2dParallel``
(eval mode, eps 1e-5), the shared layers' own weights, and the official block structure. It
never touches our converter or timm, so it checks them from outside.

Test modules import it as ``official_reference`` (``tests/`` is on ``sys.path`` through its conftest).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from official_layout import mobilenetv2_blocks, resnet_blocks


class OfficialForward:
    """The tensors of one official state dict, read for branch ``branch``."""

    def __init__(self, state: dict[str, torch.Tensor], branch: int) -> None:
        self.state = state
        self.branch = branch
        self.scale = torch.tensor([0.7 - 0.1 * branch])  # float32, as the official code builds it

    def kernel(self, name: str, out: int, per_group_in: int, k: int) -> torch.Tensor:
        generated = F.linear(self.scale, self.state[f'{name}.weight'], self.state[f'{name}.bias'])
        return generated.reshape(out, per_group_in, k, k)

    def bn(self, name: str, x: torch.Tensor) -> torch.Tensor:
        p = f'{name}.bn_{self.branch}'
        return F.batch_norm(x, self.state[f'{p}.running_mean'], self.state[f'{p}.running_var'],
                            self.state[f'{p}.weight'], self.state[f'{p}.bias'], training=False, eps=1e-5)


def resnet_reference(state: dict[str, torch.Tensor], arch: str, x: torch.Tensor, branch: int) -> torch.Tensor:
    """Logits of the official ``meta_resnet18``/``meta_resnet50`` for branch ``branch``."""
    f = OfficialForward(state, branch)
    x = F.conv2d(x, state['conv1.module.weight'], stride=2, padding=3)
    x = F.max_pool2d(F.relu(f.bn('bn1', x)), 3, stride=2, padding=1)
    for block in resnet_blocks(arch):
        n = block.name
        if block.bottleneck:
            out = F.relu(f.bn(f'{n}.bn1', F.conv2d(x, f.kernel(f'{n}.fc1', block.planes, block.inplanes, 1))))
            out = F.conv2d(out, f.kernel(f'{n}.fc2', block.planes, block.planes, 3), stride=block.stride, padding=1)
            out = F.relu(f.bn(f'{n}.bn2', out))
            out = f.bn(f'{n}.bn3', F.conv2d(out, f.kernel(f'{n}.fc3', block.out, block.planes, 1)))
            shortcut = 4
        else:
            out = F.conv2d(x, f.kernel(f'{n}.fc1', block.planes, block.inplanes, 3), stride=block.stride, padding=1)
            out = F.relu(f.bn(f'{n}.bn1', out))
            out = f.bn(f'{n}.bn2', F.conv2d(out, f.kernel(f'{n}.fc2', block.planes, block.planes, 3), padding=1))
            shortcut = 3
        identity = x
        if block.shortcut:
            identity = F.conv2d(x, f.kernel(f'{n}.fc{shortcut}', block.out, block.inplanes, 1), stride=block.stride)
            identity = f.bn(f'{n}.bn{shortcut}', identity)
        x = F.relu(out + identity)
    x = F.adaptive_avg_pool2d(x, 1).flatten(1)
    return F.linear(x, state['fc.module.weight'], state['fc.module.bias'])


def mobilenetv2_reference(state: dict[str, torch.Tensor], x: torch.Tensor, branch: int) -> torch.Tensor:
    """Logits of the official ``meta_mobilenetv2`` (width 1.0) for branch ``branch``."""
    f = OfficialForward(state, branch)
    stem, blocks, head = mobilenetv2_blocks()
    x = F.relu6(f.bn('features.0.bn', F.conv2d(x, f.kernel('features.0.fc', stem, 3, 3), stride=2, padding=1)))
    for block in blocks:
        n, hidden = f'features.{block.index}', block.hidden
        if block.expand == 1:
            out = F.conv2d(x, f.kernel(f'{n}.fc1', hidden, 1, 3), stride=block.stride, padding=1, groups=hidden)
            out = F.relu6(f.bn(f'{n}.bn1', out))
            out = f.bn(f'{n}.bn2', F.conv2d(out, f.kernel(f'{n}.fc2', block.oup, hidden, 1)))
        else:
            out = F.relu6(f.bn(f'{n}.bn1', F.conv2d(x, f.kernel(f'{n}.fc1', hidden, block.inp, 1))))
            out = F.conv2d(out, f.kernel(f'{n}.fc2', hidden, 1, 3), stride=block.stride, padding=1, groups=hidden)
            out = F.relu6(f.bn(f'{n}.bn2', out))
            out = f.bn(f'{n}.bn3', F.conv2d(out, f.kernel(f'{n}.fc3', block.oup, hidden, 1)))
        x = x + out if block.residual else out
    x = F.relu6(f.bn('conv.bn', F.conv2d(x, f.kernel('conv.fc', head, blocks[-1].oup, 1))))
    x = F.adaptive_avg_pool2d(x, 1).flatten(1)
    return F.linear(x, state['classifier.module.weight'], state['classifier.module.bias'])


def official_reference(state: dict[str, torch.Tensor], arch: str, x: torch.Tensor, branch: int) -> torch.Tensor:
    """Logits of the official ``arch`` for branch ``branch`` (0 = 224 px ... 4 = 96 px)."""
    with torch.no_grad():
        if arch == 'mobilenetv2':
            return mobilenetv2_reference(state, x, branch)
        return resnet_reference(state, arch, x, branch)
