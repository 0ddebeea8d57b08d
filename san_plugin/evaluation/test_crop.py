"""The standard test crop, stated once: the short side resized to ``S / TEST_CROP_RATIO``, the centre ``S x S``.

Standalone (torch; numpy and PIL when a crop is made): the cascade bundle's runtime embeds this
file; MMPretrain's test pipelines (``san_plugin.mm.transforms``) take their ratio from it.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

TEST_CROP_RATIO = 0.875  # S / the resized short side: 224 px from 256
PIL_FILTERS = {'nearest': 0, 'lanczos': 1, 'bilinear': 2, 'bicubic': 3, 'box': 4, 'hamming': 5}


def center_crop(image: Any, size: int, crop_ratio: float = TEST_CROP_RATIO, interpolation: str = 'bicubic',
                rounding: str = 'round'):
    """The standard test crop of a PIL image as an ``(S, S, C)`` uint8 array: the short side
    resized to ``S / crop_ratio`` (``rounding`` 'round' or 'floor'), the long side in proportion
    (truncated), then the centre ``S x S``: what MMPretrain's ``ResizeEdge`` + ``CenterCrop``
    (pillow backend) and ``san_plugin``'s test pipelines make.

    Example:
        >>> center_crop(Image.open('cat.jpg'), 224).shape
        (224, 224, 3)
    """
    import numpy as np
    if not 0 < crop_ratio <= 1:
        raise ValueError(f'crop_ratio must be in (0, 1], got {crop_ratio}')
    short = size / crop_ratio
    scale = int(short) if rounding == 'floor' else int(round(short))
    width, height = image.size
    if width < height:
        new = (scale, int(scale * height / width))
    else:
        new = (int(scale * width / height), scale)
    resized = np.asarray(image.resize(new, PIL_FILTERS[interpolation]))
    top = max(0, int(round((new[1] - size) / 2.)))
    left = max(0, int(round((new[0] - size) / 2.)))
    return resized[top:top + size, left:left + size]


def normalised_batch(crops: Sequence[Any], mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(N, C, S, S)`` float32 ``(x - mean) / std`` of uint8 ``(S, S, C)`` crops.

    Example:
        >>> normalised_batch([center_crop(image, 224)], (123.7, 116.3, 103.5), (58.4, 57.1, 57.4)).shape
        torch.Size([1, 3, 224, 224])
    """
    import numpy as np
    x = torch.from_numpy(np.stack(list(crops))).permute(0, 3, 1, 2).float()
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
