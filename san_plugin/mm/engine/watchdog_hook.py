"""DistWatchdogHook: a distributed training run whose rank dies or stalls stops within a bound,
naming the lost rank and the newest checkpoint."""
from __future__ import annotations

import os
import re
import sys
from functools import partial

from mmengine.config import Config
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner.checkpoint import find_latest_checkpoint

from .watchdog import EXIT_CODE, LostRank, PeerWatchdog, describe_lost

DEFAULT_SETTINGS = dict(timeout=180.0, interval=5.0)
"""``dist_watchdog`` of a config that sets none: a rank silent for 3 minutes is lost."""


class DistWatchdogHook(Hook):
    """Runs a :class:`~san_plugin.mm.engine.watchdog.PeerWatchdog` on every rank during training.

    A rank whose heartbeat stops for ``timeout`` seconds (killed, stalled, its node gone)
    makes every other rank log ``rank N (host, pid P) stopped responding: ...`` with the
    newest checkpoint, and exit with status 1. ``tools/train.py`` adds this hook to every
    distributed run (``dist_watchdog = dict(timeout=..., interval=...)`` in the config,
    ``dist_watchdog = None`` turns it off); with MMPretrain's own ``tools/train.py`` add it
    to ``custom_hooks``. Single-process runs start nothing.

    Args:
        timeout: seconds without a heartbeat after which a rank is lost.
        interval: seconds between heartbeats.

    Example:
        >>> custom_hooks = [dict(type='DistWatchdogHook', timeout=180, interval=5)]
    """

    priority = 'VERY_HIGH'

    def __init__(self, timeout: float = DEFAULT_SETTINGS['timeout'],
                 interval: float = DEFAULT_SETTINGS['interval']) -> None:
        if not 0 < interval < timeout:
            raise ValueError(f'DistWatchdogHook needs 0 < interval < timeout, got interval={interval}, '
                             f'timeout={timeout}')
        self.timeout, self.interval = float(timeout), float(interval)
        self.watchdog: PeerWatchdog | None = None

    def before_run(self, runner) -> None:
        if get_world_size() <= 1 or self.watchdog is not None:
            return
        self.watchdog = PeerWatchdog.connect(timeout_s=self.timeout, interval_s=self.interval,
                                             on_lost=partial(self._stop_run, runner))
        self.watchdog.start()
        print_log(f'distributed watchdog: rank {get_rank()} of {get_world_size()} beats every '
                  f'{self.interval:g} s; a rank silent for {self.timeout:g} s stops the run '
                  f'(store {self.watchdog.store_address})', logger='current')

    def after_run(self, runner) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None

    def explain(self, runner, error: BaseException) -> str | None:
        """After ``error`` in a distributed run: the message naming the lost ranks, or None if every peer lives."""
        if self.watchdog is None:
            return None
        lost = self.watchdog.probe()
        if not lost:
            return None
        self.watchdog.stop()
        return self._message(runner, lost, f'after {_first_sentence(error)}')

    def _message(self, runner, lost: list[LostRank], when: str) -> str:
        latest = find_latest_checkpoint(runner.work_dir) or 'none'
        return (f'{describe_lost(lost)} ({when}); rank {get_rank()} of {get_world_size()} stops at iteration '
                f'{runner.iter + 1}. Newest checkpoint: {latest}')

    def _stop_run(self, runner, lost: list[LostRank]) -> None:
        message = self._message(runner, lost, f'distributed watchdog, timeout {self.timeout:g} s')
        print_log(message, logger='current', level=40)
        print(message, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(EXIT_CODE)


def use_dist_watchdog(cfg: Config) -> None:
    """Adds a :class:`DistWatchdogHook` to a distributed run's ``custom_hooks``.

    Settings come from the config's ``dist_watchdog`` (default ``timeout=180, interval=5``);
    ``dist_watchdog = None`` leaves the run without one, as does a config that already lists
    the hook. Single-process runs (``launcher='none'``) are left unchanged.

    Example:
        >>> cfg = load_config('configs/demo/san_resnet18_demo.py', launcher='pytorch')
        >>> use_dist_watchdog(cfg)
    """
    settings = cfg.get('dist_watchdog', DEFAULT_SETTINGS)
    hooks = list(cfg.get('custom_hooks') or [])
    if cfg.launcher == 'none' or settings is None or any(_is_watchdog(h) for h in hooks):
        return
    cfg.custom_hooks = hooks + [dict(type='DistWatchdogHook', **{**DEFAULT_SETTINGS, **settings})]


def explain_lost_ranks(runner, error: BaseException) -> str | None:
    """The message naming the ranks lost when ``error`` stopped ``runner``'s training, if any.

    Example:
        >>> try:
        ...     runner.train()
        ... except Exception as error:
        ...     message = explain_lost_ranks(runner, error)
        ...     if message:
        ...         raise SystemExit(message) from error
        ...     raise
    """
    for hook in getattr(runner, 'hooks', []):
        if isinstance(hook, DistWatchdogHook):
            return hook.explain(runner, error)
    return None


def _first_sentence(error: BaseException) -> str:
    """``RuntimeError: Connection reset by peer`` from gloo's ``[.../pair.cc:545] Read error ...: ... peer. This ...``."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ''
    text = re.sub(r'^\[[^\]]*\.(cc|cpp|h|hpp):\d+\]\s*', '', text).split('. ')[0]
    return f'{type(error).__name__}: {text[:200]}'


def _is_watchdog(hook) -> bool:
    kind = hook.get('type') if isinstance(hook, dict) else hook
    return kind in ('DistWatchdogHook', DistWatchdogHook) or isinstance(kind, DistWatchdogHook)
