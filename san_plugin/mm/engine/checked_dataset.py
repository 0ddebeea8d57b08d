"""CheckedCustomDataset: mmpretrain's ``CustomDataset`` with its silent cases made errors.

An empty class folder, class folders that differ from the stated ``classes`` and an annotation
file naming missing files are errors naming the folders or the files. Registered in
MMPretrain's ``DATASETS`` by :func:`~san_plugin.mm.engine.install_engine_fixes`.
"""
from __future__ import annotations

import os

import numpy as np
from mmpretrain.datasets import CustomDataset

from .folder_listing import class_folders, folder_differences


class CheckedCustomDataset(CustomDataset):
    """mmpretrain's ``CustomDataset`` that refuses what it would accept silently.

    On top of ``CustomDataset``'s own errors (missing or empty folder), it raises a
    ``ValueError`` naming the folder of a class without images (``CustomDataset`` only
    logs it, and trains without that class) and a ``FileNotFoundError`` naming the
    annotation file and the first missing images it lists. Given ``classes``, it reads
    exactly those class folders and labels them in that order (``CustomDataset`` labels
    whatever folders it finds in sorted order and only compares their number), refusing
    folders that are missing or not listed. The runner's check of every split against one
    class list (``san_plugin.mm.engine.class_folders``) writes that list here.

    Args:
        allow_empty_classes: accept class folders without images.
        check_files: check at start-up that every file an annotation file lists exists (one
            ``stat`` per image; local files only).
        **kwargs: ``CustomDataset`` arguments.

    Example:
        >>> dataset = dict(type='CheckedCustomDataset', data_root='data/imagenet', data_prefix='train',
        ...                pipeline=train_pipeline)
    """

    def __init__(self, *args, allow_empty_classes: bool = False, check_files: bool = True, **kwargs) -> None:
        self.allow_empty_classes = allow_empty_classes
        self.check_files = check_files
        super().__init__(*args, **kwargs)

    def _find_samples(self) -> list:
        if not (self.with_label and self.CLASSES is not None):
            return super()._find_samples()
        differences = folder_differences(class_folders(self.img_prefix), self.CLASSES, self.img_prefix)
        if differences:
            raise ValueError(f'the class folders of {self.img_prefix} are not the {len(self.CLASSES)} stated '
                             f'classes: {"; ".join(differences)}')
        samples = super()._find_samples()  # labelled by sorted folder name
        order = {name: index for index, name in enumerate(self.CLASSES)}
        stated_label = {label: order[name] for name, label in self.folder_to_idx.items()}
        self.folder_to_idx = {name: order[name] for name in self.folder_to_idx}
        return [(path, stated_label[label]) for path, label in samples]

    def load_data_list(self) -> list[dict]:
        data_list = super().load_data_list()
        source = self.ann_file or self.img_prefix
        if not data_list:
            raise ValueError(f'dataset {source} holds no images')
        if not self.ann_file and not self.allow_empty_classes and self.with_label:
            counts = np.bincount([d['gt_label'] for d in data_list], minlength=len(self.CLASSES))
            empty = [os.path.join(self.img_prefix, str(self.CLASSES[i])) for i in np.flatnonzero(counts == 0)]
            if empty:
                raise ValueError(f'class folder(s) without images: {", ".join(empty)} (remove them, or pass '
                                 f'allow_empty_classes=True to train without those classes)')
        if self.ann_file and self.check_files and '://' not in str(self.img_prefix):
            missing = [d['img_path'] for d in data_list if not os.path.isfile(d['img_path'])]
            if missing:
                raise FileNotFoundError(f'{source} names {len(missing)} image(s) that do not exist, e.g. '
                                        f'{", ".join(missing[:5])}')
        return data_list
