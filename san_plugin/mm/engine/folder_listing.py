"""Listing a split's class folders: what ``CustomDataset`` labels, without reading an image."""
from __future__ import annotations

import os
from typing import Callable, Sequence


def class_folders(root: str) -> list[str]:
    """The class folders of a split: every sub-folder of ``root`` (hidden ones too), sorted; what
    ``CustomDataset`` labels, in its order."""
    with os.scandir(root) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir())


def holds_an_image(folder: str, is_image: Callable[[str], bool]) -> bool:
    """Whether ``folder`` or a folder below it holds a file ``is_image`` accepts (stops at the first)."""
    below = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file() and not entry.name.startswith('.') and is_image(entry.name):
                return True
            if entry.is_dir():
                below.append(entry.path)
    return any(holds_an_image(path, is_image) for path in below)


def folder_differences(folders: Sequence[str], classes: Sequence[str], root: str) -> list[str]:
    """What keeps the class folders under ``root`` from being exactly ``classes``, one phrase per kind."""
    missing = [os.path.join(root, name) for name in classes if name not in set(folders)]
    extra = [os.path.join(root, name) for name in folders if name not in set(classes)]
    return ([f'class folder(s) missing: {", ".join(missing)}'] if missing else []) + (
        [f'class folder(s) not in the class list: {", ".join(extra)}'] if extra else [])
