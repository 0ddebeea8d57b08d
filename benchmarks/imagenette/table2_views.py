"""The inputs of the Table 2 script: test views of the validation images and calibration crops of training images.

A :class:`View` says how one input is made from a decoded validation image: the short side resized to
``short`` (pillow bicubic, antialiased), the centre ``crop`` x ``crop``, then either resized to
``size`` (pillow bicubic) or zero-padded to ``size`` after normalisation (the mean colour around it).
The standard test crop at T is ``View(round(T / 0.875), T, T)``, pixel for pixel what
``MultiResolutionTest`` gives evaluate.py. :class:`ViewMaker` makes every view an evaluation needs from
one decode of each image.

Calibration images (:func:`calibration_set`) are N training images drawn once with a seed, each
cropped once and resized to every test size (the training transform's crop, or the test crop on
training images), with a per-image seed so every row and every size sees the same crops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

FITS = ('resize', 'pad')
ROUNDINGS = ('round', 'floor', 'ceil')
MULTIPLES = (8, 16, 32)
CALIBRATION_CROPS = ('train', 'test')


def crop_ratio() -> float:
    """The standard test crop's ratio (0.875), from the one place it is stated."""
    from san_plugin.mm.transforms import TEST_CROP_RATIO
    return TEST_CROP_RATIO


def short_side(size: int, rounding: str = 'round') -> int:
    """The short side the test crop of ``size`` resizes to: ``size / 0.875`` rounded (the standard test
    crop and ``MultiResolutionTest``), floored (torchvision's ``int()``) or rounded up.

    Example:
        >>> short_side(44), short_side(44, 'floor'), short_side(44, 'ceil')
        (50, 50, 51)
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f'rounding must be one of {ROUNDINGS}, got {rounding!r}')
    if rounding == 'ceil':
        return math.ceil(size / crop_ratio())
    from san_plugin.mm.transforms import eval_resize_steps
    return int(eval_resize_steps(size, crop_ratio(), rounding=rounding)[0]['scale'])


@dataclass(frozen=True, order=True)
class View:
    """One input made from a decoded image: short side to ``short``, centre crop ``crop``, then
    ``fit`` to ``size`` (``'resize'``: pillow bicubic; ``'pad'``: zeros around it after normalisation).

    Example:
        >>> View.standard(44)
        View(short=50, crop=44, size=44, fit='resize')
        >>> View.standard(44).resized(48).key
        's50c44r48'
    """

    short: int
    crop: int
    size: int
    fit: str = 'resize'

    def __post_init__(self) -> None:
        if self.fit not in FITS:
            raise ValueError(f'View fit must be one of {FITS}, got {self.fit!r}')
        if not 0 < self.crop <= self.short:
            raise ValueError(f'a {self.crop} px centre crop does not fit a short side of {self.short} px')
        if self.fit == 'pad' and self.size < self.crop:
            raise ValueError(f'cannot pad a {self.crop} px crop to {self.size} px')

    @classmethod
    def standard(cls, size: int, rounding: str = 'round') -> 'View':
        """The test crop at ``size`` (short side ``size / 0.875`` rounded as ``rounding`` says)."""
        return cls(short_side(size, rounding), size, size)

    def resized(self, size: int) -> 'View':
        """This view's crop resized to ``size``."""
        return View(self.short, self.crop, size, 'resize')

    def padded(self, size: int) -> 'View':
        """This view's crop in the middle of a ``size`` canvas of the mean colour."""
        return View(self.short, self.crop, size, 'pad')

    @property
    def key(self) -> str:
        """A short name: ``s50c44`` (no resize), ``s50c44r48``, ``s50c44p48``."""
        tail = '' if self.size == self.crop else f'{self.fit[0]}{self.size}'
        return f's{self.short}c{self.crop}{tail}'

    @property
    def pixels(self) -> tuple[int, int, int]:
        """What the loader makes for it: ``(short, crop, size)``; a padded view's crop is padded later."""
        return (self.short, self.crop, self.size if self.fit == 'resize' else self.crop)

    def describe(self) -> str:
        text = f'short side {self.short}, centre {self.crop}'
        if self.size != self.crop:
            text += f', {"resized" if self.fit == "resize" else "zero-padded"} to {self.size}'
        return text


