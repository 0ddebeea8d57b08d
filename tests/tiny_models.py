"""Tiny CNNs and the SANs made from them, shared by the tests of the plain-PyTorch layers.

Test modules import it as ``tiny_models`` (``tests/`` is on ``sys.path`` through its conftest).
Every SAN here is seeded, so two calls give the same weights.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from san_plugin.core import MetaConv2d, convert, private_norms


def tiny_cnn(num_classes: int = 4) -> nn.Sequential:
    """Two 3x3 convs (the second with stride 2), each with a batch norm, a linear head."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))


def depthwise_cnn(num_classes: int = 5) -> nn.Sequential:
    """A conv with a bias, a depthwise conv and a strided 1x1 conv, each with a batch norm."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=True), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))


def grouped_cnn(num_classes: int = 4, padding: int = 0) -> nn.Sequential:
    """A 3x3 conv and a strided grouped conv (2 groups), each with a batch norm."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=padding, groups=2), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))


def randomise_san_(model: nn.Module, w_std: float = 0.1, bn: bool = True) -> nn.Module:
    """Makes every resolution different: meta-learner slopes ``W ~ N(0, w_std)`` and, with
    ``bn``, distinct affine parameters and statistics in every BN branch. Returns ``model``."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, MetaConv2d):
                weight = module.meta.weight if hasattr(module.meta, 'weight') else module.meta.out.weight
                weight.normal_(0, w_std)
        if bn:
            for norm in private_norms(model):
                for branch in norm.branches.values():
                    branch.weight.uniform_(0.5, 1.5)
                    branch.bias.normal_(0, 0.2)
                    branch.running_mean.normal_(0, 0.3)
                    branch.running_var.uniform_(0.5, 2.0)
    return model


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every tensor of a model's state dict."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}


def tiny_san(resolutions: Sequence[int] = (32, 16), cnn: Callable[[], nn.Module] = tiny_cnn, *, seed: int = 0,
             w_std: float = 0.1, bn: bool = True, **convert_kwargs) -> nn.Module:
    """``cnn()`` converted from scratch (seeded) and randomised by :func:`randomise_san_`.

    Example:
        >>> net = tiny_san((32, 16), depthwise_cnn, w_std=0.2)
    """
    torch.manual_seed(seed)
    model, _ = convert(cnn(), resolutions, init='scratch', **convert_kwargs)
    return randomise_san_(model, w_std, bn)


def save_confident_san(cfg, checkpoint) -> nn.Module:
    """Builds the (MMPretrain) SAN of ``cfg`` with random meta learners and a large FC, so that its
    outputs differ by size and are confident, and saves it as a checkpoint; returns the model."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from san_plugin.mm.model_from_config import model_config
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(model_config(cfg)).eval()
    randomise_san_(model.backbone, w_std=0.3)
    with torch.no_grad():
        model.head.fc.weight.normal_(0, 3.0)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return model


def randomize_bn_(norm: nn.Module) -> nn.Module:
    """Random running statistics and affine parameters (a BN that a test can tell from a fresh one), in place."""
    with torch.no_grad():
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    return norm
