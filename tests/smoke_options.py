"""The ``--cfg-options`` a user gives to turn any shipped config into a seconds-long smoke run.

Only data roots, batch sizes, loader workers, epochs and the log interval change; never the
resolutions, the model or the pipelines. Test modules import it as ``smoke_options``.
"""
from __future__ import annotations

from pathlib import Path

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def smoke_options(cfg, data_root: Path, batch_size: int = 2) -> dict:
    """``{key: value}`` for ``cfg.merge_from_dict`` (the loaders that ``cfg`` has)."""
    options = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1, 'default_hooks.logger.interval': 1}
    for loader in LOADERS:
        if cfg.get(loader) is None:
            continue
        options.update({f'{loader}.dataset.data_root': str(data_root), f'{loader}.batch_size': batch_size,
                        f'{loader}.num_workers': 0, f'{loader}.persistent_workers': False})
    return options


def as_cli(options: dict) -> list[str]:
    """The same options as command-line words: ``['--cfg-options', 'k=v', ...]``."""
    return ['--cfg-options', *(f'{key}={value}' for key, value in options.items())]
