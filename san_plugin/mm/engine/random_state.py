"""RandomStateHook: an epoch-based run resumed from a checkpoint draws the same augmentations."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop


class RandomStateHook(Hook):
    """Saves the Python, NumPy and torch random states in every checkpoint and restores
    them on resume, so that a resumed epoch-based run draws the same augmentations.

    mmengine reseeds nothing on resume. An iteration-based loop replays the batches it
    skips, which replays the draws too (nothing to restore there); an epoch-based loop
    starts the next epoch from a freshly seeded generator instead, so without this hook
    a run resumed at an epoch boundary sees other crops and flips than an uninterrupted
    one (with ``num_workers=0``; workers are reseeded every epoch anyway). Not restored:
    runs loaded with ``load_from`` (not resumed), and distributed runs with
    ``diff_rank_seed=True`` (the checkpoint holds rank 0's state only).

    Example:
        >>> default_hooks = dict(rng_state=dict(type='RandomStateHook'))
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = dict(python=random.getstate(), numpy=np.random.get_state(),
                                       torch=torch.get_rng_state())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state: dict[str, Any] | None = checkpoint.get('rng_state')
        if state is None or not getattr(runner, '_resume', False):
            return
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            return  # replaying the skipped batches replays their random draws
        if get_world_size() > 1 and runner._randomness_cfg.get('diff_rank_seed', False):
            print_log('RandomStateHook: random states not restored (diff_rank_seed=True: ranks differ)',
                      logger='current')
            return
        random.setstate(_as_python_state(state['python']))
        np.random.set_state(tuple(state['numpy']))
        torch.set_rng_state(state['torch'])


def _as_python_state(state: Any) -> tuple:
    """``random.setstate`` needs tuples; a checkpoint may hand lists back."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
