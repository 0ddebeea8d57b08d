"""Data transforms that make one view per resolution from one decoded image."""
from __future__ import annotations

import copy
from typing import Iterable, Sequence

import mmcv
import numpy as np
from mmcv.image.geometric import pillow_interp_codes
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from PIL import Image

from san_plugin.core.scale import validate_resolutions
from san_plugin.evaluation.test_crop import TEST_CROP_RATIO

SHORT_SIDE_ROUNDING = ('round', 'floor')


def given_resolutions(resolutions: Iterable[int] | None, owner: str) -> tuple[int, ...]:
    """``resolutions`` validated, largest first, or an error saying where a config's come from."""
    if resolutions is None:
        raise ValueError(f"{owner} got no resolutions. A config states them once, in model.san.resolutions, "
                         f"and SANRunner (runner_type='SANRunner', what MMPretrain's and our tools build) "
                         f"fills them in; built by hand, pass resolutions=[...]")
    return validate_resolutions(resolutions, f'{owner} resolutions')


def eval_resize_steps(resolution: int, crop_ratio: float = TEST_CROP_RATIO, backend: str = 'pillow',
                      interpolation: str = 'bicubic', rounding: str = 'round') -> list[dict]:
    """The standard evaluation steps at one resolution: resize the short side to
    ``S / crop_ratio``, center-crop ``S`` (antialiased by the pillow backend).

    ``rounding='floor'`` truncates ``S / crop_ratio`` as torchvision's ``Resize(int(S / 0.875))``
    of the official SAN code does (160 px: 182, not 183). A config can set these options for
    ``tools/test.py --resolution`` and the sweeps with a top-level
    ``eval_resize = dict(interpolation='bilinear', rounding='floor')``.
    """
    if rounding not in SHORT_SIDE_ROUNDING:
        raise ValueError(f'rounding must be one of {SHORT_SIDE_ROUNDING}, got {rounding!r}')
    short = resolution / crop_ratio
    return [
        dict(type='ResizeEdge', scale=int(short) if rounding == 'floor' else int(round(short)), edge='short',
             backend=backend, interpolation=interpolation),
        dict(type='CenterCrop', crop_size=resolution),
    ]