class ViewMaker:
    """A pipeline step after ``LoadImageFromFile``: ``results['img']`` becomes the list of arrays that
    ``pixels`` names (each ``(short, crop, size)``), every resize and crop done once per image.

    The resize and crop are mmpretrain's ``ResizeEdge`` (pillow, bicubic) and mmcv's ``CenterCrop``, the
    steps of the standard test pipeline; a further resize is ``mmcv.imresize`` with pillow bicubic.

    Example:
        >>> maker = ViewMaker([View.standard(48).pixels, View.standard(44).resized(48).pixels])
    """

    def __init__(self, pixels: Sequence[tuple[int, int, int]]) -> None:
        self.pixels = list(pixels)

    def __call__(self, results: dict) -> dict:
        import mmcv
        from mmpretrain.registry import TRANSFORMS
        image = results['img']
        resized: dict[int, np.ndarray] = {}
        crops: dict[tuple[int, int], np.ndarray] = {}
        views = []
        for short, crop, size in self.pixels:
            if short not in resized:
                step = TRANSFORMS.build(dict(type='ResizeEdge', scale=short, edge='short', backend='pillow',
                                             interpolation='bicubic'))
                resized[short] = step(dict(img=image, img_shape=image.shape[:2]))['img']
            if (short, crop) not in crops:
                step = TRANSFORMS.build(dict(type='CenterCrop', crop_size=crop))
                crops[short, crop] = step(dict(img=resized[short], img_shape=resized[short].shape[:2]))['img']
            view = crops[short, crop]
            if size != crop:
                view = mmcv.imresize(view, (size, size), interpolation='bicubic', backend='pillow')
            views.append(np.ascontiguousarray(view))
        results['img'] = views
        return results


def fit_view(x: torch.Tensor, view: View) -> torch.Tensor:
    """The model input of ``view`` from its normalised loader array ``x`` (a padded view: zeros around)."""
    if view.fit != 'pad' or view.size == view.crop:
        return x
    before = (view.size - view.crop) // 2
    after = view.size - view.crop - before
    return torch.nn.functional.pad(x, (before, after, before, after))


