"""Mixed precision on any device: ``CPUAmpOptimWrapper`` (bf16 autocast without a GPU) and ``--amp``."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from torch import nn

_DTYPES = {'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16}


def _autocast_device(model: nn.Module) -> str:
    """The device type autocast must target: that of the model's first parameter."""
    for param in model.parameters():
        return param.device.type
    return 'cpu'


class CPUAmpOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose ``optim_context`` runs the forward under bf16 autocast.

    mmengine's ``AmpOptimWrapper`` refuses to run without a GPU. This wrapper autocasts
    to bfloat16 on the model's own device (``'cpu'``, or ``'cuda'`` if the model is on a
    GPU): convolutions and matmuls run in bf16, parameters, gradients and the optimizer
    state stay fp32. bf16 has fp32's exponent range, so there is no loss scaling:
    backward, clipping, accumulation and the step are exactly ``OptimWrapper``'s.
    ``tools/train.py --amp`` selects it on machines without a GPU.

    Args:
        dtype: the autocast dtype; only ``'bfloat16'`` (fp16 needs loss scaling: use
            ``AmpOptimWrapper`` on a GPU).
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``accumulative_counts``,
            ``clip_grad``).

    Example:
        >>> optim_wrapper = dict(type='CPUAmpOptimWrapper',
        ...                      optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    """

    def __init__(self, dtype: str | torch.dtype = 'bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        cast = _DTYPES.get(dtype) if isinstance(dtype, str) else dtype
        if cast is not torch.bfloat16:
            raise ValueError(f'CPUAmpOptimWrapper supports dtype="bfloat16" only (no loss scaling), got {dtype!r}; '
                             f'for fp16 on a GPU use AmpOptimWrapper')
        self.cast_dtype = cast

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """``OptimWrapper``'s context (gradient-sync control) plus bf16 autocast."""
        with super().optim_context(model), torch.autocast(_autocast_device(model), dtype=self.cast_dtype):
            yield


def use_amp(cfg: Config) -> None:
    """``--amp``: fp16 with dynamic loss scaling on GPUs, bf16 autocast on the CPU.

    Example:
        >>> use_amp(cfg)  # cfg.optim_wrapper.type is now 'AmpOptimWrapper' or 'CPUAmpOptimWrapper'
    """
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'
