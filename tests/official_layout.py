"""State dicts in the layout of the official SAN code (d-li14/SAN), with random weights.

Written for the tests from the official model files' structure as described in docs/model_zoo.md
(not copied from them): generated convolutions are ``nn.Linear(1, n)``
meta learners (``<name>.weight`` ``(n, 1)``, ``<name>.bias`` ``(n,)``), batch norms are
``BatchNorm2dParallel`` (``<name>.bn_<i>.*``), shared layers are ``ModuleParallel``
(``<name>.module.*``); the ResNet blocks also hold their dead ``downsample`` modules. Every
BN branch gets its own random statistics, so a wrong branch or encoding shows in the logits.

Test modules import it as ``official_layout`` (``tests/`` is on ``sys.path`` through its conftest);
``official_reference`` shares its structure descriptions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

BRANCHES = 5
RESNET_DEPTHS = {'resnet18': (2, 2, 2, 2), 'resnet50': (3, 4, 6, 3)}
MOBILENETV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                        (6, 320, 1, 1))  # (expand ratio t, channels c, blocks n, first stride s)


@dataclass(frozen=True)
class ResBlock:
    name: str        # 'layer2.0'
    bottleneck: bool
    inplanes: int
    planes: int      # the 3x3 width; the block outputs planes * expansion
    stride: int
    shortcut: bool   # a generated 1x1 shortcut (fc3/bn3 or fc4/bn4) and a dead downsample

    @property
    def out(self) -> int:
        return self.planes * (4 if self.bottleneck else 1)


@dataclass(frozen=True)
class InvertedBlock:
    index: int       # features.<index>
    inp: int
    oup: int
    stride: int
    expand: int

    @property
    def hidden(self) -> int:
        return round(self.inp * self.expand)

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.inp == self.oup


def resnet_blocks(arch: str) -> list[ResBlock]:
    bottleneck = arch == 'resnet50'
    blocks, inplanes = [], 64
    for stage, (planes, depth) in enumerate(zip((64, 128, 256, 512), RESNET_DEPTHS[arch])):
        for b in range(depth):
            stride = 2 if stage > 0 and b == 0 else 1
            out = planes * (4 if bottleneck else 1)
            blocks.append(ResBlock(f'layer{stage + 1}.{b}', bottleneck, inplanes, planes, stride,
                                   stride != 1 or inplanes != out))
            inplanes = out
    return blocks


def divisible(value: float, divisor: int = 8) -> int:
    """Channel rounding of MobileNetV2 (nearest multiple of 8, never more than 10% below)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def mobilenetv2_blocks(width: float = 1.0) -> tuple[int, list[InvertedBlock], int]:
    """(stem channels, blocks, head channels) of the official MobileNetV2."""
    stem = divisible(32 * width)
    blocks, inp = [], stem
    for expand, channels, count, stride in MOBILENETV2_SETTINGS:
        oup = divisible(channels * width)
        for b in range(count):
            blocks.append(InvertedBlock(len(blocks) + 1, inp, oup, stride if b == 0 else 1, expand))
            inp = oup
    head = divisible(1280 * width) if width > 1.0 else 1280
    return stem, blocks, head


class OfficialStateWriter:
    """Builds an official-layout state dict with random weights (seeded)."""

    def __init__(self, seed: int = 0, branches: int = BRANCHES, slope: float = 0.3) -> None:
        self.state: dict[str, torch.Tensor] = {}
        self.gen = torch.Generator().manual_seed(seed)
        self.branches = branches
        self.slope = slope  # |W| relative to |B|: how much the kernel changes across branches

    def randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen)

    def uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=self.gen)

    def meta(self, name: str, out: int, per_group_in: int, k: int) -> None:
        """An ``nn.Linear(1, out * per_group_in * k * k)`` meta learner of Kaiming-like scale."""
        n = out * per_group_in * k * k
        std = math.sqrt(2.0 / (per_group_in * k * k))
        self.state[f'{name}.weight'] = self.randn(n, 1) * std * self.slope
        self.state[f'{name}.bias'] = self.randn(n) * std

    def bn(self, name: str, channels: int) -> None:
        """A ``BatchNorm2dParallel``: random affine parameters and statistics per branch."""
        for i in range(self.branches):
            prefix = f'{name}.bn_{i}'
            self.state[f'{prefix}.weight'] = self.uniform(0.5, 1.0, channels)
            self.state[f'{prefix}.bias'] = self.randn(channels) * 0.1
            self.state[f'{prefix}.running_mean'] = self.randn(channels) * 0.2
            self.state[f'{prefix}.running_var'] = self.uniform(0.5, 2.0, channels)
            self.state[f'{prefix}.num_batches_tracked'] = torch.tensor(1000 + i)

    def shared(self, name: str, **tensors: torch.Tensor) -> None:
        for field, tensor in tensors.items():
            self.state[f'{name}.module.{field}'] = tensor


