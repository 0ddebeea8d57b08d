"""Which convolution classes a SAN can generate kernels for, and how each applies one.

A convolution is converted only when its exact class is registered here, so a layer
that looks like ``nn.Conv2d`` but computes something else is never silently changed.
Each kind is a function ``(template, x, kernel, bias) -> output`` where ``template`` is
a weightless copy of the original layer holding its hyper-parameters.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

KernelOp = Callable[[nn.Module, torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]

_CONV_KINDS: dict[type, KernelOp] = {}


def register_conv_kind(conv_type: type, kernel_op: KernelOp) -> None:
    """Teaches :func:`~san_plugin.core.convert` a convolution class.

    Args:
        conv_type: the exact class (subclasses are not matched).
        kernel_op: ``(template, x, kernel, bias) -> output``, the layer's own forward
            with ``kernel`` in place of its weight.

    Example:
        >>> register_conv_kind(nn.Conv2d, lambda m, x, k, b: m._conv_forward(x, k, b))
    """
    if not (isinstance(conv_type, type) and issubclass(conv_type, nn.Module)):
        raise TypeError(f'conv_type must be an nn.Module class, got {conv_type!r}')
    _CONV_KINDS[conv_type] = kernel_op


def kernel_op_for(conv_type: type) -> KernelOp | None:
    """The registered op for exactly this class, or None."""
    return _CONV_KINDS.get(conv_type)


def is_convolution(module: nn.Module) -> bool:
    """Whether a module is some convolution (known or not)."""
    return isinstance(module, nn.modules.conv._ConvNd)


def _plain_conv2d(template: nn.Module, x: torch.Tensor, kernel: torch.Tensor,
                  bias: torch.Tensor | None) -> torch.Tensor:
    return template._conv_forward(x, kernel, bias)  # honours padding_mode


register_conv_kind(nn.Conv2d, _plain_conv2d)
