"""Reading a config as MMPretrain's tools do."""
from __future__ import annotations

import os
from typing import Mapping

import torch
from mmengine.config import Config, ConfigDict
from mmengine.utils import import_modules_from_strings

from .config_keys import check_overrides


def load_config(path: str, cfg_options: dict | None = None, work_dir: str | None = None,
                launcher: str = 'none', set_by: Mapping[str, str] | None = None) -> Config:
    """Reads a config, applies ``--cfg-options`` and ``--work-dir`` as MMPretrain's tools do.

    An option whose top-level key the run would not read (a variable the file used already, a
    key nothing reads) is refused naming the key to override instead
    (:func:`~san_plugin.mm.cli.config_keys.check_overrides`); so is one under ``launcher``
    (``--launcher``), ``work_dir`` when ``--work-dir`` is given, or a key in ``set_by``. The data
    loaders default to ``pin_memory`` on a GPU machine and mmengine's ``default_collate``, as
    MMPretrain's ``tools/train.py`` sets them.

    Args:
        set_by: top-level keys the calling tool sets itself, and the argument that does
            (e.g. ``{'load_from': 'the CHECKPOINT argument'}``).

    Raises:
        UnusedConfigKeyError: an option the run would not read.

    Example:
        >>> cfg = load_config('configs/demo/san_resnet18_demo.py', {'train_cfg.max_epochs': 1})
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        owned = {'launcher': '--launcher', **({'work_dir': '--work-dir'} if work_dir is not None else {}),
                 **(set_by or {})}
        merge_options(cfg, cfg_options, path, owned)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = os.path.join('./work_dirs', os.path.splitext(os.path.basename(path))[0])
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field) is not None:
            loader = ConfigDict(pin_memory=torch.cuda.is_available(), collate_fn=dict(type='default_collate'))
            loader.update(cfg[field])
            cfg[field] = loader
    return cfg


def merge_options(cfg: Config, cfg_options: dict, path: str, set_by: Mapping[str, str] | None = None) -> None:
    """Merges ``--cfg-options`` into ``cfg`` as read from ``path``, refusing those the run would not read.

    Raises:
        UnusedConfigKeyError: naming the option and the key that does the job.

    Example:
        >>> merge_options(cfg, {'model.san.resolutions': [160, 128]}, 'configs/san_resnet50_imagenet.py')
    """
    check_overrides(cfg, cfg_options, path, set_by)
    cfg.merge_from_dict(cfg_options)
    if any(key.split('.', 1)[0] == 'custom_imports' for key in cfg_options):
        import_modules_from_strings(**cfg.custom_imports)  # Config.fromfile imported the file's list only
