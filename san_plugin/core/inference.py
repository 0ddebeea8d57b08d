"""Running any model, plain or SAN, for inference: its device, an example input at a resolution,
the eval-mode and no-grad scope (at a resolution for a SAN) and the tensors of its output.

Shared by calibration, measurement and export.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, ContextManager, Iterator

import torch
from torch import nn

from .convert import find_controller, san_resolution
from .meta_conv import MetaConv2d
from .train_modes import train_modes_restored


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for an empty model)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device('cpu')


def input_channels(model: nn.Module) -> int:
    """The input channels of a CNN: those of its first convolution in module order.

    Example:
        >>> input_channels(timm.create_model('resnet18'))
        3
    """
    for module in model.modules():
        if isinstance(module, (MetaConv2d, nn.modules.conv._ConvNd)):
            return int(module.in_channels)
    raise ValueError(f'cannot tell the input channels of {type(model).__name__} (no convolution found); '
                     f'pass in_chans explicitly')


def example_input(model: nn.Module, resolution: int, batch: int = 1, *, in_chans: int | None = None,
                  device: torch.device | str | None = None, seed: int | None = 0) -> torch.Tensor:
    """A random ``(batch, C, resolution, resolution)`` input for ``model``.

    Example:
        >>> example_input(timm.create_model('resnet18'), 96, 2).shape
        torch.Size([2, 3, 96, 96])
    """
    channels = in_chans if in_chans is not None else input_channels(model)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, resolution, resolution, generator=generator)
    return x.to(device if device is not None else model_device(model))


def at_resolution(model: nn.Module, resolution: int) -> ContextManager[None]:
    """``san_resolution`` for a SAN, nothing for a plain model."""
    return san_resolution(model, resolution) if find_controller(model) is not None else nullcontext()


@contextmanager
def inference(model: nn.Module, resolution: int | None = None) -> Iterator[nn.Module]:
    """Eval mode and no autograd (at ``resolution`` for a SAN); train/eval modes restored after.

    Example:
        >>> with inference(net, 160):
        ...     logits = net(x)
    """
    with train_modes_restored(model):
        model.eval()
        with torch.no_grad(), (at_resolution(model, resolution) if resolution is not None else nullcontext()):
            yield model


def output_tensors(output: Any) -> list[torch.Tensor]:
    """The tensors of a model output (a tensor, a tuple/list, or a dict), flattened in order."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        return [t for value in output.values() for t in output_tensors(value)]
    if isinstance(output, (tuple, list)):
        return [t for value in output for t in output_tensors(value)]
    raise TypeError(f'model output holds a {type(output).__name__}, expected tensors')
