"""Teaches the SAN converter timm's convolution classes, keeping their semantics."""
from __future__ import annotations

from functools import partial

import torch
from torch.nn import functional as F
from timm.layers import Conv2dSame, ScaledStdConv2d, ScaledStdConv2dSame, StdConv2d, StdConv2dSame
from timm.layers.padding import pad_same

from san_plugin.core import register_conv_kind
from san_plugin.core.conv_kinds import KernelOp


def _conv2d_same(m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    x = pad_same(x, m.kernel_size, m.stride, m.dilation)
    return F.conv2d(x, kernel, bias, m.stride, 0, m.dilation, m.groups)


def _standardized(m, kernel: torch.Tensor) -> torch.Tensor:
    flat = kernel.reshape(1, m.out_channels, -1)
    return F.batch_norm(flat, None, None, training=True, momentum=0.0, eps=m.eps).reshape_as(kernel)


def _std_conv2d(m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return F.conv2d(x, _standardized(m, kernel), bias, m.stride, m.padding, m.dilation, m.groups)


def _same_padded(conv: KernelOp) -> KernelOp:
    """``conv`` after timm's dynamic 'same' padding where the layer asks for it (``same_pad``: its
    ``*Same`` classes with a stride or a kernel that a static padding cannot centre). A partial of
    module-level functions, so a converted model still pickles."""
    return partial(_pad_then, conv)


def _pad_then(conv: KernelOp, m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if m.same_pad:
        x = pad_same(x, m.kernel_size, m.stride, m.dilation)
    return conv(m, x, kernel, bias)


register_conv_kind(Conv2dSame, _conv2d_same)
register_conv_kind(StdConv2d, _std_conv2d)
register_conv_kind(StdConv2dSame, _same_padded(_std_conv2d))


def _scaled_standardized(m, kernel: torch.Tensor) -> torch.Tensor:
    """The kernel standardised per output channel, times the layer's learned gain and ``gamma / sqrt(fan-in)``."""
    if m.gain is None:
        raise RuntimeError(f'{type(m).__name__} needs its gain parameter, which this MetaConv2d does not keep '
                           f'(san_plugin.core.MetaConv2d must keep the host\'s parameters other than weight and bias)')
    return _standardized(m, kernel) * (m.gain * m.scale)


def _scaled_std_conv2d(m, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return F.conv2d(x, _scaled_standardized(m, kernel), bias, m.stride, m.padding, m.dilation, m.groups)


register_conv_kind(ScaledStdConv2d, _scaled_std_conv2d)  # NFNets (nf_resnet50, dm_nfnet_*), their gain kept shared
register_conv_kind(ScaledStdConv2dSame, _same_padded(_scaled_std_conv2d))