def official_resnet_state(arch: str, seed: int = 0, branches: int = BRANCHES) -> dict[str, torch.Tensor]:
    """``MetaResNet`` (``meta_resnet18``/``meta_resnet50``) in the official key order."""
    w = OfficialStateWriter(seed, branches)
    w.shared('conv1', weight=w.randn(64, 3, 7, 7) * math.sqrt(2.0 / (3 * 49)))
    w.bn('bn1', 64)
    for block in resnet_blocks(arch):
        n = block.name
        if block.bottleneck:
            w.meta(f'{n}.fc1', block.planes, block.inplanes, 1)
            w.meta(f'{n}.fc2', block.planes, block.planes, 3)
            w.meta(f'{n}.fc3', block.out, block.planes, 1)
            if block.shortcut:
                w.meta(f'{n}.fc4', block.out, block.inplanes, 1)
                w.bn(f'{n}.bn4', block.out)
            for index, channels in enumerate((block.planes, block.planes, block.out), start=1):
                w.bn(f'{n}.bn{index}', channels)
        else:
            w.meta(f'{n}.fc1', block.planes, block.inplanes, 3)
            w.meta(f'{n}.fc2', block.planes, block.planes, 3)
            if block.shortcut:
                w.meta(f'{n}.fc3', block.out, block.inplanes, 1)
                w.bn(f'{n}.bn3', block.out)
            w.bn(f'{n}.bn1', block.planes)
            w.bn(f'{n}.bn2', block.planes)
        if block.shortcut:  # built by _make_layer, never run by forward
            w.shared(f'{n}.downsample.0', weight=w.randn(block.out, block.inplanes, 1, 1))
            w.bn(f'{n}.downsample.1', block.out)
    features = resnet_blocks(arch)[-1].out
    w.shared('fc', weight=w.randn(1000, features) * 0.3 / math.sqrt(features), bias=w.randn(1000) * 0.1)
    return w.state


def official_mobilenetv2_state(seed: int = 0, branches: int = BRANCHES, width: float = 1.0) -> dict[str, torch.Tensor]:
    """``MetaMobileNetV2`` in the official key order."""
    w = OfficialStateWriter(seed, branches)
    stem, blocks, head = mobilenetv2_blocks(width)
    w.meta('features.0.fc', stem, 3, 3)
    w.bn('features.0.bn', stem)
    for block in blocks:
        n = f'features.{block.index}'
        if block.expand == 1:
            w.meta(f'{n}.fc1', block.hidden, 1, 3)
            w.bn(f'{n}.bn1', block.hidden)
            w.meta(f'{n}.fc2', block.oup, block.hidden, 1)
            w.bn(f'{n}.bn2', block.oup)
        else:
            w.meta(f'{n}.fc1', block.hidden, block.inp, 1)
            w.bn(f'{n}.bn1', block.hidden)
            w.meta(f'{n}.fc2', block.hidden, 1, 3)
            w.bn(f'{n}.bn2', block.hidden)
            w.meta(f'{n}.fc3', block.oup, block.hidden, 1)
            w.bn(f'{n}.bn3', block.oup)
    w.meta('conv.fc', head, blocks[-1].oup, 1)
    w.bn('conv.bn', head)
    w.shared('classifier', weight=w.randn(1000, head) * 0.3 / math.sqrt(head), bias=w.randn(1000) * 0.1)
    return w.state


def official_state(arch: str, seed: int = 0, branches: int = BRANCHES) -> dict[str, torch.Tensor]:
    if arch == 'mobilenetv2':
        return official_mobilenetv2_state(seed, branches)
    return official_resnet_state(arch, seed, branches)


def write_official_checkpoint(path: Path, arch: str, state: dict[str, torch.Tensor] | None = None,
                              seed: int = 0) -> Path:
    """A ``checkpoint.pth.tar`` as the official ``imagenet.py`` saves it (DataParallel ``module.`` keys)."""
    state = official_state(arch, seed) if state is None else state
    torch.save({'epoch': 120, 'arch': f'meta_{arch}', 'state_dict': {f'module.{k}': v for k, v in state.items()},
                'best_prec1': 71.5, 'optimizer': {'state': {}, 'param_groups': [{'lr': 0.0, 'momentum': 0.9}]}},
               path)
    return path
