"""Tiny generated image datasets in the layouts users have on disk: the one place tests write them.

Every writer makes real JPEG files whose class is a colour cue (learnable in a few steps):

* :func:`write_image_folder`: ``root/{train,val}/<class>/*.JPEG``, the folder layout of
  MMPretrain's ``CustomDataset`` (Imagenette, the demo data).
* :func:`write_imagenet`: MMPretrain's ``ImageNet`` layout as its data preparation guide
  lays it out: ``train/<wnid>/<wnid>_<n>.JPEG``, a flat ``val/ILSVRC2012_val_<n>.JPEG``
  and ``meta/train.txt``, ``meta/val.txt`` (``relative/path label`` per line, labels in
  0..999), images of ImageNet-like sizes such as 500x375.

Test modules import it as ``image_layouts`` (``tests/`` is on ``sys.path`` through its conftest).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

IMAGENET_SIZES = ((500, 375), (375, 500), (500, 333), (640, 480))  # (width, height), as in ImageNet
IMAGENETTE_WNIDS = ('n01440764', 'n02102040')  # tench, English springer (labels 0 and 217 in ImageNet)
IMAGENET_LABELS = {'n01440764': 0, 'n02102040': 217}


def colour_cue_image(label: int, size: tuple[int, int], rng: np.random.Generator, grayscale: bool = False) -> Image.Image:
    """Noise with channel ``label % 3`` raised: a class a tiny network learns in a few steps."""
    width, height = size
    pixels = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
    pixels[..., label % 3] += 150
    image = Image.fromarray(pixels)
    return image.convert('L') if grayscale else image


def write_image_folder(root: Path, classes: Sequence[str] = IMAGENETTE_WNIDS, per_split: dict | None = None,
                       sizes: Sequence[tuple[int, int]] = ((40, 40),), seed: int = 0, grayscale_first: bool = False,
                       extension: str = 'JPEG') -> Path:
    """Writes ``root/<split>/<class>/<class>_<i>.<extension>``; returns ``root``.

    Args:
        classes: class folder names.
        per_split: images per class per split, default ``{'train': 4, 'val': 2}``.
        sizes: ``(width, height)`` cycled over the images of a class.
        grayscale_first: the first image of every class is grayscale (Imagenette has some).
    """
    per_split = per_split or {'train': 4, 'val': 2}
    rng = np.random.default_rng(seed)
    for split, count in per_split.items():
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = colour_cue_image(label, sizes[i % len(sizes)], rng, grayscale=grayscale_first and i == 0)
                image.save(folder / f'{name}_{i}.{extension}')
    return root


def write_imagenet(root: Path, labels: dict[str, int] | None = None, per_split: dict | None = None,
                   sizes: Sequence[tuple[int, int]] = IMAGENET_SIZES, seed: int = 0) -> Path:
    """Writes MMPretrain's ``ImageNet`` layout (``train/``, flat ``val/``, ``meta/*.txt``); returns ``root``.

    Args:
        labels: wnid -> ImageNet label (0..999).
        per_split: images per class per split, default ``{'train': 2, 'val': 2}``.
        sizes: ``(width, height)`` cycled over the images.
    """
    labels = labels or IMAGENET_LABELS
    per_split = per_split or {'train': 2, 'val': 2}
    rng = np.random.default_rng(seed)
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    counter = 0
    for split, count in per_split.items():
        lines = []
        for cue, (wnid, label) in enumerate(labels.items()):
            for i in range(count):
                counter += 1
                if split == 'train':
                    relative = f'{wnid}/{wnid}_{i}.JPEG'
                else:
                    relative = f'ILSVRC2012_val_{counter:08d}.JPEG'
                path = root / split / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                colour_cue_image(cue, sizes[counter % len(sizes)], rng).save(path, quality=90)
                lines.append(f'{relative} {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root
