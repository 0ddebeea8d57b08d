"""Small models and settings shared by the device tests (imported as ``gpu_helpers``)."""
from __future__ import annotations

import torch
from torch import nn

from san_plugin.core import MetaConv2d, convert


def autocast_dtype(device: str) -> torch.dtype:
    """The low-precision dtype ``--amp`` trains in: fp16 on a GPU (with loss scaling), bf16 on the CPU."""
    return torch.float16 if device == 'cuda' else torch.bfloat16


def tolerance(device: str) -> dict:
    """``assert_close`` tolerances for two float32 computations of the same function on ``device``."""
    return dict(rtol=1e-4, atol=1e-5) if device == 'cpu' else dict(rtol=1e-3, atol=1e-4)


def tiny_cnn(width: int = 8, classes: int = 4) -> nn.Module:
    """A plain CNN with a stem, a grouped strided conv, BNs and a linear head."""
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Conv2d(width, width, 3, stride=2, groups=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Conv2d(width, width, 1, bias=True), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes))


def randomise_meta_weights(net: nn.Module, std: float = 0.05) -> nn.Module:
    """Gives every meta learner a non-zero ``W`` (kernels then depend on the resolution)."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, MetaConv2d):
                module.meta.weight.normal_(0, std)
    return net


def tiny_san(resolutions=(16, 8), init: str = 'scratch', width: int = 8) -> nn.Module:
    """``tiny_cnn`` converted to a SAN with random meta learner weights."""
    torch.manual_seed(0)
    net, _ = convert(tiny_cnn(width), list(resolutions), init=init)
    return randomise_meta_weights(net)