def nearest_multiples(size: int, multiples: Iterable[int] = MULTIPLES) -> list[int]:
    """The nearest multiple of each of ``multiples`` to ``size`` (both neighbours on a tie), without
    ``size`` itself, largest first.

    Example:
        >>> nearest_multiples(44)
        [48, 40, 32]
    """
    found = set()
    for m in multiples:
        below, above = (size // m) * m, -(-size // m) * m
        for candidate in (below, above):
            if candidate > 0 and abs(candidate - size) == min(abs(below - size), abs(above - size)):
                found.add(candidate)
    found.discard(size)
    return sorted(found, reverse=True)


def crop_variants(size: int) -> dict[str, View]:
    """The test crops tried at ``size``: the standard one; its short side floored or rounded up; and,
    for each nearest multiple M of 8/16/32, the standard crop at M resized to ``size`` (the same field
    of view, other pixels) and the centre ``size`` crop of M's short side (another field of view).

    Example:
        >>> list(crop_variants(44))[:3]
        ['standard (round)', 'short side floored', 'short side rounded up']
    """
    variants = {'standard (round)': View.standard(size), 'short side floored': View.standard(size, 'floor'),
                'short side rounded up': View.standard(size, 'ceil')}
    for multiple in nearest_multiples(size):
        variants[f'crop of {multiple} resized to {size}'] = View.standard(multiple).resized(size)
        short = short_side(multiple)
        if short >= size:
            variants[f'centre {size} of the short side for {multiple}'] = View(short, size, size)
    return variants


# -- calibration images -------------------------------------------------------------------
def calibration_step(cfg, sizes: Sequence[int], crop: str) -> dict:
    """The pipeline step that makes a training image's calibration views at every size.

    ``crop='train'``: the training transform's crop, read from the config's training pipeline
    (``MultiResolution`` or ``RandomResizedCrop`` + ``RandomFlip``: area and aspect ranges,
    interpolation, flip probability), cropped once and resized to every size (``MultiResolution``,
    views from the crop). ``crop='test'``: the standard test crop at every size (``MultiResolutionTest``).
    """
    if crop not in CALIBRATION_CROPS:
        raise ValueError(f'calibration crop must be one of {CALIBRATION_CROPS}, got {crop!r}')
    if crop == 'test':
        return dict(type='MultiResolutionTest', resolutions=list(sizes), backend='pillow', interpolation='bicubic')
    steps = cfg.train_dataloader.dataset.pipeline
    found = next((s for s in steps if s['type'] in ('MultiResolution', 'RandomResizedCrop')), None)
    if found is None:
        raise ValueError("the config's training pipeline has no MultiResolution or RandomResizedCrop step to take "
                         "the calibration crop from; use the test crop instead")
    if found['type'] == 'MultiResolution':
        interpolation, backend = found.get('interpolation', 'bicubic'), found.get('backend', 'pillow')
        flip = found.get('flip_prob', 0.5)
    else:
        interpolation, backend = found.get('interpolation', 'bilinear'), found.get('backend', 'cv2')
        flip_step = next((s for s in steps if s['type'] == 'RandomFlip'), None)
        flip = 0.0 if flip_step is None else flip_step.get('prob', 0.5)
    return dict(type='MultiResolution', resolutions=list(sizes),
                crop_ratio_range=tuple(found.get('crop_ratio_range', (0.08, 1.0))),
                aspect_ratio_range=tuple(found.get('aspect_ratio_range', (3. / 4., 4. / 3.))),
                flip_prob=flip, interpolation=interpolation, backend=backend, views_from='crop')


class SeededImages(torch.utils.data.Dataset):
    """``dataset[indices[i]]`` with NumPy's global generator seeded by ``(seed, indices[i])`` for the call
    (the crop and flip of mmpretrain's transforms draw from it), the caller's state restored after."""

    def __init__(self, dataset, indices: Sequence[int], seed: int) -> None:
        self.dataset, self.indices, self.seed = dataset, list(indices), seed

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        state = np.random.get_state()
        np.random.seed([self.seed, self.indices[i]])
        try:
            return self.dataset[self.indices[i]]
        finally:
            np.random.set_state(state)


@dataclass
class CalibrationSet:
    """N training images at every size: ``images[T]`` is a uint8 ``(N, T, T, C)`` tensor as the loader
    gives it; ``paths`` are the images' paths relative to the data root, in order."""

    images: dict[int, torch.Tensor]
    paths: list[str]
    step: dict
    decode_wall_s: float


def calibration_set(cfg, sizes: Sequence[int], num_images: int, *, crop: str = 'train', seed: int = 0,
                    num_workers: int = 2) -> CalibrationSet:
    """``num_images`` images of the config's training split (a seeded draw without replacement), each
    decoded once and made into a calibration view at every size (see :func:`calibration_step`).

    Raises:
        ValueError: ``num_images`` is not positive or exceeds the training images.
    """
    import time
    from benchmarks.imagenette.evaluate import collate_views, view_dataset
    sizes = sorted({int(s) for s in sizes}, reverse=True)
    step = calibration_step(cfg, sizes, crop)
    dataset = view_dataset(cfg, step, split='train')
    if not 0 < num_images <= len(dataset):
        raise ValueError(f'--calib-images {num_images}: the training split has {len(dataset)} images')
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:num_images].tolist()
    root = Path(cfg.train_dataloader.dataset.get('data_root') or '.')
    paths = [_relative(dataset.get_data_info(i)['img_path'], root) for i in order]
    loader = torch.utils.data.DataLoader(SeededImages(dataset, order, seed), batch_size=64, shuffle=False,
                                         num_workers=num_workers, collate_fn=collate_views)
    start = time.time()
    parts: dict[int, list[torch.Tensor]] = {s: [] for s in sizes}
    for views, _ in loader:
        for size, view in zip(sizes, views):
            parts[size].append(view)
    images = {s: torch.cat(parts[s]) for s in sizes}
    return CalibrationSet(images, paths, step, round(time.time() - start, 1))


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
