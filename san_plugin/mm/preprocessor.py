"""SANDataPreprocessor: one normalised batch per resolution, labels once."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.models.utils.batch_augments import CutMix, Mixup, RandomBatchAugment
from mmpretrain.registry import MODELS

from san_plugin.core.scale import validate_resolutions


@MODELS.register_module()
class SANDataPreprocessor(ClsDataPreprocessor):
    """Like ``ClsDataPreprocessor``, but a sample's list of views becomes one batch per view.

    ``ClsDataPreprocessor`` would pad a list of views into one batch, which is wrong
    here. With multi-view samples (from ``MultiResolution``) the output ``inputs`` is a
    list of ``(N, C, S, S)`` batches, largest first; labels are processed once. Mixup and
    CutMix apply one permutation and one lambda to every view (CutMix's box is scaled
    to each view). Single-view samples are handled exactly as by ``ClsDataPreprocessor``.

    Args:
        resize_on_device: the pipeline emits only the largest view
            (``MultiResolution(largest_only=True)``) and the smaller ones are made here,
            antialiased bicubic, on the model's device.
        resolutions: the training resolutions (needed with ``resize_on_device``).
        **kwargs: ``ClsDataPreprocessor`` arguments (mean, std, to_rgb, batch_augments...).

    Example:
        >>> data_preprocessor = dict(type='SANDataPreprocessor', mean=[123.675, 116.28, 103.53],
        ...                          std=[58.395, 57.12, 57.375], to_rgb=True)
    """

    def __init__(self, resize_on_device: bool = False, resolutions: Iterable[int] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.resize_on_device = resize_on_device
        self.resolutions = None if resolutions is None else validate_resolutions(resolutions)
        if resize_on_device and self.resolutions is None:
            raise ValueError('SANDataPreprocessor(resize_on_device=True) needs resolutions=[...]')

    def forward(self, data: dict, training: bool = False) -> dict:
        views = split_views(data['inputs'])
        if views is None:
            return super().forward(data, training)
        batch_augments, self.batch_augments = self.batch_augments, None
        try:  # labels (and every view but the first) go through the parent once, unmixed
            first = super().forward({'inputs': views[0], 'data_samples': data.get('data_samples')}, training)
        finally:
            self.batch_augments = batch_augments
        views = [first['inputs']] + [self._normalise(self.cast_data(v)) for v in views[1:]]
        if self.resize_on_device:
            views = self._resize_views(views[0])
        samples = first['data_samples']
        if training and self.batch_augments is not None and samples and 'gt_score' in samples[0]:
            scores = torch.stack([s.gt_score for s in samples])
            views, scores = mix_views(self.batch_augments, views, scores)
            for sample, score in zip(samples, scores):
                sample.set_gt_score(score)
        return {'inputs': views, 'data_samples': samples}

    def _normalise(self, batch: torch.Tensor) -> torch.Tensor:
        if self.to_rgb and batch.size(1) == 3:
            batch = batch.flip(1)
        batch = batch.float()
        return (batch - self.mean) / self.std if self._enable_normalize else batch

    def _resize_views(self, largest: torch.Tensor) -> list[torch.Tensor]:
        size = largest.shape[-1]
        if size != self.resolutions[0]:
            raise ValueError(f'resize_on_device expects the largest view at {self.resolutions[0]} px, got {size} px')
        return [largest] + [F.interpolate(largest, size=(s, s), mode='bicubic', antialias=True, align_corners=False)
                            for s in self.resolutions[1:]]


def split_views(inputs) -> list[torch.Tensor] | None:
    """One ``(N, C, S, S)`` batch per view, or None for single-view inputs.

    ``pseudo_collate`` gives a list (samples) of lists (views) of ``(C, S, S)`` tensors;
    ``default_collate`` (MMPretrain's tools) already gives a list (views) of batches.
    """
    if not isinstance(inputs, (list, tuple)) or not inputs:
        return None
    if isinstance(inputs[0], (list, tuple)):
        return [torch.stack([sample[i] for sample in inputs]) for i in range(len(inputs[0]))]
    if isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
        return list(inputs)
    return None


def mix_views(augments, views: Sequence[torch.Tensor], scores: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Applies one batch augment, with one random draw, to every view.

    Args:
        augments: a ``RandomBatchAugment`` (or a single ``Mixup``/``CutMix``).
        views: batches of the same images at several resolutions, largest first.
        scores: one-hot/soft labels ``(N, num_classes)``.
    """
    augment = augments
    if isinstance(augments, RandomBatchAugment):
        augment = augments.augments[np.random.choice(len(augments.augments), p=augments.probs)]
    if augment is None:
        return list(views), scores
    if not isinstance(augment, Mixup):  # CutMix subclasses Mixup
        raise NotImplementedError(f'{type(augment).__name__} is not supported with multi-resolution views; '
                                  f'use Mixup or CutMix')
    lam = np.random.beta(augment.alpha, augment.alpha)
    index = torch.randperm(scores.size(0))
    if isinstance(augment, CutMix):
        largest = views[0].shape[-1]
        (top, bottom, left, right), lam = augment.cutmix_bbox_and_lam(views[0].shape[-2:], lam)
        mixed = []
        for view in views:
            k = view.shape[-1] / largest
            t, b, l, r = (int(round(v * k)) for v in (top, bottom, left, right))
            view = view.clone()
            view[:, :, t:b, l:r] = view[index, :, t:b, l:r]
            mixed.append(view)
    else:
        mixed = [lam * view + (1 - lam) * view[index] for view in views]
    return mixed, lam * scores + (1 - lam) * scores[index]
