"""SANDataPreprocessor: one normalised batch per resolution, labels once."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.models.utils.batch_augments import CutMix, Mixup, RandomBatchAugment
from mmpretrain.registry import MODELS

from san_plugin.core.scale import input_resolution, validate_resolutions


@MODELS.register_module()
class SANDataPreprocessor(ClsDataPreprocessor):
    """Like ``ClsDataPreprocessor``, but a sample's list of views becomes one batch per view.

    ``ClsDataPreprocessor`` would pad a list of views into one batch, which is wrong
    here. With multi-view samples (from ``MultiResolution``) the output ``inputs`` is a
    list of ``(N, C, S, S)`` float32 batches, largest first; labels are processed once.
    Every view is copied to the device as it comes from the loader (uint8), cast to
    float once and normalised once (``to_rgb`` flips the channels, as in the parent).
    Mixup and CutMix apply one permutation and one lambda to every view (CutMix's box
    is scaled to each view). Single-view samples are handled exactly as by
    ``ClsDataPreprocessor``.

    With ``resize_on_device=True`` and one view per sample (the pipeline's
    ``MultiResolution(largest_only=True)``), only the largest view crosses to the
    device and the smaller ones are made there, antialiased bicubic, each from the
    largest: in float32 after normalisation on a GPU, or on the CPU in uint8 before
    normalisation (torch's uint8 antialiased kernels run on the CPU only, several times
    faster than float there). Normalisation is affine per channel, so both orders give
    the same views up to the uint8 rounding. Batches with several views per sample
    (e.g. the validation pipeline's ``MultiResolutionTest``) are used as they come.

    Collation: with ``pseudo_collate`` (mmengine's Runner default, e.g. MMPretrain's own
    ``tools/train.py``) the views are stacked here, on the host, one ``torch.stack`` per
    view; with ``default_collate`` (this repository's tools set it) the loader's workers
    stack them, and ``pin_memory=True`` plus ``non_blocking=True`` make the copy
    asynchronous.

    Args:
        resize_on_device: make the smaller views here from the largest, see above.
        resolutions: the training resolutions (needed with ``resize_on_device``; a
            ``SANClassifier`` fills them from its ``san.resolutions``).
        non_blocking: copy to the device with ``non_blocking=True``.
        **kwargs: ``ClsDataPreprocessor`` arguments (mean, std, to_rgb, batch_augments...).

    Example:
        >>> data_preprocessor = dict(type='SANDataPreprocessor', mean=[123.675, 116.28, 103.53],
        ...                          std=[58.395, 57.12, 57.375], to_rgb=True, resize_on_device=True)
    """

    def __init__(self, resize_on_device: bool = False, resolutions: Iterable[int] | None = None,
                 non_blocking: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._non_blocking = non_blocking
        self.resize_on_device = resize_on_device
        self.resolutions = None if resolutions is None else validate_resolutions(resolutions)
        if resize_on_device and self.resolutions is None:
            raise ValueError('SANDataPreprocessor(resize_on_device=True) needs resolutions=[...] (inside a '
                             'SANClassifier they come from its san.resolutions)')

    def forward(self, data: dict, training: bool = False, resolutions: Sequence[int] | None = None) -> dict:
        """The batch of every view (or of ``resolutions`` only: the views a sampled training
        step runs, largest first; the largest view always comes first from the loader)."""
        views = split_views(data['inputs'])
        if views is None:
            return super().forward(data, training)
        if resolutions is not None and len(views) > 1:
            views = [views[0]] + [v for v in views[1:] if input_resolution(v) in set(resolutions)]
        first = self._largest_and_labels(views[0], data.get('data_samples'), training)
        largest = first['inputs']
        if self.resize_on_device and len(views) == 1:
            views = [largest] + self._smaller_views(views[0], largest, resolutions)
        else:
            views = [largest] + [self._normalise(self.cast_data(v)) for v in views[1:]]
        samples = first['data_samples']
        if training and self.batch_augments is not None and samples and 'gt_score' in samples[0]:
            scores = torch.stack([s.gt_score for s in samples])
            views, scores = mix_views(self.batch_augments, views, scores)
            for sample, score in zip(samples, scores):
                sample.set_gt_score(score)
        return {'inputs': views, 'data_samples': samples}

    def _largest_and_labels(self, largest: torch.Tensor, samples, training: bool) -> dict:
        """The parent's processing of the first view and of the labels, without its batch augments."""
        batch_augments, self.batch_augments = self.batch_augments, None
        try:
            return super().forward({'inputs': largest, 'data_samples': samples}, training)
        finally:
            self.batch_augments = batch_augments

    def _normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """Channel flip (``to_rgb``), one cast to float32, ``(x - mean) / std``: what the parent does."""
        if self.to_rgb and batch.size(1) == 3:
            batch = batch.flip(1)
        batch = batch.float()
        return (batch - self.mean).div_(self.std) if self._enable_normalize else batch

    def _smaller_views(self, raw: torch.Tensor, largest: torch.Tensor,
                       wanted: Sequence[int] | None = None) -> list[torch.Tensor]:
        """The smaller training views from the largest, antialiased bicubic.

        Args:
            raw: the largest view as the loader gave it (host memory).
            largest: the same view on the device, normalised.
            wanted: the resolutions to make (None: every training resolution).
        """
        height, width = largest.shape[-2:]
        if (height, width) != (self.resolutions[0], self.resolutions[0]):
            raise ValueError(f'resize_on_device expects the largest view at {self.resolutions[0]} px square, got '
                             f'{height}x{width} px (use MultiResolution(largest_only=True) with the same resolutions)')
        sizes = [s for s in self.resolutions[1:] if wanted is None or s in wanted]
        if raw.dtype == torch.uint8 and raw.device.type == 'cpu' and largest.device.type == 'cpu':
            return [self._normalise(resize_square(raw, s)) for s in sizes]
        return [resize_square(largest, s) for s in sizes]


def resize_square(batch: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, C, H, W)`` to ``(N, C, size, size)``, antialiased bicubic (uint8 stays uint8, rounded and clamped)."""
    return F.interpolate(batch, size=(size, size), mode='bicubic', antialias=True, align_corners=False)


def split_views(inputs) -> list[torch.Tensor] | None:
    """One ``(N, C, S, S)`` batch per view, largest first, or None for single-view inputs.

    ``default_collate`` gives a list (views) of batches. mmengine's ``pseudo_collate``
    transposes each sample's list of views: a list (views) of tuples (samples) of
    ``(C, S, S)`` tensors, stacked here. A list (samples) of lists (views) is accepted too.
    """
    if not isinstance(inputs, (list, tuple)) or not inputs:
        return None
    first = inputs[0]
    if isinstance(first, torch.Tensor):
        return list(inputs) if first.dim() == 4 else None
    if not isinstance(first, (list, tuple)):
        return None
    if _sample_major(inputs):
        inputs = list(zip(*inputs))
    return [torch.stack(list(view)) for view in inputs]


def _sample_major(inputs: Sequence[Sequence[torch.Tensor]]) -> bool:
    """Whether a nested list holds one sequence of views per sample (not one sequence of samples per view).

    A view's samples all have one size; a sample's views differ in size (the resolutions
    are distinct). Left: one tensor per sequence, all of one size = one view per sample.
    """
    if any(len({t.shape for t in seq}) > 1 for seq in inputs):
        return True
    return len(inputs) > 1 and all(len(seq) == 1 for seq in inputs) and len({seq[0].shape for seq in inputs}) == 1


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
    index = torch.randperm(scores.size(0)).to(views[0].device, non_blocking=True)  # one copy for all views
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
        mixed = [view[index].mul_(1 - lam).add_(view, alpha=lam) for view in views]
    return mixed, lam * scores + (1 - lam) * scores[index.to(scores.device)]
