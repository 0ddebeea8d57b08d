"""Teaches the SAN converter mmcv's convolution classes, keeping their semantics.

``Conv2dAdaptivePadding`` (every convolution of MMPretrain's ``EfficientNet`` and
``EfficientNetV2``) pads its input as TensorFlow's 'SAME' does, from the input size, at
every call; the generated kernel is applied the same way.
"""
from __future__ import annotations

import math

import torch
from mmcv.cnn.bricks.conv2d_adaptive_padding import Conv2dAdaptivePadding
from torch.nn import functional as F

from san_plugin.core import register_conv_kind


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) padding of one spatial axis so that the output has ``ceil(size / stride)``
    positions; the odd pixel goes after, as in TensorFlow.

    Example:
        >>> same_padding(7, 3, 2, 1)
        (1, 1)
        >>> same_padding(8, 3, 2, 1)
        (0, 1)
    """
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _conv2d_adaptive_padding(m: Conv2dAdaptivePadding, x: torch.Tensor, kernel: torch.Tensor,
                             bias: torch.Tensor | None) -> torch.Tensor:
    top, bottom = same_padding(x.shape[-2], kernel.shape[-2], m.stride[0], m.dilation[0])
    left, right = same_padding(x.shape[-1], kernel.shape[-1], m.stride[1], m.dilation[1])
    if top or bottom or left or right:
        x = F.pad(x, [left, right, top, bottom])
    return F.conv2d(x, kernel, bias, m.stride, m.padding, m.dilation, m.groups)


register_conv_kind(Conv2dAdaptivePadding, _conv2d_adaptive_padding)
