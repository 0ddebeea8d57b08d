"""LossScaleRecorderHook: the AMP loss scale and the loss of every training iteration.

Loaded by the GPU check's demo runs through ``custom_imports`` (the repository root on
``PYTHONPATH``; see ``benchmarks/gpu/demo_gpu.py``). Every iteration it puts the loss
scale of mmengine's ``AmpOptimWrapper`` into the message hub as ``train/loss_scale`` (so
it is logged with the other scalars) and keeps the exact history; after training it
writes ``loss_scale.json`` into the work dir: the wrapper type, ``[iteration, scale]`` and
``[iteration, loss]`` per iteration, and the iterations where the scale went down (a
step skipped for inf/NaN gradients).
"""
from __future__ import annotations

import json
import math
import os

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class LossScaleRecorderHook(Hook):
    """Records the loss scale (AMP with a ``GradScaler``) and the loss of every iteration.

    Args:
        filename: written into the runner's work dir after training.

    Example:
        >>> custom_imports = dict(imports=['san_plugin.mm', 'benchmarks.gpu.loss_scale_hook'])
        >>> custom_hooks = [dict(type='LossScaleRecorderHook')]
    """

    priority = 'LOW'

    def __init__(self, filename: str = 'loss_scale.json') -> None:
        self.filename = filename
        self.scales: list[list[float]] = []
        self.losses: list[list[float]] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        iteration = runner.iter + 1  # the loop counts the iteration after its hooks ran
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if scaler is not None:
            scale = float(scaler.get_scale())
            runner.message_hub.update_scalar('train/loss_scale', scale)
            self.scales.append([iteration, scale])
        if isinstance(outputs, dict) and 'loss' in outputs:
            self.losses.append([iteration, float(outputs['loss'])])

    def after_train(self, runner) -> None:
        if is_main_process():
            write_history(os.path.join(runner.work_dir, self.filename), type(runner.optim_wrapper).__name__,
                          self.scales, self.losses)


def write_history(path: str, wrapper: str, scales: list[list[float]], losses: list[list[float]]) -> dict:
    """Writes (and returns) the recorded history with the iterations where the scale went down."""
    decreases = [int(it) for (it, scale), (_, previous) in zip(scales[1:], scales) if scale < previous]
    record = dict(wrapper=wrapper, scales=scales, losses=losses, scale_decreases=decreases,
                  non_finite_losses=[int(it) for it, loss in losses if not math.isfinite(loss)])
    with open(path, 'w') as handle:
        json.dump(record, handle)
    return record
