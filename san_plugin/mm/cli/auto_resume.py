"""Auto-resume: a (re)started run continues from its work dir's newest checkpoint, if any.

What makes ``torchrun --max-restarts N`` continue training without a person: the
restarted workers run the same command, find the checkpoint the failed attempt left
and resume from it; the first start, with an empty work dir, trains from scratch (or
from the config's ``load_from``, as configured).
"""
from __future__ import annotations

import os

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner.checkpoint import find_latest_checkpoint


def apply_auto_resume(cfg: Config) -> str | None:
    """Resumes from ``cfg.work_dir``'s newest checkpoint if it holds one; else leaves ``cfg`` as it is.

    The newest checkpoint is the one named by the work dir's ``last_checkpoint`` (written
    atomically by ``CheckpointHook``). Unlike ``resume=True`` alone, a configured
    ``load_from`` (initial weights) is kept when there is nothing to resume, and replaced by
    the checkpoint when there is. Every rank must see the same work dir (a shared
    filesystem across nodes), as for ``--resume``.

    Returns:
        The checkpoint resumed from, or None when the run starts fresh.

    Example:
        >>> cfg = load_config('configs/demo/san_resnet18_demo.py')
        >>> cfg.auto_resume = True           # or tools/train.py --auto-resume
        >>> apply_auto_resume(cfg)            # None on the first start
    """
    restart = os.environ.get('TORCHELASTIC_RESTART_COUNT')
    attempt = f' (torchrun restart {restart})' if restart not in (None, '0') else ''
    latest = find_latest_checkpoint(cfg.work_dir) if os.path.isdir(cfg.work_dir) else None
    if latest is None:
        print_log(f'auto-resume{attempt}: no checkpoint in {cfg.work_dir}, starting fresh', logger='current')
        return None
    if not os.path.isfile(latest):
        raise FileNotFoundError(f'auto-resume: {os.path.join(cfg.work_dir, "last_checkpoint")} names {latest}, '
                                f'which does not exist')
    cfg.resume, cfg.load_from = True, latest
    print_log(f'auto-resume{attempt}: resuming from {latest}', logger='current')
    return latest