@TRANSFORMS.register_module()
class MultiResolution(BaseTransform):
    """One RandomResizedCrop and one flip, a view of that crop at every training resolution.

    The image is decoded once (by the preceding ``LoadImageFromFile``), cropped once
    with RandomResizedCrop, resized, and flipped (or not) once for all views.
    ``results['img']`` becomes the list of views, largest first.

    **The paper's recipe and ours.** The official SAN code resizes every view from the
    crop with PIL *bilinear* and flips each view independently. ``views_from='crop'``
    (this transform's default) resizes every view from the crop too, with ``backend``
    bicubic (antialiased with pillow), and shares one flip. The two other modes are our
    faster variants, not the paper's (the ImageNet configs use ``largest_only``):

    - ``views_from='largest'``: one antialiased resize of the crop to the largest
      resolution, the smaller views made from that view with OpenCV (not antialiased).
    - ``largest_only=True``: only the largest view is made here; the smaller ones are
      made on the model's device by ``SANDataPreprocessor(resize_on_device=True)``
      (antialiased bicubic, from the largest view). The worker's work is that of a
      single-view ``RandomResizedCrop`` + ``RandomFlip`` loader.

    Their smaller views are resizes of a resize, so their pixels differ from views made
    from the crop; ``benchmarks/results/perf_cpu.md`` (figure 9) gives the mean absolute
    difference per resolution and the loader throughput of each mode.

    The flip is applied to the resized views (cheaper than flipping the crop; resizing
    commutes with a horizontal flip up to rounding); like ``RandomFlip``, a flipped view
    is a mirrored numpy view, copied once by ``PackInputs``. With the pillow backend the
    crop becomes one PIL image that every view is resized from.

    Args:
        resolutions: training resolutions (in a config: filled from ``model.san.resolutions``).
        crop_ratio_range: area range of the crop, as in ``RandomResizedCrop``.
        aspect_ratio_range: aspect-ratio range of the crop.
        flip_prob: probability of a horizontal flip shared by all views.
        largest_only: emit only the largest view (a list of one), see above; it takes
            precedence over ``views_from``.
        views_from: ``'crop'`` (default) or ``'largest'``, see above.
        interpolation, backend: as in ``mmcv.imresize``.

    Example:
        >>> model = dict(type='SANClassifier', san=dict(resolutions=[224, 192, 160, 128, 96]), ...)
        >>> train_pipeline = [  # the resolutions are filled from model.san.resolutions
        ...     dict(type='LoadImageFromFile'),
        ...     dict(type='MultiResolution', largest_only=True),
        ...     dict(type='PackInputs')]
        >>> data_preprocessor = dict(type='SANDataPreprocessor', resize_on_device=True,
        ...                          mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
    """

    VIEW_SOURCES = ('crop', 'largest')

    def __init__(self, resolutions: Iterable[int] | None = None, crop_ratio_range: tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: tuple[float, float] = (3. / 4., 4. / 3.), flip_prob: float = 0.5,
                 largest_only: bool = False, interpolation: str = 'bicubic', backend: str = 'pillow',
                 views_from: str = 'crop') -> None:
        self.resolutions = given_resolutions(resolutions, 'MultiResolution')
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
        crop = img[top:top + height, left:left + width]
        sizes = self.resolutions[:1] if self.largest_only else self.resolutions
        if self.views_from == 'largest' and not self.largest_only:
            views = self._resize_all(crop, sizes[:1])
            views += [mmcv.imresize(views[0], (s, s), interpolation=self.interpolation, backend='cv2')
                      for s in sizes[1:]]
        else:
            views = self._resize_all(crop, sizes)
        if self._flip():  # views, as RandomFlip gives: PackInputs makes its one copy from them
            views = [v[:, ::-1] for v in views]
        results['img'] = views
        results['img_shape'] = views[0].shape[:2]
        results['resolutions'] = list(sizes)
        return results

    def _resize_all(self, crop: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
        """``crop`` resized to every size with ``backend`` (pillow: one PIL image, one copy of the crop)."""
        if self.backend != 'pillow':
            return [mmcv.imresize(crop, (s, s), interpolation=self.interpolation, backend=self.backend)
                    for s in sizes]
        source = Image.fromarray(crop)  # what mmcv.imresize does per call; done once here
        method = pillow_interp_codes[self.interpolation]
        return [np.array(source.resize((s, s), method)) for s in sizes]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(resolutions={self.resolutions}, crop_ratio_range='
                f'{self.crop.crop_ratio_range}, flip_prob={self.flip_prob}, largest_only={self.largest_only}, '
                f'views_from={self.views_from!r})')


@TRANSFORMS.register_module()
class MultiResolutionTest(BaseTransform):
    """The standard evaluation crop at several resolutions, from one decoded image.

    Each view is exactly what the single-resolution test pipeline (``ResizeEdge`` to
    ``S / crop_ratio`` + ``CenterCrop(S)``) produces, so one validation pass can report
    every resolution. In a config ``resolutions`` is left out: the training resolutions
    (``model.san.resolutions``) are filled in.

    Example:
        >>> dict(type='MultiResolutionTest', resolutions=[224, 160, 96])
    """

    def __init__(self, resolutions: Iterable[int] | None = None, crop_ratio: float = TEST_CROP_RATIO,
                 backend: str = 'pillow', interpolation: str = 'bicubic', rounding: str = 'round') -> None:
        self.resolutions = given_resolutions(resolutions, 'MultiResolutionTest')
        self.steps = {s: Compose([TRANSFORMS.build(step)
                                  for step in eval_resize_steps(s, crop_ratio, backend, interpolation, rounding)])
                      for s in self.resolutions}

    def transform(self, results: dict) -> dict:
        views = [self.steps[s](copy.copy(results))['img'] for s in self.resolutions]
        results['img'] = views
        results['img_shape'] = views[0].shape[:2]
        results['resolutions'] = list(self.resolutions)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(resolutions={self.resolutions})'
