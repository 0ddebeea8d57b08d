"""One SAN training step's backward passes, for a custom training loop (timm users, plain PyTorch).

``SANClassifier.train_step`` does this inside MMPretrain (with DDP, accumulation and AMP through
mmengine's optimizer wrapper); :func:`san_backward` is the same step for a loop of one's own:
resize the batch to every training resolution the step runs, largest first, and backpropagate
each resolution's loss (CE plus the distillation from the larger resolutions that ran) before the
next forward, so the peak activation memory is that of one resolution while the gradients equal
those of the summed loss. The optimizer step stays with the caller.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .controller import ScaleController
from .convert import get_controller
from .distill import kl_to_teachers, teachers_of
from .loss_form import LossForm
from .sampling import ResolutionSampling


def resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, C, H, W)`` float images to ``size`` x ``size``, antialiased bicubic (the training views'
    resize); images already of that size are returned as they are."""
    if tuple(images.shape[-2:]) == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode='bicubic', antialias=True, align_corners=False)


def san_backward(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    *,
    iteration: int = 0,
    sampling: ResolutionSampling | dict | None = None,
    loss_form: str = 'sum',
    distill_mode: str = 'all_pairs',
    temperature: float = 1.0,
    alpha: float = 1.0,
    beta: float = 1.0,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> dict[int, torch.Tensor]:
    """Forward and backward at every training resolution the step runs; gradients accumulate.

    Args:
        model: a SAN (``convert`` or ``timm.create_model('san_*')``) in train mode; called as ``model(x)``.
        images: normalised float ``(N, C, H, W)`` images, at least as large as the largest training
            resolution (resized down to each one here).
        targets: what ``criterion`` compares the logits with (class indices, or soft targets).
        iteration: the training iteration, which a sampled step's draw depends on.
        sampling: ``None``/``'all'`` or a sandwich (:class:`ResolutionSampling` or its dict).
        loss_form: ``'sum'`` (the paper's) or ``'mean'``, over the terms this step ran.
        distill_mode: ``'all_pairs'`` (every larger resolution teaches) or ``'largest'``.
        temperature: the distillation's softening temperature.
        alpha: the CE weight; beta: the distillation weight.
        criterion: the classification loss, ``criterion(logits, targets)``.

    Returns:
        ``{resolution: loss}`` of the resolutions that ran, largest first, detached, on the device
        (no host synchronisation here).

    Example:
        >>> net = timm.create_model('san_resnet18', resolutions=[64, 48, 32], num_classes=10)
        >>> for iteration, (x, y) in enumerate(loader):
        ...     losses = san_backward(net, x, y, iteration=iteration,
        ...                           sampling=dict(type='sandwich', num_random=0))
        ...     optimizer.step(); optimizer.zero_grad()
    """
    controller: ScaleController = get_controller(model)
    sizes = ResolutionSampling.from_config(sampling).draw(controller.resolutions, iteration)
    form = LossForm(loss_form, len(sizes), distill_mode)
    logits_so_far: list[torch.Tensor] = []
    losses: dict[int, torch.Tensor] = {}
    for index, size in enumerate(sizes):
        logits = model(resize_batch(images, size))
        loss = alpha * form.ce_factor * criterion(logits, targets)
        teachers = teachers_of(index, logits_so_far + [logits], distill_mode)
        if teachers:
            loss = loss + beta * form.pair_factor * kl_to_teachers(logits, teachers, temperature)
        loss.backward()
        logits_so_far.append(logits.detach())
        losses[size] = loss.detach()
    return losses

