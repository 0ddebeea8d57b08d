"""The official ``MetaMobileNetV2`` (d-li14/SAN ``models/imagenet/meta_mobilenetv2.py``) on timm's ``mobilenetv2_100``.

Read from the official file (width 1.0): ``features.0`` is the stem (``fc`` generating a 3x3/2
convolution 3->32, pad 1, ``bn``, ReLU6); ``features.1..17`` are inverted residual blocks with
the (t, c, n, s) settings (1,16,1,1), (6,24,2,2), (6,32,3,2), (6,64,4,2), (6,96,3,1),
(6,160,3,2), (6,320,1,1): expand ratio 1 is ``fc1`` depthwise 3x3 + ``bn1`` + ReLU6, ``fc2``
1x1 + ``bn2``; otherwise ``fc1`` 1x1 + ``bn1`` + ReLU6, ``fc2`` depthwise 3x3 (stride, pad 1) +
``bn2`` + ReLU6, ``fc3`` 1x1 + ``bn3``; a residual add (no activation after it) when the
stride is 1 and the widths match. ``conv`` is the head (``fc`` 1x1 320->1280, ``bn``, ReLU6),
then global average pooling and the shared ``classifier``. Every convolution is generated.

timm's ``mobilenetv2_100`` is the same network: ``conv_stem``/``bn1`` (ReLU6), a
``DepthwiseSeparableConv`` (``conv_dw``, ``bn1`` ReLU6, ``conv_pw``, ``bn2`` no activation) and
``InvertedResidual`` blocks (``conv_pw``, ``bn1``, ``conv_dw``, ``bn2``, ``conv_pwl``, ``bn3``
without activation), the same channel rounding, symmetric padding 1 for every 3x3, a skip
exactly when the stride is 1 and the widths match, ``conv_head``/``bn2`` (ReLU6) and
``classifier``. So it hosts the official model with nothing excluded.
"""
from __future__ import annotations

import re
from typing import Callable

from torch import nn

_IN_BLOCK = re.compile(r'^blocks\.(\d+)\.(\d+)\.(\w+)$')
_OUTSIDE_BLOCKS = {'conv_stem': 'features.0.fc', 'bn1': 'features.0.bn', 'conv_head': 'conv.fc', 'bn2': 'conv.bn',
                   'classifier': 'classifier'}
# timm layer -> official layer, by block kind: expand ratio 1 (depthwise separable) or inverted residual
_SEPARABLE = {'conv_dw': 'fc1', 'bn1': 'bn1', 'conv_pw': 'fc2', 'bn2': 'bn2'}
_INVERTED = {'conv_pw': 'fc1', 'bn1': 'bn1', 'conv_dw': 'fc2', 'bn2': 'bn2', 'conv_pwl': 'fc3', 'bn3': 'bn3'}


def official_namer(model: nn.Module) -> Callable[[str], str]:
    """Our (timm ``mobilenetv2_100``) module name -> the official module name.

    The official ``features`` index of a block counts the blocks of all stages, after the stem.

    Example:
        >>> official_namer(timm.create_model('mobilenetv2_100'))('blocks.1.1.conv_dw')
        'features.3.fc2'
    """
    first_index = {}
    index = 1
    for stage, blocks in enumerate(model.blocks):
        first_index[stage] = index
        index += len(blocks)

    def official_name(name: str) -> str:
        if name in _OUTSIDE_BLOCKS:
            return _OUTSIDE_BLOCKS[name]
        found = _IN_BLOCK.match(name)
        if found is None:
            raise KeyError(f'{name!r} has no counterpart in the official MobileNetV2')
        stage, block, layer = int(found.group(1)), int(found.group(2)), found.group(3)
        kind = model.blocks[stage][block]
        table = _INVERTED if hasattr(kind, 'conv_pwl') else _SEPARABLE
        if layer not in table:
            raise KeyError(f'{name!r} has no counterpart in the official MobileNetV2')
        return f'features.{first_index[stage] + block}.{table[layer]}'

    return official_name
