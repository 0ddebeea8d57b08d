"""What a SAN training step checks before its update: finite losses on every rank, and divergence.

The per-resolution losses of an iteration stay on the device until every resolution ran; one
all-reduce of a ranks x resolutions table and one host read then check them, so a non-finite loss
on any rank stops every rank with the same error and no weight changes. The divergence warning
(``san_plugin.diagnostics.divergence``) reads the same host values.
"""
from __future__ import annotations

import logging
import math
import warnings
from typing import Sequence

import torch
import torch.distributed as dist
from mmengine.logging import MessageHub, print_log
from mmengine.optim import OptimWrapper

from san_plugin.diagnostics.divergence import DivergenceMonitor, SANDivergenceWarning


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; the step was not applied on any rank.

    Attributes:
        losses: ``(rank, resolution, value)`` of every non-finite per-resolution loss.
        iteration: the 1-based training iteration, when known (from mmengine's message hub).
    """

    def __init__(self, message: str, losses: Sequence[tuple[int, int, float]] = (),
                 iteration: int | None = None) -> None:
        super().__init__(message)
        self.losses = tuple(losses)
        self.iteration = iteration


def current_iteration() -> int | None:
    """The 0-based training iteration from mmengine's message hub, if a train loop runs (``runner.iter``)."""
    hub = MessageHub.get_current_instance()
    if hub.get_info('loop_stage') != 'train' or hub.get_info('iter') is None:
        return None
    return int(hub.get_info('iter'))


def losses_of_all_ranks(losses: torch.Tensor) -> torch.Tensor:
    """``world_size x k`` table of every rank's per-resolution losses (one all-reduce when a process
    group with several ranks exists; ``1 x k`` otherwise)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return losses[None]
    table = losses.new_zeros(dist.get_world_size(), losses.numel())
    table[dist.get_rank()] = losses
    dist.all_reduce(table)  # every other rank adds zeros: a NaN or an inf stays one
    return table


def check_finite(losses: list[float], world: int, resolutions: Sequence[int], optim_wrapper: OptimWrapper) -> None:
    """Raises :class:`NonFiniteLossError` (the same on every rank) if any rank's loss is not finite,
    after zeroing the gradients.

    Args:
        losses: the ``world x k`` loss table, flattened, on the host.
        world: the number of ranks.
        resolutions: the k resolutions, in the table's order.
        optim_wrapper: its gradients are zeroed before raising.
    """
    k = len(resolutions)
    bad = [(index // k, resolutions[index % k], value) for index, value in enumerate(losses)
           if not math.isfinite(value)]
    if not bad:
        return
    optim_wrapper.zero_grad()
    iteration = current_iteration()
    iteration = None if iteration is None else iteration + 1
    groups = []
    for bad_rank in sorted({r for r, _, _ in bad}):
        where = ', '.join(f'at resolution {s} px is {v}' for r, s, v in bad if r == bad_rank)
        groups.append(where + (f' on rank {bad_rank}' if world > 1 else ''))
    message = 'the training loss ' + '; '.join(groups)
    if world > 1:
        message += f' (of {world} ranks)'
    if iteration is not None:
        message += f' in iteration {iteration}'
    message += (f'; the step was not applied{" on any rank" if world > 1 else ""} (lower the learning rate, '
                f'enable gradient clipping, or check the data)')
    raise NonFiniteLossError(message, bad, iteration)


def check_divergence(monitor: DivergenceMonitor, ce: dict[int, float], optim_wrapper: OptimWrapper,
                     loss_form: str) -> None:
    """One warning, a log line, when a resolution's unweighted CE exceeds the monitor's bound.

    Args:
        monitor: the model's :class:`DivergenceMonitor` (it warns once per run).
        ce: ``{resolution: unweighted CE}`` of the resolutions this step ran.
        optim_wrapper: its current learning rate goes into the message.
        loss_form: ``'sum'`` or ``'mean'``, named in the message.
    """
    rates = optim_wrapper.get_lr().get('lr') or [None]
    iteration = current_iteration()
    with warnings.catch_warnings():  # said once, by the log (console and log file), not also on stderr
        warnings.simplefilter('ignore', SANDivergenceWarning)
        message = monitor.check(ce, iteration=None if iteration is None else iteration + 1, lr=rates[0],
                                loss_form=loss_form)
    if message:
        print_log(message, logger='current', level=logging.WARNING)
