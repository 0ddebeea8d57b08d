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


PRETRAINED_INITS = ('Pretrained', 'StrictPretrained')


def pretrained_stub_options(cfg, folder: Path) -> dict:
    """For a config that initialises from a trained plain model (``init_cfg`` of type
    ``Pretrained``/``StrictPretrained`` on its backbone or head): writes that plain model's
    checkpoint (the config's model with ``san=None``, freshly initialised) into ``folder``
    and returns the options pointing the ``init_cfg`` entries at it. ``{}`` otherwise."""
    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    parts = [part for part in ('backbone', 'head')
             if (cfg.model.get(part) or {}).get('init_cfg', {}).get('type') in PRETRAINED_INITS]
    if not parts:
        return {}
    plain = cfg.model.to_dict()
    if plain.get('san') is not None:  # the same classifier unconverted: its head states the SAN's list itself
        from san_plugin.mm.resolutions import training_sizes
        plain['head'] = dict(plain['head'], resolutions=list(training_sizes(cfg)[0]))
        plain['san'] = None
    for part in parts:
        plain[part] = {k: v for k, v in plain[part].items() if k != 'init_cfg'}
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(plain)
    model.init_weights()
    path = Path(folder) / 'pretrained_plain.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return {f'model.{part}.init_cfg.checkpoint': str(path) for part in parts}
