"""``--cfg-options`` that turn the demo config into a seconds-long run of a narrow SAN.

Test modules of this folder import it as ``demo_options`` (pytest puts the folder on ``sys.path``).
"""
from __future__ import annotations

from pathlib import Path

TINY_RESOLUTIONS = [32, 24]


def tiny_cfg_options(data_root: Path, resolutions=TINY_RESOLUTIONS, num_classes: int = 2) -> list[str]:
    """--cfg-options turning the demo config into a seconds-long run on ``data_root``."""
    res = '[' + ','.join(str(r) for r in resolutions) + ']'
    return [
        f'train_dataloader.dataset.data_root={data_root}', f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'model.head.num_classes={num_classes}', f'data_preprocessor.num_classes={num_classes}',
        'model.backbone.base_channels=8', 'model.backbone.stem_channels=8', 'model.head.in_channels=64',
        f'model.san.resolutions={res}',  # the one key: head, preprocessor, views and test crop follow
        'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4', 'test_dataloader.batch_size=4',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False',
        'test_dataloader.persistent_workers=False',
        'val_evaluator.topk=1', 'test_evaluator.topk=1', 'model.head.topk=1',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
    ]
