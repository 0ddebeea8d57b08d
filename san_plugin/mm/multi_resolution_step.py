"""The training step of a SAN: its resolutions largest first, one backward each, one update.

``SANClassifier.train_step`` hands the step to a :class:`MultiResolutionStep`. Which resolutions a
step runs comes from :class:`~san_plugin.core.sampling.ResolutionSampling`; what is checked before
the update (finite losses on every rank, divergence) from :mod:`san_plugin.mm.step_checks`; the
one mmengine workaround (several backward passes counted as one iteration) from
:mod:`san_plugin.mm.engine.backward_count`.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable

import torch
from mmengine.optim import OptimWrapper

from san_plugin.core import input_resolution
from san_plugin.core.sampling import ResolutionSampling
from san_plugin.diagnostics.divergence import DivergenceMonitor
from .engine.backward_count import backward_within_iteration
from .preprocessor import SANDataPreprocessor
from .step_checks import check_divergence, check_finite, current_iteration, losses_of_all_ranks


class MultiResolutionStep:
    """Runs one optimisation step of a ``SANClassifier`` over its (drawn) training resolutions.

    Every resolution's loss goes through ``optim_wrapper.scale_loss`` and
    ``optim_wrapper.backward`` (accumulation, AMP loss scaling), and the update is
    ``optim_wrapper.step()`` + ``zero_grad()`` when ``should_update()``, as in
    ``OptimWrapper.update_params``, so clipping, ``AmpOptimWrapper``, ``CPUAmpOptimWrapper`` and
    ``accumulative_counts`` behave as there. The losses stay on the device until all resolutions
    ran: one host read per iteration (with the log values) checks them, all-reduced over the ranks
    of a process group, before the update.

    Args:
        sampling: which resolutions a step runs (``'all'``, or a sandwich drawn per iteration).
        num_classes: the head's classes (the divergence check's chance level).

    Example:
        >>> step = MultiResolutionStep(ResolutionSampling('sandwich', num_random=1), num_classes=1000)
        >>> log_vars = step(model, data, optim_wrapper)  # what SANClassifier.train_step returns
    """

    def __init__(self, sampling: ResolutionSampling, num_classes: int) -> None:
        self.sampling = sampling
        self.divergence = DivergenceMonitor(num_classes)
        self._steps_outside_a_loop = 0

    def resolutions(self, model) -> tuple[int, ...] | None:
        """The resolutions this step runs (None: every one, ``sampling`` ``'all'``).

        The iteration is mmengine's (``runner.iter``, restored on resume); a step outside a
        train loop counts this step's own calls."""
        if self.sampling.type == 'all':
            return None
        iteration = current_iteration()
        if iteration is None:
            iteration = self._steps_outside_a_loop
            self._steps_outside_a_loop += 1
        return self.sampling.draw(model.resolutions, iteration)

    def __call__(self, model, data: dict | tuple | list, optim_wrapper: OptimWrapper,
                 forward: Callable[..., Any] | None = None) -> dict[str, torch.Tensor]:
        forward = model if forward is None else forward  # a compiled module has no truth value
        sizes = self.resolutions(model)
        with optim_wrapper.optim_context(model):
            data = _preprocess(model.data_preprocessor, data, sizes)
        views = data['inputs'] if isinstance(data['inputs'], (list, tuple)) else [data['inputs']]
        if sizes is not None:
            views = [view for view in views if input_resolution(view) in sizes]
        views = [model._to_memory_format(view) for view in views]
        samples = data['data_samples']
        sync_last = optim_wrapper.should_sync()  # the iteration that ends an accumulation window
        no_sync = getattr(forward, 'no_sync', None)
        teachers: list[torch.Tensor] = []
        losses_seen: list[torch.Tensor] = []
        log_vars: dict[str, torch.Tensor] = {}
        for index, inputs in enumerate(views):
            last = index == len(views) - 1
            sync = no_sync is None or (last and sync_last)
            with optim_wrapper.optim_context(model), (nullcontext() if sync else no_sync()):
                logits = forward(inputs, mode='tensor')
                losses = model.head.loss_from_logits(logits, samples, resolution=input_resolution(inputs),
                                                     teachers=tuple(teachers), present=len(views))
            teachers.append(logits.detach())
            loss, resolution_vars = model.parse_losses(losses)
            losses_seen.append(loss.detach().reshape(()).float())
            backward_within_iteration(optim_wrapper, loss, last)
            for key, value in resolution_vars.items():
                key = 'loss_sd' if key.startswith('loss_sd_') else key
                log_vars[key] = log_vars.get(key, 0) + value
        table = losses_of_all_ranks(torch.stack(losses_seen))
        names = list(log_vars)
        logged = torch.stack([log_vars[name].detach().double().reshape(()) for name in names])
        # The one host read of the iteration: every rank's per-resolution losses and this
        # rank's log values (mmengine's logging reads each log value with .item() otherwise).
        values = torch.cat([table.flatten().double(), logged.to(table.device)]).tolist()
        check_finite(values[:table.numel()], table.shape[0], [input_resolution(v) for v in views], optim_wrapper)
        logged_values = dict(zip(names, values[table.numel():]))
        check_divergence(self.divergence, _unweighted_ce(model.head, logged_values, len(views)), optim_wrapper,
                         model.head.loss_form.form)
        if optim_wrapper.should_update():
            optim_wrapper.step()
            optim_wrapper.zero_grad()
        return {name: torch.tensor(value, dtype=log_vars[name].dtype) for name, value in logged_values.items()}


def _preprocess(preprocessor, data: dict | tuple | list, sizes: tuple[int, ...] | None) -> dict:
    """The data preprocessor's training output; a sampled step asks ``SANDataPreprocessor`` for the
    drawn views only (other preprocessors make every view and the step drops the rest)."""
    if sizes is not None and isinstance(preprocessor, SANDataPreprocessor):
        return preprocessor(data, True, resolutions=sizes)
    return preprocessor(data, True)


def _unweighted_ce(head, logged: dict[str, float], present: int) -> dict[int, float]:
    """``{resolution: CE}`` of the step's logged ``loss_ce_<S>`` values, without their weights."""
    ce = {}
    for name, value in logged.items():
        if name.startswith('loss_ce_'):
            resolution = int(name[len('loss_ce_'):])
            weight = head.ce_weight(resolution, present)
            if weight:
                ce[resolution] = value / weight
    return ce
