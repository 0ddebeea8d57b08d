"""Data transforms that make one view per resolution from one decoded image."""
from __future__ import annotations

import copy
from typing import Iterable, Sequence

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS

from san_plugin.core.scale import validate_resolutions

TEST_CROP_RATIO = 0.875


def eval_resize_steps(resolution: int, crop_ratio: float = TEST_CROP_RATIO, backend: str = 'pillow',
                      interpolation: str = 'bicubic') -> list[dict]:
    """The standard evaluation steps at one resolution: resize the short side to
    ``S / crop_ratio``, center-crop ``S`` (antialiased by the pillow backend)."""
    return [
        dict(type='ResizeEdge', scale=int(round(resolution / crop_ratio)), edge='short', backend=backend,
             interpolation=interpolation),
        dict(type='CenterCrop', crop_size=resolution),
    ]


@TRANSFORMS.register_module()
class MultiResolution(BaseTransform):
    """One RandomResizedCrop and one flip, resized to every training resolution.

    The image is decoded once (by the preceding ``LoadImageFromFile``), cropped once
    with the paper's RandomResizedCrop settings, flipped (or not) once, then the crop
    is resized to each resolution (antialiased with the pillow backend).
    ``results['img']`` becomes the list of views, largest first.

    ``views_from`` picks the source of the smaller views: ``'crop'`` resizes each view
    from the crop itself with ``backend`` (no resize of a resize); ``'largest'`` resizes
    the crop once to the largest resolution with ``backend`` and makes every smaller
    view from that view with OpenCV's ``interpolation`` (not antialiased, like the
    paper's code, which interpolates the largest batch down). ``'largest'`` costs about
    one antialiased resize instead of one per resolution (figure 3 of
    ``benchmarks/results/perf_cpu.md``); the smaller views' pixels differ, and a set
    whose smallest resolution is under half the largest aliases more.

    Args:
        resolutions: training resolutions.
        crop_ratio_range: area range of the crop, as in ``RandomResizedCrop``.
        aspect_ratio_range: aspect-ratio range of the crop.
        flip_prob: probability of a horizontal flip shared by all views.
        largest_only: emit only the largest view (the preprocessor makes the others on
            the device, see ``SANDataPreprocessor(resize_on_device=True)``).
        views_from: ``'crop'`` (default) or ``'largest'``, see above.
        interpolation, backend: as in ``mmcv.imresize``.

    Example:
        >>> pipeline = [dict(type='LoadImageFromFile'),
        ...             dict(type='MultiResolution', resolutions=[224, 192, 160, 128, 96]),
        ...             dict(type='PackInputs')]
    """

    VIEW_SOURCES = ('crop', 'largest')

    def __init__(self, resolutions: Iterable[int], crop_ratio_range: tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: tuple[float, float] = (3. / 4., 4. / 3.), flip_prob: float = 0.5,
                 largest_only: bool = False, interpolation: str = 'bicubic', backend: str = 'pillow',
                 views_from: str = 'crop') -> None:
        self.resolutions = validate_resolutions(resolutions, 'MultiResolution resolutions')
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f'flip_prob must be in [0, 1], got {flip_prob}')
        if views_from not in self.VIEW_SOURCES:
            raise ValueError(f'MultiResolution views_from must be one of {self.VIEW_SOURCES}, got {views_from!r}')
        self.views_from = views_from
        self.crop = RandomResizedCrop(self.resolutions[0], crop_ratio_range=crop_ratio_range,
                                      aspect_ratio_range=aspect_ratio_range, interpolation=interpolation,
                                      backend=backend)
        self.flip_prob = flip_prob
        self.largest_only = largest_only
        self.interpolation = interpolation
        self.backend = backend

    @cache_randomness
    def _flip(self) -> bool:
        return bool(np.random.rand() < self.flip_prob)

    def transform(self, results: dict) -> dict:
        img = results['img']
        top, left, height, width = self.crop.rand_crop_params(img)
        crop = mmcv.imcrop(img, np.array([left, top, left + width - 1, top + height - 1]))
        sizes = self.resolutions[:1] if self.largest_only else self.resolutions
        if self.views_from == 'largest':  # flip the (smaller) largest view, not the crop
            views = [self._resize(crop, sizes[0], self.backend)]
            if self._flip():
                views[0] = np.ascontiguousarray(mmcv.imflip(views[0], 'horizontal'))
            views += [self._resize(views[0], s, 'cv2') for s in sizes[1:]]
        else:
            if self._flip():
                crop = mmcv.imflip(crop, 'horizontal')
            views = [self._resize(crop, s, self.backend) for s in sizes]
        results['img'] = views
        results['img_shape'] = results['img'][0].shape[:2]
        results['resolutions'] = list(sizes)
        return results

    def _resize(self, img: np.ndarray, size: int, backend: str) -> np.ndarray:
        return mmcv.imresize(img, (size, size), interpolation=self.interpolation, backend=backend)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(resolutions={self.resolutions}, crop_ratio_range='
                f'{self.crop.crop_ratio_range}, flip_prob={self.flip_prob}, largest_only={self.largest_only}, '
                f'views_from={self.views_from!r})')


@TRANSFORMS.register_module()
class MultiResolutionTest(BaseTransform):
    """The standard evaluation crop at several resolutions, from one decoded image.

    Each view is exactly what the single-resolution test pipeline (``ResizeEdge`` to
    ``S / crop_ratio`` + ``CenterCrop(S)``) produces, so one validation pass can report
    every resolution.

    Example:
        >>> dict(type='MultiResolutionTest', resolutions=[224, 160, 96])
    """

    def __init__(self, resolutions: Iterable[int], crop_ratio: float = TEST_CROP_RATIO, backend: str = 'pillow',
                 interpolation: str = 'bicubic') -> None:
        self.resolutions = validate_resolutions(resolutions, 'MultiResolutionTest resolutions')
        self.steps = {s: Compose([TRANSFORMS.build(step) for step in eval_resize_steps(s, crop_ratio, backend, interpolation)])
                      for s in self.resolutions}

    def transform(self, results: dict) -> dict:
        views = [self.steps[s](copy.copy(results))['img'] for s in self.resolutions]
        results['img'] = views
        results['img_shape'] = views[0].shape[:2]
        results['resolutions'] = list(self.resolutions)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(resolutions={self.resolutions})'
