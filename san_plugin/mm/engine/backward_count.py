"""Several backward passes inside one iteration of an mmengine ``OptimWrapper``.

``OptimWrapper.backward`` counts every call as one iteration (``_inner_count += 1``), and
``scale_loss``, ``should_sync`` and ``should_update`` read that count to scale the loss for
gradient accumulation and to decide when to all-reduce and step. A model that backpropagates
several losses per iteration (one per input resolution, to keep the peak memory of one) must
count one. mmengine 0.10.7 has no public way to do that: ``inner_count`` is read-only,
``initialize_count_status`` resets the count and warns, and a bare ``loss.backward()`` would skip
``AmpOptimWrapper``'s loss scaling. So the extra calls are uncounted here, the only place that
touches the counter.
"""
from __future__ import annotations

import torch
from mmengine.optim import OptimWrapper


def backward_within_iteration(optim_wrapper: OptimWrapper, loss: torch.Tensor, last: bool) -> None:
    """``optim_wrapper.backward(optim_wrapper.scale_loss(loss))``, counted once per iteration.

    Args:
        optim_wrapper: mmengine's wrapper (AMP scaling, accumulation and clipping as usual).
        loss: one of the iteration's losses.
        last: whether this is the iteration's last backward; only that one is counted.

    Example:
        >>> for index, loss in enumerate(losses):  # one per resolution
        ...     backward_within_iteration(optim_wrapper, loss, last=index == len(losses) - 1)
    """
    optim_wrapper.backward(optim_wrapper.scale_loss(loss))
    if not last:
        optim_wrapper._inner_count -= 1
