"""Teaches the SAN converter timm's convolution classes, keeping their semantics."""
from __future__ import annotations

import torch
from torch.nn import functional as F
from timm.layers import Conv2dSame, ScaledStdConv2d, ScaledStdConv2dSame, StdConv2d, StdConv2dSame
from timm.layers.padding import pad_same

from san_plugin.core import register_conv_kind


def _conv2d_same(m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    x = pad_same(x, m.kernel_size, m.stride, m.dilation)
    return F.conv2d(x, kernel, bias, m.stride, 0, m.dilation, m.groups)


def _standardized(m, kernel: torch.Tensor) -> torch.Tensor:
    flat = kernel.reshape(1, m.out_channels, -1)
    return F.batch_norm(flat, None, None, training=True, momentum=0.0, eps=m.eps).reshape_as(kernel)


def _std_conv2d(m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return F.conv2d(x, _standardized(m, kernel), bias, m.stride, m.padding, m.dilation, m.groups)


def _std_conv2d_same(m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if m.same_pad:
        x = pad_same(x, m.kernel_size, m.stride, m.dilation)
    return _std_conv2d(m, x, kernel, bias)


register_conv_kind(Conv2dSame, _conv2d_same)
register_conv_kind(StdConv2d, _std_conv2d)
register_conv_kind(StdConv2dSame, _std_conv2d_same)


def _scaled_standardized(m, kernel: torch.Tensor) -> torch.Tensor:
    """The kernel standardised per output channel, times the layer's learned gain and ``gamma / sqrt(fan-in)``."""
    if m.gain is None:
        raise RuntimeError(f'{type(m).__name__} needs its gain parameter, which this MetaConv2d does not keep '
                           f'(san_plugin.core.MetaConv2d must keep the host\'s parameters other than weight and bias)')
    return _standardized(m, kernel) * (m.gain * m.scale)


def _scaled_std_conv2d(m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return F.conv2d(x, _scaled_standardized(m, kernel), bias, m.stride, m.padding, m.dilation, m.groups)


def _scaled_std_conv2d_same(m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if m.same_pad:
        x = pad_same(x, m.kernel_size, m.stride, m.dilation)
    return _scaled_std_conv2d(m, x, kernel, bias)


register_conv_kind(ScaledStdConv2d, _scaled_std_conv2d)  # NFNets (nf_resnet50, dm_nfnet_*), their gain kept shared
register_conv_kind(ScaledStdConv2dSame, _scaled_std_conv2d_same)
