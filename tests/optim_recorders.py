"""An mmengine optimizer wrapper that records what a training step hands to the optimizer."""
from __future__ import annotations

import torch
from mmengine.optim import OptimWrapper


class RecordingOptimWrapper(OptimWrapper):
    """SGD at lr 0 (nothing moves); keeps the gradients seen at the optimizer step, and the number of steps."""

    def __init__(self, model, **kwargs):
        super().__init__(torch.optim.SGD(model.parameters(), lr=0.0), **kwargs)
        self.model, self.grads, self.steps = model, None, 0

    def step(self, **kwargs):
        self.steps += 1
        self.grads = {n: p.grad.clone() for n, p in self.model.named_parameters() if p.grad is not None}
