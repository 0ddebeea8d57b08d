"""Hooks that the tests in this folder load into training runs (``custom_imports``).

They simulate crashes deterministically and dump what the tests compare; they are not
part of the package.
"""
from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


@HOOKS.register_module()
class CrashHook(Hook):
    """Crashes the run after iteration ``at_iter`` (1-based) has been checkpointed.

    ``action``: ``'kill'`` SIGKILLs the process itself; ``'wait'`` writes ``marker`` and
    sleeps until the test SIGKILLs it from outside; ``'kill_mid_write'`` SIGKILLs the
    process inside the next checkpoint write, after half the file reached the disk.
    """

    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, at_iter: int, action: str = 'kill', marker: str | None = None) -> None:
        self.at_iter, self.action, self.marker = at_iter, action, marker

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.action == 'kill_mid_write' and runner.iter + 1 == self.at_iter:
            def fsync_then_die(fd: int) -> None:  # the first fsync is the checkpoint's temp file
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                os.kill(os.getpid(), signal.SIGKILL)
            os.fsync = fsync_then_die

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 != self.at_iter:  # runner.iter counts finished iterations - 1 here
            return
        if self.action == 'kill':
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.action == 'wait':
            with open(self.marker, 'w') as file:
                file.write(str(os.getpid()))
            while True:
                time.sleep(0.1)


@HOOKS.register_module()
class DumpStateHook(Hook):
    """At the end of training, saves this rank's state dict and all-reduce counts.

    Writes ``<out_dir>/rank<R>.pth`` with ``state_dict`` (tensors only), ``allreduce``:
    for every iteration, how often each gradient bucket was all-reduced, ``images``:
    the image paths of every batch, and ``ran``: the resolutions each iteration trained
    (its logged ``loss_ce_<S>``), largest first.
    """

    priority = 'LOWEST'

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.counts: list[Counter] = []
        self.images: list[list[str]] = []
        self.ran: list[list[int]] = []

    def before_train(self, runner) -> None:
        if not isinstance(runner.model, torch.nn.parallel.DistributedDataParallel):
            return
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        def counting_hook(state, bucket):
            self.counts[-1][bucket.index()] += 1
            return allreduce_hook(state, bucket)

        runner.model.register_comm_hook(None, counting_hook)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.counts.append(Counter())
        self.images.append([sample.img_path for sample in data_batch['data_samples']])

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.ran.append(sorted((int(k[len('loss_ce_'):]) for k in outputs or {} if k.startswith('loss_ce_')),
                               reverse=True))

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = {k: v.detach().clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
        os.makedirs(self.out_dir, exist_ok=True)
        torch.save({'state_dict': state, 'allreduce': [dict(c) for c in self.counts],
                    'images': self.images, 'ran': self.ran},
                   os.path.join(self.out_dir, f'rank{_rank()}.pth'))


@HOOKS.register_module()
class PoisonHook(Hook):
    """Sets one weight to NaN before iteration ``at_iter`` (1-based): its loss is NaN."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 == self.at_iter:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            with torch.no_grad():
                next(model.head.parameters()).fill_(float('nan'))


@HOOKS.register_module()
class RankPoisonHook(Hook):
    """Sets one weight to NaN on rank ``rank`` only, before iteration ``at_iter`` (1-based):
    that rank's loss is NaN (bad data on one rank), the other ranks' losses stay finite."""

    def __init__(self, at_iter: int, rank: int) -> None:
        self.at_iter, self.rank = at_iter, rank

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 == self.at_iter and _rank() == self.rank:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            with torch.no_grad():
                next(model.head.parameters()).fill_(float('nan'))


@HOOKS.register_module()
class RankCrashHook(Hook):
    """Stops rank ``rank`` after iteration ``at_iter`` (1-based) has been checkpointed.

    ``action``: ``'kill'`` SIGKILLs the process (it dies, its sockets close); ``'stop'``
    SIGSTOPs it (a stalled process: alive, sockets open, silent, as a hung GPU or node).
    ``marker``: written first, ``{"pid": ..., "time": ...}``, so a test knows when and whom.
    ``once``: do nothing if ``marker`` exists, i.e. a worker that kills itself once and runs
    normally after torchrun restarts it.
    """

    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, at_iter: int, rank: int, action: str = 'kill', marker: str | None = None,
                 once: bool = False) -> None:
        if action not in ('kill', 'stop') or (once and marker is None):
            raise ValueError(f'RankCrashHook: action must be kill or stop (got {action!r}); once needs a marker')
        self.at_iter, self.rank, self.action, self.marker, self.once = at_iter, rank, action, marker, once

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 != self.at_iter or _rank() != self.rank:
            return
        if self.marker is not None:
            if self.once and os.path.exists(self.marker):
                return
            with open(self.marker, 'w') as file:
                json.dump({'pid': os.getpid(), 'time': time.time()}, file)
        os.kill(os.getpid(), signal.SIGKILL if self.action == 'kill' else signal.SIGSTOP)
