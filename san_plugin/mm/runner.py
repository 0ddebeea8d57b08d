"""SANRunner: mmengine's Runner, able to start distributed training of a SAN (whose state
dict holds its metadata, a non-tensor entry), preparing its config in registered steps, and the
runner the tools build from a config."""
from __future__ import annotations

import copy
from typing import Callable

import torch
from mmengine.config import Config
from mmengine.dist import broadcast
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from san_plugin.core import SANMetadataError
from .metadata_mismatch import explain_metadata_error


@RUNNERS.register_module()
class SANRunner(Runner):
    """mmengine's ``Runner``, broadcasting only the tensors of the initial state dict.

    After ``init_weights`` the Runner broadcasts every state-dict entry from rank 0;
    a SAN's state dict also holds its metadata (``san._extra_state``, a dict), which
    mmengine's ``broadcast`` refuses. This runner broadcasts the tensors only (the
    metadata is the same on every rank: it comes from the config). Registered in
    mmengine's ``RUNNERS`` as ``'SANRunner'``, the ``runner_type`` of ``configs/_base_/default_runtime.py``.

    :meth:`from_cfg` (what MMPretrain's tools and ours call, through ``runner_type``) runs
    every function of :attr:`config_steps` on its copy of the config first, after
    ``--cfg-options`` were merged: ``san_plugin.mm`` adds the one that derives every
    training-size setting from the config's one statement of it.

    Example:
        >>> runner_type = 'SANRunner'  # in a config; tools/train.py uses it by default
    """

    #: ``step(cfg) -> None`` functions that complete or check a config before the Runner is built.
    config_steps: list[Callable[[Config], None]] = []

    @classmethod
    def add_config_step(cls, step: Callable[[Config], None]) -> None:
        """Runs ``step`` on every config :meth:`from_cfg` builds a runner from (once, however often added)."""
        if step not in cls.config_steps:
            cls.config_steps.append(step)

    @classmethod
    def from_cfg(cls, cfg: Config) -> Runner:
        cfg = copy.deepcopy(cfg)
        for step in cls.config_steps:
            step(cfg)
        return super().from_cfg(cfg)

    def load_checkpoint(self, filename: str, *args, **kwargs) -> dict:
        """mmengine's, with a checkpoint of another SAN refused naming the file and the settings to give
        (``load_from``, ``--resume``, ``tools/test.py``)."""
        try:
            return super().load_checkpoint(filename, *args, **kwargs)
        except SANMetadataError as error:
            raise explain_metadata_error(error, filename, self.model) from error

    def _init_model_weights(self) -> None:
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if hasattr(model, 'init_weights'):
            model.init_weights()
            for value in model.state_dict().values():
                if isinstance(value, torch.Tensor):
                    broadcast(value)


def build_runner(cfg: Config) -> Runner:
    """The config's ``runner_type`` (default ``SANRunner``), built as MMPretrain's tools do."""
    return RUNNERS.build(cfg) if 'runner_type' in cfg else SANRunner.from_cfg(cfg)
