"""Reading a config as MMPretrain's tools do."""
from __future__ import annotations

import os

import torch
from mmengine.config import Config, ConfigDict


def load_config(path: str, cfg_options: dict | None = None, work_dir: str | None = None,
                launcher: str = 'none') -> Config:
    """Reads a config, applies ``--cfg-options`` and ``--work-dir`` as MMPretrain's tools do.

    The data loaders default to ``pin_memory`` on a GPU machine and mmengine's
    ``default_collate``, as MMPretrain's ``tools/train.py`` sets them.

    Example:
        >>> cfg = load_config('configs/demo/san_resnet18_demo.py', {'train_cfg.max_epochs': 1})
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
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
