"""Every module's train/eval flag kept across a temporary change (evaluation, calibration)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def train_modes_restored(model: nn.Module) -> Iterator[None]:
    """Restores every module's ``training`` flag on exit to what it was on entry, whatever the
    body sets (``model.eval()``, one layer in train mode...).

    Example:
        >>> with train_modes_restored(net):
        ...     net.eval()
        >>> net.training
        True
    """
    modes = {module: module.training for module in model.modules()}
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training
