"""A training run that diverges says so: one warning when a resolution's CE leaves the chance level."""
from __future__ import annotations

import math
import warnings
from typing import Mapping

DIVERGENCE_DOCS = 'docs/training.md#when-a-san-diverges'


class SANDivergenceWarning(UserWarning):
    """A resolution's cross-entropy rose far above the chance level during training."""


class DivergenceMonitor:
    """Watches the per-resolution cross-entropy of every training step and warns once.

    A classifier that has not learned anything sits at the chance level ``ln(C)``; a loss
    above ``factor * ln(C)`` (default twice the chance level) means the training has
    blown up, which a too large learning rate for the SAN's loss does within the first
    few hundred iterations, warm-up included. The check reads values that are already
    on the host (no device synchronisation of its own).

    Args:
        num_classes: C.
        factor: the multiple of ``ln(C)`` that counts as divergence.

    Example:
        >>> monitor = DivergenceMonitor(num_classes=10)
        >>> monitor.check({64: 2.2, 32: 2.3}, iteration=5, lr=0.1, loss_form='sum') is None
        True
    """

    def __init__(self, num_classes: int, factor: float = 2.0) -> None:
        if num_classes < 2:
            raise ValueError(f'the divergence check needs at least 2 classes, got {num_classes}')
        self.num_classes = num_classes
        self.threshold = factor * math.log(num_classes)
        self.factor = factor
        self.warned = False

    def check(self, ce_by_resolution: Mapping[int, float], *, iteration: int | None, lr: float | None,
              loss_form: str) -> str | None:
        """Warns (the first time only) if any resolution's CE exceeds the threshold.

        Args:
            ce_by_resolution: the unweighted cross-entropy of each training resolution.
            iteration: the 1-based training iteration (None when unknown).
            lr: the learning rate of the step (None when unknown).
            loss_form: the head's loss form, named in the warning.

        Returns:
            The warning's message when this call warned, else None.
        """
        if self.warned:
            return None
        over = {s: v for s, v in ce_by_resolution.items() if not v <= self.threshold}  # NaN counts as over
        if not over:
            return None
        resolution, value = max(over.items(), key=lambda kv: kv[1] if math.isfinite(kv[1]) else math.inf)
        self.warned = True
        where = f'iteration {iteration}' if iteration is not None else 'this step'
        rate = f'{lr:.4g}' if lr is not None else 'unknown'
        message = (
            f'SAN training is diverging: the cross-entropy at {resolution} px is {value:.3g}, above '
            f'{self.factor:g} x ln({self.num_classes}) = {self.threshold:.3g} (chance level: {math.log(self.num_classes):.3g}), '
            f'at {where}, learning rate {rate}, loss_form {loss_form!r}. Lower the learning rate, use '
            f"loss_form='mean', clip the gradients or lengthen the warm-up: see {DIVERGENCE_DOCS}.")
        warnings.warn(message, SANDivergenceWarning, stacklevel=2)
        return message
