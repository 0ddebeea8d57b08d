"""Fixtures for the MMPretrain glue: a tiny folder dataset and a tiny SAN config."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

TINY_RESOLUTIONS = [32, 24]


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Registry look-ups in mmpretrain's scope, whatever an earlier test in this worker left."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def write_folder_dataset(root: Path, classes=('a', 'b'), per_class: dict | None = None, size: int = 40,
                         seed: int = 0) -> Path:
    """ImageNet-layout JPEGs whose class is a colour cue (learnable in a few steps)."""
    per_class = per_class or {'train': 4, 'val': 2}
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 80, size=(size, size, 3), dtype=np.uint8)
                pixels[..., index % 3] += 150
                Image.fromarray(pixels).save(folder / f'{name}_{i}.JPEG')
    return root


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_folder_dataset(tmp_path / 'data')


def tiny_cfg_options(data_root: Path, resolutions=TINY_RESOLUTIONS, num_classes: int = 2) -> list[str]:
    """--cfg-options turning the demo config into a seconds-long run on ``data_root``."""
    res = '[' + ','.join(str(r) for r in resolutions) + ']'
    return [
        f'train_dataloader.dataset.data_root={data_root}', f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'model.head.num_classes={num_classes}', f'data_preprocessor.num_classes={num_classes}',
        f'data_preprocessor.resolutions={res}',
        'model.backbone.base_channels=8', 'model.backbone.stem_channels=8', 'model.head.in_channels=64',
        f'model.san.resolutions={res}', f'model.head.resolutions={res}',
        f'train_dataloader.dataset.pipeline.1.resolutions={res}',
        f'val_dataloader.dataset.pipeline.1.resolutions={res}',
        'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4', 'test_dataloader.batch_size=4',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False',
        'test_dataloader.persistent_workers=False',
        'val_evaluator.topk=1', 'test_evaluator.topk=1', 'model.head.topk=1',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
    ]
