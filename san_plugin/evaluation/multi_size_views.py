"""The standard test crop of one decoded image at several sizes, as a torchvision-style transform."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .test_crop import TEST_CROP_RATIO, center_crop, normalised_batch

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class MultiSizeViews:
    """A PIL image -> ``{size: (C, S, S) float tensor}``: resize the short side to ``S / crop_ratio``,
    centre-crop ``S``, normalise (``mean``/``std`` on the 0..255 scale, RGB), for every size.

    The crops are those of the MMPretrain test pipelines (``ResizeEdge`` + ``CenterCrop``,
    pillow) and of a deployed cascade bundle. With ``torch.utils.data.default_collate`` a
    loader yields ``({size: (N, C, S, S)}, labels)``, what
    :func:`~san_plugin.cascade.collect_probabilities` reads.

    Example:
        >>> dataset = torchvision.datasets.ImageFolder('imagenet/val', transform=MultiSizeViews([224, 160, 96]))
        >>> views, labels = next(iter(torch.utils.data.DataLoader(dataset, batch_size=32)))
        >>> views[160].shape
        torch.Size([32, 3, 160, 160])
    """

    def __init__(self, sizes: Sequence[int], crop_ratio: float = TEST_CROP_RATIO, *, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, interpolation: str = 'bicubic', rounding: str = 'round') -> None:
        self.sizes = sorted({int(s) for s in sizes}, reverse=True)
        self.crop_ratio = crop_ratio
        self.mean, self.std = tuple(mean), tuple(std)
        self.interpolation, self.rounding = interpolation, rounding

    def __call__(self, image: Any) -> dict[int, torch.Tensor]:
        rgb = image.convert('RGB')
        return {size: normalised_batch([center_crop(rgb, size, self.crop_ratio, self.interpolation, self.rounding)],
                                       self.mean, self.std)[0]
                for size in self.sizes}

    def __repr__(self) -> str:
        return f'{type(self).__name__}(sizes={self.sizes}, crop_ratio={self.crop_ratio})'
