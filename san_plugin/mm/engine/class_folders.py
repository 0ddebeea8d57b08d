"""One class list per run: every split that reads class folders is checked against it at startup.

mmpretrain's ``CustomDataset`` (and ``ImageNet`` without ``meta/<split>.txt``) labels a
split's class folders in sorted order, each split on its own. A class folder present in one
split and not in another shifts every label after it in one of them, and an empty class
folder keeps an index without images; training and validation then run and report wrong
accuracy. :func:`check_class_folders`, a config step of the runner, takes the run's class
list once (the ``classes`` a split's dataset states, else the training split's folders) and
refuses, before anything is built, a split with a class folder missing, an extra one or an
empty one, naming the folder and the split. It lists folders (and a class folder up to its
first image); it reads no image. Splits read from an annotation file (``ann_file``,
ImageNet's ``meta/*.txt``) state their labels per line and are left as they are; so are
remote paths, datasets that are not ``CustomDataset``\\ s and splits whose folder does not
exist (the dataset names it when it is built).

Example:
    >>> SANRunner.add_config_step(check_class_folders)   # what ``import san_plugin.mm`` does
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from mmengine.config import Config
from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

from .checked_dataset import CheckedCustomDataset
from .folder_listing import class_folders, folder_differences, holds_an_image

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class ClassFolderError(ValueError):
    """A split's class folders differ from the run's class list, or a class folder holds no image."""


@dataclass
class _Split:
    """A loader's dataset that reads class folders."""
    name: str  # 'train', 'val', 'test'
    config: dict  # the dataset's config (``classes`` may be written into it)
    dataset: CustomDataset  # built with lazy_init: nothing listed or read yet

    @property
    def root(self) -> str:
        return self.dataset.img_prefix

    @property
    def stated(self) -> tuple[str, ...] | None:
        metainfo = self.config.get('metainfo') or {}
        stated = self.config.get('classes') is not None or metainfo.get('classes') is not None
        return tuple(self.dataset.CLASSES) if stated else None


def check_class_folders(cfg: Config) -> None:
    """Checks every split's class folders against the run's one class list (see the module doc).

    Where the class list is stated (``classes``) by one split only, it is written into the other
    splits' ``CheckedCustomDataset`` configs, which label their folders in its order.

    Raises:
        ClassFolderError: naming the split, the folder(s) and where the class list came from.
    """
    splits = [split for split in map(lambda loader: _folder_split(cfg, loader), LOADERS) if split is not None]
    stated = [split for split in splits if split.stated is not None]
    for other in stated[1:]:
        if other.stated != stated[0].stated:
            raise ClassFolderError(
                f'the {stated[0].name} and {other.name} splits state different classes: {list(stated[0].stated)} '
                f'and {list(other.stated)}; state one list (labels are indices into it)')
    present = [split for split in splits if os.path.isdir(split.root)]
    if stated:
        classes, source = stated[0].stated, f'the classes stated for the {stated[0].name} split'
    elif present:
        classes = tuple(class_folders(present[0].root))
        source = f'the class folders of the {present[0].name} split, {present[0].root}'
    else:
        return
    for split in present:
        _check_split(split, classes, source, sorted_labels=not stated)


def _check_split(split: _Split, classes: tuple[str, ...], source: str, sorted_labels: bool) -> None:
    where = f'the {split.name} split ({split.root})'
    differences = folder_differences(class_folders(split.root), classes, split.root)
    if differences:
        raise ClassFolderError(f'{where} does not hold the run\'s {len(classes)} classes (from {source}): '
                               f'{"; ".join(differences)}. Every split needs the same class folders, or the '
                               f'labels of the classes after the first difference shift')
    if not split.config.get('allow_empty_classes', False):
        empty = [os.path.join(split.root, name) for name in classes
                 if not holds_an_image(os.path.join(split.root, name), split.dataset.is_valid_file)]
        if empty:
            raise ClassFolderError(f'{where}: class folder(s) without images: {", ".join(empty)} (remove them '
                                   f'from every split, or give the dataset allow_empty_classes=True)')
    if sorted_labels:
        return
    checked = isinstance(split.dataset, CheckedCustomDataset)
    if not checked and list(classes) != sorted(classes):
        raise ClassFolderError(f'{where}: {type(split.dataset).__name__} labels class folders in sorted order, '
                               f'not in the order of {source}; use type=\'CheckedCustomDataset\', which follows it')
    if checked and split.stated is None:
        split.config['classes'] = list(classes)  # labelled in the order of the stated list


def _dataset_class(config: dict) -> type | None:
    kind = config.get('type')
    cls = kind if isinstance(kind, type) else DATASETS.get(kind) if isinstance(kind, str) else None
    return cls if isinstance(cls, type) else None


def _folder_split(cfg: Config, loader: str) -> _Split | None:
    """The loader's dataset if it reads class folders from a local path, built with ``lazy_init``; else None."""
    config = (cfg.get(loader) or {}).get('dataset') if isinstance(cfg.get(loader), dict) else None
    while isinstance(config, dict) and isinstance(config.get('dataset'), dict):  # RepeatDataset, ClassBalancedDataset
        config = config['dataset']
    cls = _dataset_class(config) if isinstance(config, dict) else None
    if cls is None or not issubclass(cls, CustomDataset):
        return None
    dataset = cls(**{**{k: v for k, v in config.items() if k != 'type'}, 'pipeline': [], 'lazy_init': True})
    if not dataset.with_label or dataset.ann_file or '://' in str(dataset.img_prefix):
        return None
    return _Split(loader.split('_')[0], config, dataset)
