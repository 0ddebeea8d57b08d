"""Fixtures, small models and settings shared by the device tests (imported as ``gpu_helpers``).

The ``device`` fixture runs a test on the CPU and, where a GPU is present, on CUDA, so
the CPU run (CI) exercises the same code as the GPU check (``benchmarks/gpu/check.sh``).
Test modules import the fixtures by name (a ``conftest.py`` here would shadow the
``conftest`` module other test folders import helpers from).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from san_plugin.core import MetaConv2d, convert

NO_GPU = not torch.cuda.is_available()


@pytest.fixture(params=['cpu', pytest.param('cuda', marks=pytest.mark.skipif(NO_GPU, reason='needs a GPU'))])
def device(request) -> str:
    """The device a test runs on."""
    return request.param


@pytest.fixture
def exact_convolutions():
    """Deterministic cuDNN convolutions without TF32 for the duration of a test (bitwise comparisons)."""
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
         torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) = saved


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
