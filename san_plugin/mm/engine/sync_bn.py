"""Synchronised batch norm for CPU (gloo) distributed training.

``torch.nn.SyncBatchNorm`` refuses CPU tensors, and DDP refuses CPU modules that hold
one. ``cfg.sync_bn = 'torch'`` makes mmengine's Runner convert every batch norm,
including each resolution's branch inside ``PrivateBatchNorm2d``, to
``torch.nn.SyncBatchNorm``; on the CPU, ``SANDistributedDataParallel`` then swaps those
for :class:`CPUSyncBatchNorm`, which computes the same statistics over all ranks with
differentiable all-reduces.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm


class CPUSyncBatchNorm(_BatchNorm):
    """Batch norm whose training statistics are those of the batch over all ranks.

    Works on any device and any backend (gloo included). In evaluation mode, without
    an initialised process group, or with one process, it is an ordinary batch norm.
    The state dict is that of ``nn.BatchNorm2d``.

    Args:
        num_features, eps, momentum, affine, track_running_stats: as in ``nn.BatchNorm2d``.
        process_group: the group to synchronise over (default: the whole world).

    Example:
        >>> bn = CPUSyncBatchNorm(64)
        >>> model = convert_cpu_sync_batchnorm(nn.SyncBatchNorm.convert_sync_batchnorm(model))
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f'expected at least 2D input (got {input.dim()}D input)')

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        group = self.process_group or (dist.group.WORLD if dist.is_available() else None)
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size(group) > 1):
            return super().forward(input)
        self._check_input_dim(input)
        dims = [0] + list(range(2, input.dim()))
        shape = [1, -1] + [1] * (input.dim() - 2)
        count = input.new_tensor([input.numel() / input.size(1)])
        totals = all_reduce(torch.cat([input.sum(dims), count]), group=group)
        n = totals[-1].detach()
        mean = totals[:-1] / n
        centered = input - mean.view(shape)
        var = all_reduce((centered * centered).sum(dims), group=group) / n  # biased, as BN normalises
        out = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                unbiased = var.detach() * (n / (n - 1).clamp(min=1))
                self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
        return out


def convert_cpu_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replaces every ``nn.SyncBatchNorm`` by a :class:`CPUSyncBatchNorm` sharing its tensors.

    Returns the same module when there is nothing to replace.

    Example:
        >>> model = convert_cpu_sync_batchnorm(model)
    """
    if isinstance(module, nn.SyncBatchNorm):
        new = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats, module.process_group)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        new_child = convert_cpu_sync_batchnorm(child)
        if new_child is not child:
            setattr(module, name, new_child)
    return module
