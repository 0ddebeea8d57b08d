"""ScaleDistillationLoss: the core scale-distillation function as an MMPretrain loss."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from mmpretrain.registry import MODELS

from san_plugin.core.distill import kl_to_teachers, teachers_of
from san_plugin.core.loss_form import DISTILL_MODES


@MODELS.register_module()
class ScaleDistillationLoss(nn.Module):
    """KL(p_teacher || p_student) summed over the student's teachers, times ``loss_weight``.

    Args:
        mode: ``'all_pairs'`` (every larger resolution teaches, the paper) or ``'largest'``.
        temperature: softening temperature (the loss is scaled by T^2).
        loss_weight: beta in the paper's ``alpha * L_CE + beta * L_SD``.

    Example:
        >>> head = dict(type='SANClsHead', distill=dict(type='ScaleDistillationLoss',
        ...             mode='all_pairs', temperature=1.0, loss_weight=1.0))
    """

    def __init__(self, mode: str = 'all_pairs', temperature: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in DISTILL_MODES:
            raise ValueError(f'ScaleDistillationLoss mode must be one of {DISTILL_MODES}, got {mode!r}')
        self.mode = mode
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, student: torch.Tensor, larger: Sequence[torch.Tensor]) -> torch.Tensor:
        """``larger``: logits of every larger resolution, largest first (detached here)."""
        teachers = teachers_of(len(larger), list(larger) + [student], self.mode)
        return self.loss_weight * kl_to_teachers(student, teachers, self.temperature)
