"""Scale distillation: larger resolutions teach smaller ones."""
from __future__ import annotations

from typing import Sequence

import torch
from torch.nn import functional as F

from .loss_form import DISTILL_MODES, LOSS_FORMS, LossForm


def kl_to_teachers(student: torch.Tensor, teachers: Sequence[torch.Tensor], temperature: float = 1.0) -> torch.Tensor:
    """Sum over teachers of KL(p_teacher || p_student), teachers detached.

    Each KL is summed over classes and averaged over the batch ('batchmean'). With a
    temperature T both distributions are softened by T and the result is scaled by T^2
    (Hinton et al.), so the gradient magnitude does not depend on T.

    Args:
        student: logits ``(N, C)`` of the smaller resolution.
        teachers: logits ``(N, C)`` of larger resolutions (detached here).
        temperature: softening temperature, > 0.

    Returns:
        A scalar; zero (with the student's graph) when there is no teacher.

    Example:
        >>> s, t = torch.randn(4, 10), torch.randn(4, 10)
        >>> float(kl_to_teachers(t, [t])) == 0.0
        True
    """
    if temperature <= 0:
        raise ValueError(f'temperature must be positive, got {temperature}')
    log_p_student = F.log_softmax(student / temperature, dim=-1)
    total = student.new_zeros(())
    for teacher in teachers:
        log_p_teacher = F.log_softmax(teacher.detach() / temperature, dim=-1)
        total = total + F.kl_div(log_p_student, log_p_teacher, reduction='batchmean', log_target=True)
    return total * temperature ** 2


def teachers_of(index: int, logits: Sequence[torch.Tensor], mode: str = 'all_pairs') -> Sequence[torch.Tensor]:
    """The teachers of the ``index``-th resolution, logits ordered largest resolution first."""
    if mode not in DISTILL_MODES:
        raise ValueError(f'scale distillation mode must be one of {DISTILL_MODES}, got {mode!r}')
    if index == 0:
        return []
    return list(logits[:index]) if mode == 'all_pairs' else [logits[0]]


def scale_distillation_loss(logits: Sequence[torch.Tensor], mode: str = 'all_pairs',
                            temperature: float = 1.0, reduction: str = 'sum') -> torch.Tensor:
    """The paper's L_SD over per-resolution logits ordered largest resolution first.

    ``all_pairs`` (the paper, Eq. 3): every larger resolution teaches every smaller one,
    ``k(k-1)/2`` terms. ``largest``: only the largest resolution teaches. Every term is
    ``KL(p_larger || p_smaller)`` with the larger prediction detached, batch-averaged.
    ``reduction='sum'`` adds the terms (the paper), ``'mean'`` averages them
    (:mod:`san_plugin.core.loss_form`).

    Example:
        >>> logits = [torch.randn(8, 10) for _ in range(3)]
        >>> scale_distillation_loss(logits).shape
        torch.Size([])
    """
    if len(logits) == 0:
        raise ValueError('scale distillation needs the logits of at least one resolution')
    if reduction not in LOSS_FORMS:
        raise ValueError(f'reduction must be one of {LOSS_FORMS}, got {reduction!r}')
    total = logits[0].new_zeros(())
    for index in range(1, len(logits)):
        total = total + kl_to_teachers(logits[index], teachers_of(index, logits, mode), temperature)
    return total * LossForm(reduction, len(logits), mode).pair_factor
